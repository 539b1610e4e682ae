"""The Simplified Chinese catalogue is complete, compiled, and actually used (ARCHITECTURE rule 9).

The .po file is parsed by hand (no polib dependency); the compiled .mo is read with the standard
library's ``gettext`` so a fresh machine without GNU gettext can still run these tests.
"""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.utils import translation

import campuscard
from campuscard.core.errors import REGISTRY

LC_MESSAGES = Path(campuscard.__file__).resolve().parent / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_PATH = LC_MESSAGES / "django.po"
MO_PATH = LC_MESSAGES / "django.mo"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|\{(\w*)\}")


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.msgctxt}\x04{self.msgid}" if self.msgctxt is not None else self.msgid


def parse_po(path: Path) -> list[Entry]:
    """A small PO reader: flags, msgctxt, msgid, msgid_plural, msgstr / msgstr[n]; skips obsolete #~."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None
    pending_flags: set[str] = set()
    seen_msgstr = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if line.startswith("#,"):
                pending_flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            assert current is not None and target is not None, f"{path.name}:{number}: stray string"
            value = ast.literal_eval(line)
        else:
            value = ast.literal_eval(rest)
            if keyword in ("msgctxt", "msgid") and (current is None or seen_msgstr):
                current = Entry(line=number, flags=pending_flags)
                entries.append(current)
                pending_flags, seen_msgstr = set(), False
            assert current is not None, f"{path.name}:{number}: {keyword} before msgid"
            match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
            if keyword == "msgctxt":
                target = ("msgctxt", None)
                current.msgctxt = ""
            elif keyword == "msgid":
                target = ("msgid", None)
            elif keyword == "msgid_plural":
                target = ("msgid_plural", None)
                current.msgid_plural = ""
            elif keyword == "msgstr" or match:
                target = ("msgstr", int(match.group(1)) if match else 0)
                current.msgstr.setdefault(target[1], "")
                seen_msgstr = True
            else:
                raise AssertionError(f"{path.name}:{number}: unknown keyword {keyword!r}")
        name, index = target
        if name == "msgstr":
            current.msgstr[index] += value
        else:
            setattr(current, name, getattr(current, name) + value)
    return entries


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    assert PO_PATH.is_file(), f"missing {PO_PATH}"
    parsed = parse_po(PO_PATH)
    assert parsed and parsed[0].msgid == "", "the catalogue must start with its header entry"
    return parsed


def _messages(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.msgid != ""]


def test_header_declares_chinese_with_one_plural_form(entries):
    header = entries[0]
    assert "fuzzy" not in header.flags
    text = header.msgstr[0]
    assert "Content-Type: text/plain; charset=UTF-8" in text
    assert "Plural-Forms: nplurals=1; plural=0;" in text


def test_every_entry_is_translated_and_not_fuzzy(entries):
    messages = _messages(entries)
    assert len(messages) > 100
    fuzzy = [e.msgid for e in messages if "fuzzy" in e.flags]
    untranslated = [e.msgid for e in messages
                    if not e.msgstr or any(not s.strip() for s in e.msgstr.values())]
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    assert not untranslated, f"untranslated entries: {untranslated}"


def test_plural_entries_have_exactly_one_form(entries):
    for entry in _messages(entries):
        if entry.msgid_plural is not None:
            assert sorted(entry.msgstr) == [0], f"{entry.msgid!r}: Chinese has one plural form"


def test_placeholders_are_kept(entries):
    for entry in _messages(entries):
        wanted = sorted(PLACEHOLDER.findall(entry.msgid))
        for text in entry.msgstr.values():
            assert sorted(PLACEHOLDER.findall(text)) == wanted, f"placeholders differ in {entry.msgid!r}"


def test_compiled_catalogue_matches_the_po_file(entries):
    assert MO_PATH.is_file(), "run `campuscard compilemessages` and commit django.mo"
    with MO_PATH.open("rb") as stream:
        compiled = gettext.GNUTranslations(stream)
    assert compiled.info().get("plural-forms", "").startswith("nplurals=1")
    stale = []
    for entry in _messages(entries):
        if entry.msgid_plural is not None:
            got = (compiled.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, 1)
                   if entry.msgctxt is not None else compiled.ngettext(entry.msgid, entry.msgid_plural, 1))
        elif entry.msgctxt is not None:
            got = compiled.pgettext(entry.msgctxt, entry.msgid)
        else:
            got = compiled.gettext(entry.msgid)
        if got != entry.msgstr[0]:
            stale.append(entry.msgid)
    assert not stale, f"django.mo is older than django.po (recompile): {stale}"


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_every_error_code_has_a_chinese_message(code):
    message = REGISTRY[code].message
    with translation.override("en"):
        english = str(message)
    with translation.override("zh-hans"):
        chinese = str(message)
    assert chinese != english, f"error code {code!r} is not translated: {english!r}"
    assert re.search(r"[\u4e00-\u9fff]", chinese), f"{code!r}: {chinese!r} has no Chinese text"
    assert sorted(PLACEHOLDER.findall(chinese)) == sorted(PLACEHOLDER.findall(english))


@pytest.mark.django_db
def test_portal_login_page_is_chinese_without_a_cookie(client, institution):
    client.cookies.clear()
    response = client.get("/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain and "/login/" in response.redirect_chain[-1][0]
    assert response.headers["Content-Language"] == "zh-hans"
    html = response.content.decode()
    with translation.override("zh-hans"):
        log_in = translation.gettext("Log in")
    assert log_in == "登录"
    assert f"<title>{log_in} · CampusCard</title>" in html
    assert f">{log_in}</button>" in html
    assert "首次登录" in html  # the initial-password hint (ID-3)
    assert "Log in" not in html
    assert "Student / staff number" not in html
