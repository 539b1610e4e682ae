"""Inline SVG icons for every page: `{% load icons %}{% icon "check" %}` (#17 item 6).

Never an emoji or a symbol character as an icon: with the fonts the README installs (fonts-noto-cjk) many
render as empty boxes. Each icon is drawn on a 24×24 grid with `currentColor`, sized 1em by default, and
hidden from screen readers (the text next to it says what it means).
"""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

PATHS = {
    "check": '<path d="M5 12.5l4.5 4.5L19 7.5"/>',
    "cross": '<path d="M6 6l12 12M18 6L6 18"/>',
    "lock": '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>',
    "camera": '<path d="M4 7h3l2-3h6l2 3h3a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1z"/>'
              '<circle cx="12" cy="13" r="4"/>',
    "backspace": '<path d="M9 5h11a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H9l-6-7z"/><path d="M12 9l6 6M18 9l-6 6"/>',
    "download": '<path d="M12 4v11M7 10l5 5 5-5M5 20h14"/>',
    "dot": '<circle cx="12" cy="12" r="6" fill="currentColor"/>',
    "copy": '<rect x="8" y="8" width="12" height="12" rx="2"/><path d="M16 8V5a1 1 0 0 0-1-1H5a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h3"/>',
    "share": '<circle cx="18" cy="5" r="2.5"/><circle cx="6" cy="12" r="2.5"/><circle cx="18" cy="19" r="2.5"/>'
             '<path d="M8.2 10.8l7.6-4.4M8.2 13.2l7.6 4.4"/>',
    "flag": '<path d="M5 21V4M5 4h11l-2 4 2 4H5"/>',
    "qr": '<path d="M3 3h7v7H3zM14 3h7v7h-7zM3 14h7v7H3z"/><path d="M14 14h3v3h-3zM20 14v3M17 20h4M14 20h1"/>',
}


@register.simple_tag
def icon(name: str, size: str = "1em", css: str = "icon") -> str:
    return format_html(
        '<svg class="{}" viewBox="0 0 24 24" width="{}" height="{}" aria-hidden="true" focusable="false" '
        'fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" '
        'style="vertical-align:-0.125em">{}</svg>', css, size, size, mark_safe(PATHS[name]))  # noqa: S308
