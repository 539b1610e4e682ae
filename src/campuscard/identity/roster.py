"""Roster import from the registrar and HR (ID-1): CSV or XLSX, all rows or none.

Every bad row is reported with its line number (the header is line 1) and the reason; if any row is
bad, nothing from the file is written. Good files are upserted by student/staff number in one
transaction with bulk statements, so 50,000 rows take seconds (bench/roster_import.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.crypto import blind_index
from campuscard.core.errors import DomainError
from campuscard.core.models import Campus, Institution
from campuscard.identity.documents import IdType, validate_document
from campuscard.identity.models import Person

Progress = Callable[[str, int, int], None]  # (phase, done, total)

SOURCES = {
    "registrar": {
        "required": ["number", "name", "category", "status", "id_number", "campus"],
        "optional": ["id_type", "department", "enrollment_year", "phone", "email", "title"],
    },
    "hr": {
        "required": ["number", "name", "id_number", "campus"],
        "optional": ["id_type", "status", "department", "title", "phone", "email"],
    },
}

HEADER_ALIASES = {
    "学号": "number", "工号": "number", "学工号": "number", "姓名": "name", "类别": "category",
    "学生类别": "category", "学籍状态": "status", "状态": "status", "证件类型": "id_type",
    "证件号码": "id_number", "身份证号": "id_number", "校区": "campus", "院系": "department",
    "部门": "department", "入学年份": "enrollment_year", "手机": "phone", "手机号": "phone",
    "邮箱": "email", "职称": "title", "专业": "title",
}

VALUE_ALIASES: dict[str, dict[str, str]] = {
    "category": {
        "undergraduate": Person.Kind.UNDERGRADUATE, "本科": Person.Kind.UNDERGRADUATE,
        "本科生": Person.Kind.UNDERGRADUATE, "graduate": Person.Kind.GRADUATE, "研究生": Person.Kind.GRADUATE,
        "exchange": Person.Kind.EXCHANGE, "交换生": Person.Kind.EXCHANGE,
    },
    "status": {
        "full_time": Person.Status.FULL_TIME, "全日制": Person.Status.FULL_TIME,
        "part_time": Person.Status.PART_TIME, "非全日制": Person.Status.PART_TIME,
        "suspended": Person.Status.SUSPENDED, "休学": Person.Status.SUSPENDED,
        "graduated": Person.Status.GRADUATED, "毕业": Person.Status.GRADUATED,
        "active": Person.Status.ACTIVE, "在职": Person.Status.ACTIVE,
        "left": Person.Status.LEFT, "离职": Person.Status.LEFT,
    },
    "id_type": {
        "": IdType.RESIDENT, "resident": IdType.RESIDENT, "身份证": IdType.RESIDENT,
        "居民身份证": IdType.RESIDENT, "passport": IdType.PASSPORT, "护照": IdType.PASSPORT,
        "hkmo_permit": IdType.HKMO_PERMIT, "港澳居民来往内地通行证": IdType.HKMO_PERMIT,
        "回乡证": IdType.HKMO_PERMIT, "tw_permit": IdType.TW_PERMIT, "台湾居民来往大陆通行证": IdType.TW_PERMIT,
        "台胞证": IdType.TW_PERMIT, "台湾居民居住证": IdType.TW_PERMIT,
    },
}

WRITTEN_FIELDS = ["name", "kind", "status", "id_type", "id_number", "campus_id", "department", "title",
                  "enrollment_year", "phone", "email", "source"]
INDEX_FIELDS = ["id_number_index", "phone_index"]


@dataclass
class RowError:
    line: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass
class RosterReport:
    source: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    def add(self, error: RowError) -> None:
        """Count every bad cell; keep the first ROSTER_MAX_ERRORS_SHOWN (a huge bad file stays small, #18)."""
        self.error_count += 1
        if len(self.errors) < settings.ROSTER_MAX_ERRORS_SHOWN:
            self.errors.append(error)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "rows": self.rows, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "errors": [e.as_dict() for e in self.errors]}


