"""Health records (SVC-6): the holder's own records and who read them; a clinician's read (logged); the
campus hospital's feed (JSON rows or its CSV/XLSX export, all or nothing)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ninja import Field, File, Router, Schema, Status
from ninja.files import UploadedFile

from campuscard.api.auth import holder_of
from campuscard.core.actors import Actor
from campuscard.health import selectors, services
from campuscard.health.models import RecordRead
from campuscard.identity.selectors import institution_by_code

router = Router(tags=["health"])


class ExaminationOut(Schema):
    external_id: str
    examined_on: dt.date
    height_cm: Decimal | None
    weight_kg: Decimal | None
    systolic: int | None
    diastolic: int | None
    heart_rate: int | None
    vision_left: Decimal | None
    vision_right: Decimal | None
    conclusion: str


class VaccinationOut(Schema):
    external_id: str
    vaccine: str
    dose: int
    given_on: dt.date
    batch: str


class RecordsOut(Schema):
    number: str
    name: str
    examinations: list[ExaminationOut]
    vaccinations: list[VaccinationOut]
    read_logged: bool = Field(description="true when this read was logged and is shown to the holder")


class ReadOut(Schema):
    read_at: dt.datetime
    reader: str
    what: str
    channel: str
    purpose: str

    @staticmethod
    def resolve_reader(obj):
        return obj.reader_name


class ExaminationIn(Schema):
    number: str = Field(description="the holder's student / staff number")
    external_id: str = Field(max_length=64, description="the hospital's record number (a resend replaces it)")
    examined_on: str = Field(description="YYYY-MM-DD")
    height_cm: str | float | None = None
    weight_kg: str | float | None = None
    systolic: int | None = None
    diastolic: int | None = None
    heart_rate: int | None = None
    vision_left: str | float | None = None
    vision_right: str | float | None = None
    conclusion: str = ""


class VaccinationIn(Schema):
    number: str
    external_id: str = Field(max_length=64)
    vaccine: str
    dose: int = 1
    given_on: str = Field(description="YYYY-MM-DD")
    batch: str = ""


class FeedErrorOut(Schema):
    line: int
    column: str
    message: str


class FeedOut(Schema):
    kind: str
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: list[FeedErrorOut]


def _records(result: services.HealthRecords) -> dict:
    return {"number": result.person.number, "name": result.person.name, "examinations": result.examinations,
            "vaccinations": result.vaccinations, "read_logged": result.logged is not None}


@router.get("/me/health", response=RecordsOut, summary="My health records (SVC-6)")
def my_records(request):
    return _records(services.health_records_read(reader=request.auth, person=holder_of(request),
                                                 channel=RecordRead.Channel.API))


@router.get("/me/health/reads", response=list[ReadOut], summary="Who read my health records: who, when, what")
def my_reads(request):
    return selectors.reads_of(holder_of(request), limit=500)


@router.get("/health/institutions/{code}/people/{number}", response=RecordsOut,
            summary="A holder's health records, for a clinician of their institution (every read is logged)")
def clinician_read(request, code: str, number: str, purpose: str = ""):
    person = services.clinician_person(reader=request.auth, institution_code=code, number=number)
    return _records(services.health_records_read(reader=request.auth, person=person,
                                                 channel=RecordRead.Channel.API, purpose=purpose))


def _rows(payload: list) -> list[tuple[int, dict]]:
    # "line" of a JSON row: its position in the list, from 1
    return [(index, row.dict()) for index, row in enumerate(payload, start=1)]


@router.post("/health/institutions/{code}/examinations", response={201: FeedOut},
             summary="The hospital's feed: physical examinations (all rows or none)")
def feed_examinations(request, code: str, payload: list[ExaminationIn]):
    report = services.records_receive(actor=Actor.by_user(request.auth), institution=institution_by_code(code),
                                      kind="examinations", rows=_rows(payload))
    return Status(201, report.as_dict())


@router.post("/health/institutions/{code}/vaccinations", response={201: FeedOut},
             summary="The hospital's feed: vaccinations (all rows or none)")
def feed_vaccinations(request, code: str, payload: list[VaccinationIn]):
    report = services.records_receive(actor=Actor.by_user(request.auth), institution=institution_by_code(code),
                                      kind="vaccinations", rows=_rows(payload))
    return Status(201, report.as_dict())


@router.post("/health/institutions/{code}/import/{kind}", response={201: FeedOut},
             summary="The hospital's CSV or XLSX export of examinations or vaccinations (all rows or none)")
def feed_import(request, code: str, kind: str, file: File[UploadedFile]):
    report = services.records_import(actor=Actor.by_user(request.auth), institution=institution_by_code(code),
                                     kind=kind, name=file.name or "records.csv", stream=file.file)
    return Status(201, report.as_dict())
