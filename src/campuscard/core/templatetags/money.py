from django import template

from campuscard.core.money import format_fen

register = template.Library()


@register.filter
def fen(value) -> str:
    """{{ amount|fen }} → ¥1,234.50"""
    if value is None or value == "":
        return ""
    return format_fen(int(value))


@register.filter
def fen_signed(value) -> str:
    """+¥12.00 / -¥3.50 for statements."""
    value = int(value)
    return ("+" if value > 0 else "") + format_fen(value)
