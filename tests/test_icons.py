"""#17 item 6: icons are inline SVG, never emoji or pictographic symbols — with the fonts the README installs
(fonts-noto-cjk) those render as empty boxes. Every template, script and style sheet is checked."""

from __future__ import annotations

import re
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "campuscard"
# emoji and pictographs, dingbats (✓ ✗ ✂ …), miscellaneous symbols (☎ ⚙ …) and technical (⌫ ⏰ …), arrows-in-boxes
PICTOGRAPHS = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\uFE0F]")


def test_no_emoji_or_symbol_glyph_is_used_as_an_icon():
    found = []
    for path in sorted(SOURCE.rglob("*")):
        if path.suffix not in {".html", ".js", ".css", ".txt"} or "locale" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in PICTOGRAPHS.finditer(line):
                found.append(f"{path.relative_to(SOURCE)}:{number}: {match.group()!r}")
    assert not found, "use {% icon %} (core/templatetags/icons.py) instead:\n" + "\n".join(found)
