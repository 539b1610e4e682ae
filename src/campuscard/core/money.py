"""Money is an integer number of fen (¥0.01) in CNY (LED-1). No floats anywhere."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import models

FEN_PER_YUAN = 100


def format_fen(fen: int, *, symbol: str = "¥") -> str:
    """1234550 → '¥12,345.50'; negative amounts keep their sign before the symbol."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise TypeError(f"money must be integer fen, got {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{symbol}{yuan:,}.{cents:02d}"


def parse_yuan(text: str | int | Decimal) -> int:
    """'12.3' → 1230 fen. Refuses more than two decimals instead of rounding money silently.

    Reads back what ``format_fen`` writes, including negatives ('-¥1,234.50').
    """
    if isinstance(text, float):
        raise TypeError("money must not be a float")
    raw = str(text).strip().replace(",", "")
    sign = raw[0] if raw[:1] in ("-", "+") else ""
    raw = raw[len(sign):].strip()
    raw = raw[1:] if raw[:1] in ("¥", "￥") else raw  # ¥ or the full-width ￥
    try:
        value = Decimal(sign + raw)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    fen = value * FEN_PER_YUAN
    if fen != fen.to_integral_value(rounding=ROUND_HALF_UP):
        raise ValueError(f"more than two decimals: {text!r}")
    return int(fen)


def yuan(amount: int) -> int:
    """Readable constants: ``yuan(200)`` is 20000 fen."""
    return amount * FEN_PER_YUAN


class FenField(models.BigIntegerField):
    """An amount in integer fen; the column is a plain BIGINT so SUMs are exact."""

    description = "amount in fen (CNY 0.01)"


def is_fen(value: object) -> bool:
    """A money amount is a plain integer of fen: not a bool (``True`` is no 1 fen), a float or a string."""
    return type(value) is int
