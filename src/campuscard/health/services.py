"""Health records (SVC-6): the hospital's feed in, and the one way to read a holder's records.

``health_records_read`` is the only function that hands out examination or vaccination data. The holder
reads their own freely; anyone else must be a clinician of the holder's institution (the ``clinician``
role: ``health.view_examination``), and every such read is logged (``RecordRead``, with an audit row) in
the same transaction that fetched the data, so a read that was answered is a read that was logged. Not
even the platform administrators are let through: health data is the holder's and their clinicians'.

The feed (``records_receive``, ``records_import``) is the campus hospital's: rows keyed by the hospital's
record number, validated whole (every bad row with its line) and stored all or nothing; a row sent again
replaces the stored one (the hospital corrected it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.permissions import authorize
from campuscard.health.models import Examination, RecordRead, Vaccination
from campuscard.identity.models import Person, User
from campuscard.identity.roster import read_rows
from campuscard.support.services import notify

CLINICIAN_PERMISSIONS = ("health.view_examination", "health.view_vaccination")
KINDS = ("examinations", "vaccinations")
MAX_ROWS = 20_000  # one feed call or file

# Column names as the hospital's export may write them (Chinese headers) → ours.
HEADER_ALIASES = {
    "学号": "number", "工号": "number", "学工号": "number", "编号": "external_id", "记录号": "external_id",
    "体检日期": "examined_on", "身高": "height_cm", "体重": "weight_kg", "收缩压": "systolic",
    "舒张压": "diastolic", "心率": "heart_rate", "左眼视力": "vision_left", "右眼视力": "vision_right",
    "结论": "conclusion", "疫苗": "vaccine", "疫苗名称": "vaccine", "剂次": "dose", "接种日期": "given_on",
    "批号": "batch",
}

# column → (kind, bounds); required columns per record kind
_EXAM_FIELDS: dict[str, tuple[str, Any, Any]] = {
    "height_cm": ("decimal", Decimal("30"), Decimal("260")),
    "weight_kg": ("decimal", Decimal("2"), Decimal("400")),
    "systolic": ("int", 40, 300),
    "diastolic": ("int", 20, 200),
    "heart_rate": ("int", 20, 250),
    "vision_left": ("decimal", Decimal("0"), Decimal("5.3")),
    "vision_right": ("decimal", Decimal("0"), Decimal("5.3")),
}
REQUIRED = {"examinations": ("number", "external_id", "examined_on"),
            "vaccinations": ("number", "external_id", "vaccine", "given_on")}


# --- reading -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HealthRecords:
    person: Person
    examinations: list[Examination]
    vaccinations: list[Vaccination]
    logged: RecordRead | None  # None: the holder read their own


def is_clinician_of(*, user: Any, institution_id: int | None) -> bool:
    """A clinician of that institution: the role's permissions and the same institution. Superusers are
    not clinicians (Django would grant them every permission)."""
    if user is None or not user.is_authenticated or not user.is_active or user.is_superuser:
        return False
    return (institution_id is not None and user.institution_id == institution_id
            and all(user.has_perm(p) for p in CLINICIAN_PERMISSIONS))


def clinician_person(*, reader: User, institution_code: str | None = None, number: str) -> Person:
    """The holder a clinician asks for by number, at the clinician's own institution only (TEN-1). A
    clinician naming another institution is refused, whoever is there."""
    if reader is None or not reader.is_authenticated:
        raise DomainError("not_authenticated")
    institution_id = reader.institution_id
    if institution_code is not None:
        named = Institution.objects.filter(code=institution_code).values_list("pk", flat=True).first()
        if named is None or named != institution_id:
            raise DomainError("health_forbidden")
    if not is_clinician_of(user=reader, institution_id=institution_id):
        raise DomainError("health_forbidden")
    person = Person.objects.select_related("institution").filter(institution_id=institution_id,
                                                                 number=(number or "").strip()).first()
    if person is None:
        raise DomainError("health_person_unknown")
    return person


def health_records_read(*, reader: User, person: Person, channel: str = RecordRead.Channel.BACKOFFICE,
                        purpose: str = "") -> HealthRecords:
    """The holder's examinations and vaccinations for ``reader``: the holder, or a clinician of the holder's
    institution — then logged with what was shown, in the same transaction as the read."""
    if reader is None or not reader.is_authenticated:
        raise DomainError("not_authenticated")
    own = person.user_id is not None and person.user_id == reader.pk
    if not own and not is_clinician_of(user=reader, institution_id=person.institution_id):
        raise DomainError("health_forbidden")
    if channel not in RecordRead.Channel.values:
        raise DomainError("validation_error")
    with transaction.atomic():
        examinations = list(Examination.objects.filter(person=person))
        vaccinations = list(Vaccination.objects.filter(person=person))
        logged = None
        if not own:
            what = _describe(examinations, vaccinations)
            logged = RecordRead.objects.create(
                institution_id=person.institution_id, person=person, reader=reader,
                reader_name=(reader.get_full_name() or reader.get_username())[:150], read_at=clock.now(),
                what=what[:300], examinations=len(examinations), vaccinations=len(vaccinations), channel=channel,
                purpose=(purpose or "").strip()[:200])
            audit_record(actor=Actor.by_user(reader), action="health_read", obj=person,
                         institution_id=person.institution_id,
                         after={"read": logged.pk, "examinations": [e.pk for e in examinations],
                                "vaccinations": [v.pk for v in vaccinations], "channel": channel})
    return HealthRecords(person=person, examinations=examinations, vaccinations=vaccinations, logged=logged)


def _describe(examinations: list[Examination], vaccinations: list[Vaccination]) -> str:
    """What the reader saw, in words kept with the log (in the source language: shown translated)."""
    parts = []
    if examinations:
        parts.append("examinations " + ", ".join(e.examined_on.isoformat() for e in examinations[:6])
                     + (" …" if len(examinations) > 6 else ""))
    if vaccinations:
        parts.append("vaccinations " + ", ".join(sorted({v.vaccine for v in vaccinations}))[:150])
    return "; ".join(parts) or "no records"


# --- the hospital's feed -----------------------------------------------------------------------------

@dataclass
class FeedReport:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rows": self.rows, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "errors": self.errors}


def _date(raw: str) -> dt.date:
    return dt.date.fromisoformat(raw.strip().replace("/", "-"))


def _row(kind: str, row: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One row checked: the values to store, or the problems with each column."""
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    text = {k: ("" if v is None else str(v)).strip() for k, v in row.items()}
    for column in REQUIRED[kind]:
        if not text.get(column):
            problems.append((column, _("required")))
    if problems:
        return values, problems
    values["number"], values["external_id"] = text["number"], text["external_id"][:64]
    date_column = "examined_on" if kind == "examinations" else "given_on"
    try:
        values[date_column] = _date(text[date_column])
    except ValueError:
        problems.append((date_column, _("not a date (YYYY-MM-DD)")))
    if kind == "examinations":
        for column, (number_kind, low, high) in _EXAM_FIELDS.items():
            raw = text.get(column, "")
            if not raw:
                values[column] = None
                continue
            try:
                value: Any = Decimal(raw) if number_kind == "decimal" else int(raw)
            except (InvalidOperation, ValueError):
                problems.append((column, _("not a number")))
                continue
            if not low <= value <= high:
                problems.append((column, _("outside %(low)s–%(high)s") % {"low": low, "high": high}))
            values[column] = value.quantize(Decimal("0.1")) if isinstance(value, Decimal) else value
        values["conclusion"] = text.get("conclusion", "")[:500]
    else:
        values["vaccine"] = text["vaccine"][:100]
        values["batch"] = text.get("batch", "")[:50]
        try:
            values["dose"] = int(text.get("dose") or 1)
            if not 1 <= values["dose"] <= 20:
                raise ValueError
        except ValueError:
            problems.append(("dose", _("a whole number from 1 to 20")))
    return values, problems


