"""Money is integer fen, shown and read as yuan (LED-1)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campuscard.core.money import FenField, format_fen, parse_yuan, yuan


@pytest.mark.parametrize(("fen", "shown"), [
    (0, "¥0.00"),
    (1, "¥0.01"),
    (10, "¥0.10"),
    (100, "¥1.00"),
    (123450, "¥1,234.50"),
    (1234550, "¥12,345.50"),
    (100000000, "¥1,000,000.00"),
    (-5, "-¥0.05"),
    (-123450, "-¥1,234.50"),
])
def test_format_fen_groups_thousands_and_always_shows_two_decimals(fen, shown):
    """LED-1: integer fen rendered as yuan; a negative amount keeps its sign before the symbol."""
    assert format_fen(fen) == shown


def test_format_fen_symbol_can_be_changed_or_dropped():
    assert format_fen(123450, symbol="") == "1,234.50"
    assert format_fen(-250, symbol="CNY ") == "-CNY 2.50"


@pytest.mark.parametrize("amount", [12.5, 0.0, True, False, Decimal("1.00"), "100", None])
def test_format_fen_refuses_anything_but_integer_fen(amount):
    """LED-1: no floats anywhere; bool is an int subclass but never money."""
    with pytest.raises(TypeError):
        format_fen(amount)


@pytest.mark.parametrize(("text", "fen"), [
    ("12.3", 1230),
    ("12.30", 1230),
    ("0.01", 1),
    ("7", 700),
    (" 7 ", 700),
    ("¥1,234.5", 123450),
    ("¥1,234.50", 123450),
    ("￥20", 2000),
    ("-¥1,234.50", -123450),
    ("-0.05", -5),
    (15, 1500),
    (Decimal("0.07"), 7),
    (Decimal("199.99"), 19999),
])
def test_parse_yuan_reads_amounts(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["1.234", "0.001", "¥12.345", Decimal("0.005"), "-1.001"])
def test_parse_yuan_refuses_more_than_two_decimals_instead_of_rounding(text):
    """LED-1: a third decimal would have to be rounded away — refused, never silently rounded."""
    with pytest.raises(ValueError, match="more than two decimals"):
        parse_yuan(text)


@pytest.mark.parametrize("text", [1.5, 0.1, 100.0])
def test_parse_yuan_refuses_floats(text):
    with pytest.raises(TypeError):
        parse_yuan(text)


@pytest.mark.parametrize("text", ["", "   ", "abc", "¥", "12,3.4.5", "1.2.3", "NaN", "Infinity", "-inf", "--5",
                                  "5元", "$5"])
def test_parse_yuan_refuses_garbage(text):
    with pytest.raises(ValueError):
        parse_yuan(text)


def test_yuan_helper_and_field_are_integer_fen():
    assert yuan(200) == 20000
    assert isinstance(yuan(1), int)
    assert FenField().get_internal_type() == "BigIntegerField"


@given(st.integers(min_value=-10**13, max_value=10**13))
def test_format_then_parse_is_the_identity(fen):
    """Every amount shown by format_fen reads back to the same fen, negatives included (LED-1)."""
    assert parse_yuan(format_fen(fen)) == fen
    assert parse_yuan(format_fen(fen, symbol="")) == fen


@given(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_two_decimal_amounts_parse_exactly(amount):
    fen = parse_yuan(str(amount))
    assert isinstance(fen, int)
    assert Decimal(fen) == amount * 100


@given(st.integers(min_value=-10**9, max_value=10**9), st.integers(min_value=1, max_value=9))
def test_a_third_decimal_digit_is_always_refused(cents, third):
    text = f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}{third}"
    with pytest.raises(ValueError):
        parse_yuan(text)
