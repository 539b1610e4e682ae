"""People, passwords and rosters (ID-1, ID-3, ID-5, ID-6, TEN-1)."""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.permissions import authorize
from campuscard.core.selectors import institutions_visible
from campuscard.identity import roster, selectors, services

router = Router(tags=["identity"])


class InstitutionOut(Schema):
    code: str
    name: str
    name_en: str
    time_zone: str


class PersonOut(Schema):
    institution: str
    number: str
    name: str
    kind: str
    status: str
    campus: str | None
    department: str

    @staticmethod
    def resolve_institution(obj):
        return obj.institution.code

    @staticmethod
    def resolve_campus(obj):
        return obj.campus.code if obj.campus_id else None


class MeOut(Schema):
    username: str
    institution: str | None
    roles: list[str]
    language: str
    must_change_password: bool
    person: PersonOut | None
    has_payment_password: bool


class PasswordIn(Schema):
    old_password: str
    new_password: str
    new_password_again: str


class PaymentPasswordIn(Schema):
    login_password: str = ""
    current_payment_password: str = ""
    new_payment_password: str


class QueryPasswordIn(Schema):
    login_password: str
    new_query_password: str


class OkOut(Schema):
    ok: bool = True


class RosterRowErrorOut(Schema):
    line: int
    column: str
    message: str


class RosterReportOut(Schema):
    source: str
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: list[RosterRowErrorOut]


class ErrorOut(Schema):
    code: str
    message: str


def _person(request):
    person = selectors.person_of_user(request.auth)
    if person is None:
        raise DomainError("forbidden")
    return person


@router.get("/me", response=MeOut, summary="Who am I")
def me(request):
    user = request.auth
    person = selectors.person_of_user(user)
    return {"username": user.username, "institution": user.institution.code if user.institution_id else None,
            "roles": user.roles, "language": user.language or request.LANGUAGE_CODE,
            "must_change_password": user.must_change_password, "person": person,
            "has_payment_password": bool(person and person.has_payment_password)}


@router.post("/me/password", response={200: OkOut, 400: ErrorOut}, summary="Change the login password")
def change_password(request, payload: PasswordIn):
    services.password_change(user=request.auth, **payload.dict())
    if request.session.session_key:
        update_session_auth_hash(request, request.auth)  # like the portal: the session stays logged in
    return {"ok": True}


@router.post("/me/payment-password", response={200: OkOut, 400: ErrorOut},
             summary="Set or change the payment password (ID-5)")
def change_payment_password(request, payload: PaymentPasswordIn):
    _person(request)
    services.payment_password_set(user=request.auth, **payload.dict())
    return {"ok": True}


@router.post("/me/query-password", response={200: OkOut, 400: ErrorOut},
             summary="Change the query password (ID-6)")
def change_query_password(request, payload: QueryPasswordIn):
    _person(request)
    services.query_password_set(user=request.auth, **payload.dict())
    return {"ok": True}


@router.get("/institutions", response=list[InstitutionOut], summary="Institutions you can see")
def institutions(request):
    return institutions_visible(user=request.auth, action="view")


@router.get("/people", response=list[PersonOut], summary="People you can see")
@paginate
def people(request, kind: str | None = None, q: str | None = None):
    return selectors.people_visible(user=request.auth, kind=kind, query=q)


@router.post("/institutions/{code}/rosters/{source}", response={201: RosterReportOut, 422: ErrorOut},
             summary="Import a registrar or HR roster (CSV or XLSX); all rows or none (ID-1)")
def import_roster(request, code: str, source: str, file: File[UploadedFile]):
    institution = selectors.institution_by_code(code)
    authorize(request.auth, "identity.add_person", institution.pk)
    authorize(request.auth, "identity.change_person", institution.pk)
    report = roster.roster_import(institution=institution, source=source, name=file.name or "roster.csv",
                                  stream=file.file, actor=Actor.by_user(request.auth))
    return Status(201, report.as_dict())