def _feed_authorize(actor: Actor, institution: Institution, kind: str) -> type[Examination] | type[Vaccination]:
    if kind not in KINDS:
        raise DomainError("health_kind_unknown", kind=kind)
    model = Examination if kind == "examinations" else Vaccination
    for action in ("add", "change"):
        authorize(actor.user, f"health.{action}_{model._meta.model_name}", institution.pk)
    return model


def records_receive(*, actor: Actor, institution: Institution, kind: str,
                    rows: Iterable[tuple[int, dict[str, Any]]]) -> FeedReport:
    """Check every row (line numbers as given), then store all of them or none. The hospital's feed
    (``health.add_*``/``change_*``) or a clinician's CSV upload."""
    model = _feed_authorize(actor, institution, kind)
    report = FeedReport(kind=kind)
    checked: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise DomainError("validation_error", details={"reason": f"more than {MAX_ROWS} rows"})
        values, problems = _row(kind, {HEADER_ALIASES.get(k, k): v for k, v in row.items()})
        report.errors += [{"line": line, "column": c, "message": m} for c, m in problems]
        if not problems:
            if values["external_id"] in seen:
                report.errors.append({"line": line, "column": "external_id",
                                      "message": _("the same record number is on line %(l)s")
                                      % {"l": seen[values["external_id"]]}})
            seen.setdefault(values["external_id"], line)
            checked.append((line, values))
    people = {p.number: p for p in Person.objects.filter(institution=institution,
                                                        number__in={v["number"] for _l, v in checked})}
    for line, values in checked:
        if values["number"] not in people:
            report.errors.append({"line": line, "column": "number",
                                  "message": _("no holder %(n)s at this institution") % {"n": values["number"]}})
    if report.errors:
        report.errors.sort(key=lambda e: e["line"])
        raise DomainError("health_records_invalid", count=len(report.errors), details=report.as_dict())
    _store(actor, institution, model, checked, people, report)
    return report