def read_rows(*, name: str, stream: IO[bytes]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) from CSV (UTF-8 or GB18030) or XLSX, with headers normalised. A file over
    ``ROSTER_MAX_BYTES`` is refused before it is read further (#18 item 9)."""
    data = stream.read(settings.ROSTER_MAX_BYTES + 1)
    if len(data) > settings.ROSTER_MAX_BYTES:
        raise DomainError("roster_too_large", max=f"{settings.ROSTER_MAX_BYTES / 2**20:.0f} MB")
    if name.lower().endswith((".xlsx", ".xlsm")):
        yield from _xlsx_rows(data)
        return
    text = _decoded(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise DomainError("roster_unreadable", reason=_("the file is empty"))
    columns = [_column(h) for h in header]
    try:
        for line, values in enumerate(reader, start=2):
            if any(v.strip() for v in values):
                yield line, _cells(columns, [v.strip() for v in values])
    except csv.Error as exc:  # e.g. a field over the csv module's 131,072 characters (#18 item 9)
        raise DomainError("roster_unreadable", reason=f"line {reader.line_num}: {exc}") from None


# Big5 (Taiwan, Hong Kong) decodes as GB18030 without an error, into other, mostly rare characters: a
# roster read that way would be mojibake. Text whose characters fall outside GB2312's common set (or in
# the private-use area) more than this share of the time is not taken for GB18030 (#18 item 9).
_RARE_SHARE = 0.05


def _decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise DomainError("roster_unreadable", reason=_("not UTF-8 or GB18030 text")) from None
    wide = [c for c in text if ord(c) > 127]
    rare = sum(1 for c in wide if not _common(c))
    if wide and rare / len(wide) > _RARE_SHARE:
        raise DomainError("roster_unreadable", reason=_("not UTF-8 or GB18030 text (Big5? save it as UTF-8)"))
    return text


def _common(char: str) -> bool:
    if "\ue000" <= char <= "\uf8ff":
        return False
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise DomainError("roster_unreadable", reason=str(exc)[:200])
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise DomainError("roster_unreadable", reason=_("the file is empty"))
    columns = [_column(str(h or "")) for h in header]
    for line, values in enumerate(rows, start=2):
        cells = ["" if v is None else str(v).strip() for v in values]
        if any(cells):
            yield line, _cells(columns, cells)


def _cells(columns: list[str], values: list[str]) -> dict[str, str]:
    """A short row gets empty cells for its missing trailing columns, so every row has the header's keys."""
    return dict(zip(columns, values + [""] * (len(columns) - len(values)), strict=False))


def _column(header: str) -> str:
    key = header.strip().lstrip("\ufeff")
    return HEADER_ALIASES.get(key, key.lower().replace(" ", "_"))


def roster_import(*, institution: Institution, source: str, name: str, stream: IO[bytes], actor: Actor,
                  progress: Progress | None = None) -> RosterReport:
    """Validate the whole file, then write it in one transaction — or raise with every bad row."""
    if source not in SOURCES:
        raise DomainError("roster_unknown_source", source=source)
    report = RosterReport(source=source)
    rows = list(read_rows(name=name, stream=stream))
    report.rows = len(rows)
    campuses = {c.code: c.pk for c in Campus.objects.filter(institution=institution)}
    people = _validate(rows, source, campuses, report, progress)
    _check_against_existing(institution, people, source, report)  # the good rows too: every bad row at once
    if report.errors:
        raise DomainError("roster_invalid", count=report.error_count, details=report.as_dict())
    _write(institution, people, report, actor, progress)
    return report


def _validate(rows, source, campuses, report, progress) -> dict[str, tuple[int, dict]]:
    spec = SOURCES[source]
    people: dict[str, tuple[int, dict]] = {}
    documents: dict[tuple[str, str], int] = {}
    total = len(rows)
    if rows:
        missing = [c for c in spec["required"] if c not in rows[0][1]]
        if missing:
            report.add(RowError(1, ",".join(missing), _("missing column(s): %(cols)s")
                                          % {"cols": ", ".join(missing)}))
            return people
    for index, (line, row) in enumerate(rows, start=1):
        record, problems = _row(row, source, campuses)
        for column, message in problems:
            report.add(RowError(line, column, message))
        if record is not None:
            number = record["number"]
            if number in people:
                report.add(RowError(line, "number", _("duplicate number %(n)s (also on line %(l)s)")
                                              % {"n": number, "l": people[number][0]}))
            doc = (record["id_type"], record["id_number"])
            if doc in documents:
                report.add(RowError(line, "id_number", _("the same ID number is on line %(l)s")
                                              % {"l": documents[doc]}))
            people.setdefault(number, (line, record))
            documents.setdefault(doc, line)
        if progress and (index % 1000 == 0 or index == total):
            progress("validate", index, total)
    return people


def _row(row: dict[str, str], source: str, campuses: dict[str, int]):
    problems: list[tuple[str, str]] = []
    spec = SOURCES[source]
    for column in spec["required"]:
        if not row.get(column):
            problems.append((column, _("%(col)s is empty") % {"col": column}))
    if problems:
        return None, problems
    record: dict[str, Any] = {"number": row["number"], "name": row["name"][:100], "source": source,
                              "department": row.get("department", "")[:100], "title": row.get("title", "")[:100],
                              "phone": row.get("phone", "")[:20], "email": row.get("email", "")[:254]}
    id_type = VALUE_ALIASES["id_type"].get(row.get("id_type", "").strip().lower().replace(" ", "_"))
    if id_type is None:
        problems.append(("id_type", _("unknown ID type %(v)s") % {"v": row.get("id_type")}))
    else:
        record["id_type"] = id_type
        try:
            record["id_number"] = validate_document(id_type, row["id_number"])
        except ValueError as exc:
            problems.append(("id_number", str(exc)))
    campus_id = campuses.get(row["campus"])
    if campus_id is None:
        problems.append(("campus", _("unknown campus %(v)s") % {"v": row["campus"]}))
    record["campus_id"] = campus_id
    if source == "registrar":
        kind = VALUE_ALIASES["category"].get(row["category"].lower())
        status = VALUE_ALIASES["status"].get(row["status"].lower())
        if kind is None:
            problems.append(("category", _("unknown student category %(v)s") % {"v": row["category"]}))
        if status is None or status in (Person.Status.ACTIVE, Person.Status.LEFT):
            problems.append(("status", _("unknown registration status %(v)s") % {"v": row["status"]}))
        record["kind"], record["status"] = kind, status
        year = row.get("enrollment_year", "")
        if year and not (year.isdigit() and 1950 <= int(year) <= 2100):
            problems.append(("enrollment_year", _("enrolment year %(v)s is not a year") % {"v": year}))
        record["enrollment_year"] = int(year) if year.isdigit() else None
    else:
        status = VALUE_ALIASES["status"].get((row.get("status") or "active").lower())
        if status not in (Person.Status.ACTIVE, Person.Status.LEFT):
            problems.append(("status", _("unknown staff status %(v)s") % {"v": row.get("status")}))
        record["kind"], record["status"], record["enrollment_year"] = Person.Kind.STAFF, status, None
    return (None if problems else record), problems


def _chunks(items: list, size: int = 5000) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _check_against_existing(institution, people, source, report) -> None:
    """A number that belongs to someone this roster does not feed, or an ID held by someone else, is an error.

    The registrar feeds students (and may re-list alumni), HR feeds staff (and may re-list alumni);
    neither may turn a person of another kind, e.g. a manually entered temporary holder, into theirs.
    """
    own_kinds = {*Person.STUDENT_KINDS, Person.Kind.ALUMNUS} if source == "registrar" else {
        Person.Kind.STAFF, Person.Kind.ALUMNUS}
    numbers = list(people)
    for chunk in _chunks(numbers):
        for number, kind in Person.objects.filter(institution=institution, number__in=chunk).values_list(
                "number", "kind"):
            if kind not in own_kinds:
                line = people[number][0]
                report.add(RowError(line, "number", _("number %(n)s already belongs to a %(k)s")
                                              % {"n": number, "k": Person.Kind(kind).label}))
    by_doc = {(r["id_type"], r["id_number"]): (line, r["number"]) for line, r in people.values()}
    id_numbers = list({doc[1] for doc in by_doc})
    active = [Person.Status.FULL_TIME, Person.Status.PART_TIME, Person.Status.SUSPENDED, Person.Status.ACTIVE]
    for chunk in _chunks(id_numbers):
        for id_type, id_number, number in Person.objects.filter(
                institution=institution, id_number__in=chunk, status__in=active).values_list(
                "id_type", "id_number", "number"):
            line, row_number = by_doc.get((id_type, id_number), (None, None))
            if line is not None and row_number != number:
                report.add(RowError(line, "id_number", _("this ID number belongs to %(n)s")
                                              % {"n": number}))
    report.errors.sort(key=lambda e: e.line)


def _write(institution, people, report, actor: Actor, progress) -> None:
    records = [record for _line, record in people.values()]
    total = len(records)
    done = 0
    with transaction.atomic():
        for chunk in _chunks(records, 2000):
            existing = {p.number: p for p in Person.objects.filter(institution=institution,
                                                                   number__in=[r["number"] for r in chunk])}
            new, changed = [], []
            for record in chunk:
                person = existing.get(record["number"])
                if person is None:
                    new.append(Person(institution=institution, **record))
                    continue
                if all(getattr(person, f) == record[f] for f in WRITTEN_FIELDS):
                    report.unchanged += 1
                    continue
                for f in WRITTEN_FIELDS:
                    setattr(person, f, record[f])
                # bulk_update does not run the fields' pre_save: the blind indexes by hand (#18 item 7)
                person.id_number_index, person.phone_index = blind_index(person.id_number), blind_index(person.phone)
                person.updated_at = clock.now()
                changed.append(person)
            Person.objects.bulk_create(new, batch_size=1000)
            Person.objects.bulk_update(changed, [*WRITTEN_FIELDS, *INDEX_FIELDS, "updated_at"], batch_size=1000)
            report.created += len(new)
            report.updated += len(changed)
            done += len(chunk)
            if progress:
                progress("write", done, total)
        audit_record(actor=actor, action=f"roster_imported_{report.source}", object_type="roster",
                     object_id=clock.now().strftime("%Y%m%d%H%M%S"), institution_id=institution.pk,
                     after={k: v for k, v in report.as_dict().items() if k != "errors"})


def roster_import_path(*, institution: Institution, source: str, path: Path, actor: Actor,
                       progress: Progress | None = None) -> RosterReport:
    with path.open("rb") as stream:
        return roster_import(institution=institution, source=source, name=path.name, stream=stream,
                             actor=actor, progress=progress)
