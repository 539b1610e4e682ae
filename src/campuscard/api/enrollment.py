"""Getting a card (APP-1 … APP-5): the holder's application — start, materials, SMS code, package and
collection place, consent, submit, withdraw, status — and the operators' review queue (list, approve,
reject, bulk approve). Thin: every change is an ``enrollment.services`` call."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from campuscard.api.auth import holder_of
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import ServicePoint
from campuscard.core.permissions import restrict
from campuscard.core.privacy import mask_phone
from campuscard.enrollment import selectors, services
from campuscard.enrollment.models import Application
from campuscard.identity.throttle import client_address

router = Router(tags=["applications"])


class StepOut(Schema):
    code: str
    label: str
    done: bool
    hint: str = ""


class MissingOut(Schema):
    code: str
    label: str


class DocumentOut(Schema):
    id: int
    kind: str
    content_type: str
    size: int
    url: str = Field(description="served only to the holder and entitled operators")


class PlaceOut(Schema):
    id: int
    kind: str
    name: str
    location: str


class ApplicationOut(Schema):
    id: int
    person_number: str
    state: str
    phone: str = Field(description="masked, e.g. 138****5678 (#18 item 7)")
    phone_verified: bool
    id_checked: bool
    status_proof: str
    required_documents: list[str]
    documents: list[DocumentOut]
    addons: list[str]
    collect: str
    collect_point: int | None
    collect_where: str
    biometric_consent: bool
    face_state: str
    face_distance: float | None
    face_reason: str
    checks_passed: bool | None
    checks_failed: list[str]
    missing: list[MissingOut]
    steps: list[StepOut]
    submitted_at: datetime | None
    decided_at: datetime | None
    reason: str
    card_number: str | None
    face_check_url: str = Field(description="the portal's face-check page, '' where it is not installed")


class IdIn(Schema):
    id_type: str
    id_number: str


class ProofIn(Schema):
    reference: str = Field(description="the registrar's reference shown by GET /applications/mine/status-proof")


class ProofOut(Schema):
    reference: str


class PhoneIn(Schema):
    phone: str


class CodeIn(Schema):
    code: str


class SentOut(Schema):
    phone: str = Field(description="masked, e.g. 138****5678 (#18 item 7)")
    expires_at: datetime


class PackageIn(Schema):
    addons: list[str] = Field(description="the add-ons chosen (the base package is always included)")
    collect: str = Field(description="kiosk | window | unit")
    collect_point: int | None = Field(None, description="a place from GET /applications/mine/places (kiosk, window)")


class PlacesOut(Schema):
    kiosk: list[PlaceOut]
    window: list[PlaceOut]
    unit: str


class RejectIn(Schema):
    reason: str


class BulkOut(Schema):
    approved: list[int]
    refused: list[dict]


def _mine(request) -> Application:
    application = selectors.application_of_user(user=request.auth)
    if application is None:
        holder_of(request, refusal="application_no_person")  # no person: that refusal, else "no application"
        raise DomainError("application_not_found")
    return application


def _out(application: Application) -> dict:
    """The holder's view of the application, read afresh in three statements (the application with what it
    names, its documents, whether a photo is there): the submit stays a few statements (#16)."""
    from django.urls import reverse

    application = selectors.application_read(pk=application.pk)
    person = application.person
    documents = selectors.documents_of(application=application)
    gaps = selectors.missing(application=application, documents=documents)
    return {
        "id": application.pk, "person_number": person.number, "state": application.state, "phone": mask_phone(application.phone),
        "phone_verified": application.phone_verified_at is not None,
        "id_checked": application.id_checked_at is not None, "status_proof": application.status_proof,
        "required_documents": [kind for kind, _label in selectors.required_documents(person=person)],
        "documents": [{"id": d.pk, "kind": d.kind, "content_type": d.content_type, "size": d.size,
                       "url": reverse("portal:apply_document", args=[d.pk])}
                      for d in documents],
        "addons": list(application.addons), "collect": application.collect,
        "collect_point": application.collect_point_id,
        "collect_where": selectors.collect_where(application=application),
        "biometric_consent": application.biometric_consent_at is not None,
        "face_state": application.face_state, "face_distance": application.face_distance,
        "face_reason": selectors.face_reason_text(application=application), "checks_passed": application.checks_passed,
        "checks_failed": list(application.checks_failed),
        "missing": [{"code": m.code, "label": str(m.label)} for m in gaps]
        if application.state == Application.State.DRAFT else [],
        "steps": [{"code": s.code, "label": str(s.label), "done": s.done, "hint": str(s.hint)}
                  for s in selectors.steps(application=application, gaps=gaps)],
        "submitted_at": application.submitted_at, "decided_at": application.decided_at,
        "reason": application.reason, "card_number": application.card.number if application.card_id else None,
        "face_check_url": selectors.face_check_url(),
    }


def _place(point: ServicePoint) -> dict:
    return {"id": point.pk, "kind": point.kind, "name": point.name, "location": point.location}


# --- the holder --------------------------------------------------------------------------------------

@router.get("/applications/mine", response=ApplicationOut, summary="My card application and its steps (APP-1…5)")
def mine(request):
    return _out(_mine(request))


@router.post("/applications/mine", response={201: ApplicationOut},
             summary="Start my application (or get the open one); refuses staff (HR path) and the ineligible")
def start(request):
    return Status(201, _out(services.application_start(actor=Actor.by_user(request.auth), person=holder_of(request, refusal="application_no_person"))))


@router.get("/applications/mine/status-proof", response=ProofOut,
            summary="The registrar's electronic proof of student status to confirm")
def status_proof(request):
    reference = selectors.status_proof_reference(person=holder_of(request, refusal="application_no_person"))
    if not reference:
        raise DomainError("application_status_proof_missing")
    return {"reference": reference}


@router.post("/applications/mine/status-proof", response=ApplicationOut, summary="Confirm the proof of student status")
def status_proof_confirm(request, payload: ProofIn):
    return _out(services.application_status_proof_confirm(actor=Actor.by_user(request.auth),
                                                          application=_mine(request), reference=payload.reference))


@router.post("/applications/mine/id-document", response=ApplicationOut,
             summary="Check my ID document against the roster")
def id_document(request, payload: IdIn):
    return _out(services.application_id_check(actor=Actor.by_user(request.auth), application=_mine(request),
                                              id_type=payload.id_type, id_number=payload.id_number))


@router.post("/applications/mine/phone", response={201: SentOut},
             summary="Send a one-time code to my mobile number (1/min, 5/hour per number; limits per address)")
def phone_send(request, payload: PhoneIn):
    sent = services.phone_code_send(actor=Actor.by_user(request.auth), application=_mine(request),
                                    phone=payload.phone, client_address=client_address(request))
    return Status(201, {"phone": mask_phone(sent.phone), "expires_at": sent.expires_at})  # masked (#18 item 7)


@router.post("/applications/mine/phone/verify", response=ApplicationOut,
             summary="Verify the code (5 wrong guesses kill it)")
def phone_verify(request, payload: CodeIn):
    return _out(services.phone_code_verify(actor=Actor.by_user(request.auth), application=_mine(request),
                                           code=payload.code, client_address=client_address(request)))


@router.post("/applications/mine/documents", response={201: DocumentOut},
             summary="Upload an extra document (permit, accommodation, issc_letter): JPEG/PNG/PDF, ≤ 5 MB")
def document_upload(request, kind: Form[str], file: File[UploadedFile]):
    from django.urls import reverse

    document = services.document_upload(actor=Actor.by_user(request.auth), application=_mine(request), kind=kind,
                                        upload=file)
    return Status(201, {"id": document.pk, "kind": document.kind, "content_type": document.content_type,
                        "size": document.size, "url": reverse("portal:apply_document", args=[document.pk])})


@router.get("/applications/mine/places", response=PlacesOut, summary="Where I may collect the physical card")
def places(request):
    person = holder_of(request, refusal="application_no_person")
    return {"kiosk": [_place(p) for p in selectors.collect_points(person=person, collect="kiosk")],
            "window": [_place(p) for p in selectors.collect_points(person=person, collect="window")],
            "unit": person.department}


@router.put("/applications/mine/package", response=ApplicationOut,
            summary="Choose the add-ons and where to collect the card (APP-4)")
def package(request, payload: PackageIn):
    point = ServicePoint.objects.filter(pk=payload.collect_point).first() if payload.collect_point else None
    return _out(services.application_package_set(actor=Actor.by_user(request.auth), application=_mine(request),
                                                 addons=payload.addons, collect=payload.collect, collect_point=point))


@router.post("/applications/mine/consent", response=ApplicationOut, summary="Consent to the face check (biometrics)")
def consent(request):
    return _out(services.application_consent_give(actor=Actor.by_user(request.auth), application=_mine(request)))


@router.post("/applications/mine/submit", response=ApplicationOut, summary="Submit: the automatic checks run")
def submit(request):
    return _out(services.application_submit(actor=Actor.by_user(request.auth), application=_mine(request)))


@router.post("/applications/mine/withdraw", response=ApplicationOut, summary="Withdraw my open application")
def withdraw(request):
    return _out(services.application_withdraw(actor=Actor.by_user(request.auth), application=_mine(request)))


# --- operators ------------------------------------------------------------------------------------------

def _operators(request, pk: int) -> Application:
    application = restrict(Application.objects.select_related("person"), request.auth, "view").filter(pk=pk).first()
    if application is None:
        raise DomainError("application_not_found")
    return application


@router.get("/applications", response=list[ApplicationOut],
            summary="Operators: applications of my institution (default: waiting for review, oldest first)")
def queue(request, state: str = "review", passed: bool | None = None, limit: int = 100):
    applications = restrict(Application.objects.select_related("person", "card"), request.auth, "view")
    applications = applications.filter(state=state).order_by("submitted_at", "created_at")
    if passed is not None:
        applications = applications.filter(checks_passed=passed)
    return [_out(a) for a in applications[:max(1, min(limit, 500))]]


@router.post("/applications/{application_id}/approve", response=ApplicationOut,
             summary="Operators: approve — the card is active at once, the physical card in production")
def approve(request, application_id: int):
    return _out(services.application_approve(actor=Actor.by_user(request.auth),
                                             application=_operators(request, application_id)))


@router.post("/applications/{application_id}/reject", response=ApplicationOut,
             summary="Operators: reject with a reason the holder reads")
def reject(request, application_id: int, payload: RejectIn):
    return _out(services.application_reject(actor=Actor.by_user(request.auth),
                                            application=_operators(request, application_id), reason=payload.reason))


@router.post("/applications/approve-passed", response=BulkOut,
             summary="Operators: approve every application in review whose automatic checks all passed")
def approve_passed(request):
    queue = selectors.review_queue(user=request.auth).filter(checks_passed=True)
    approved, refused = services.applications_approve_passed(actor=Actor.by_user(request.auth),
                                                             applications=list(queue))
    return {"approved": [a.pk for a in approved],
            "refused": [{"id": a.pk, "code": e.code, "message": e.message} for a, e in refused]}