@transaction.atomic
def _store(actor: Actor, institution: Institution, model: type[Examination] | type[Vaccination],
           checked: list[tuple[int, dict[str, Any]]], people: dict[str, Person], report: FeedReport) -> None:
    now = clock.now()
    existing = {r.external_id: r for r in model.objects.select_for_update()
                .filter(institution=institution, external_id__in=[v["external_id"] for _l, v in checked])}
    touched: dict[int, Person] = {}
    for _line, values in checked:
        person = people[values.pop("number")]
        row = existing.get(values["external_id"])
        if row is None:
            model.objects.create(institution=institution, person=person, received_at=now, **values)
            report.created += 1
        elif row.person_id == person.pk and all(getattr(row, k) == v for k, v in values.items()):
            report.unchanged += 1
            continue
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.person, row.received_at = person, now
            row.save()
            report.updated += 1
        touched[person.pk] = person
    audit_record(actor=actor, action="health_received", object_type=model._meta.label_lower,
                 institution_id=institution.pk, after={k: v for k, v in report.as_dict().items() if k != "errors"})
    for person in touched.values():
        notify(person=person, kind="health", title=gettext_lazy("New health records from the campus hospital"),
               body=gettext_lazy("The campus hospital sent new or corrected records. Only you and the clinicians "
                                 "of your institution can see them, and you see every time a clinician does."),
               link="/health/")


def records_import(*, actor: Actor, institution: Institution, kind: str, name: str,
                   stream: IO[bytes]) -> FeedReport:
    """The hospital's CSV or XLSX export (header line first; Chinese headers understood)."""
    _feed_authorize(actor, institution, kind)
    return records_receive(actor=actor, institution=institution, kind=kind,
                           rows=list(read_rows(name=name, stream=stream)))
