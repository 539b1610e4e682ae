"""Reads of the card application (APP-1 … APP-5): eligibility, what is missing, the steps the holder
follows, where the card can be collected, the review queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campuscard.cards.models import Card, Photo
from campuscard.cards.selectors import package_addons
from campuscard.cards.services import card_kind_for
from campuscard.core.errors import DomainError
from campuscard.core.models import ServicePoint
from campuscard.core.permissions import restrict
from campuscard.enrollment import rules
from campuscard.enrollment.models import Application, Document
from campuscard.identity.models import Person

CHECK_LABELS: dict[str, Promise] = {
    "phone": _("mobile number verified"), "id_document": _("ID document matches the roster"),
    "status_proof": _("proof of student status"), "documents": _("extra documents"),
    "face": _("face check"),
}
INELIGIBLE_REASONS: dict[str, Promise] = {
    "kind": _("the roster does not list you as a student"),
    "status": _("the roster does not list you as registered and full-time"),
    "source": _("you are not on the registrar's roster"),
}


def face_check_url() -> str:
    """The portal's face-check page (engineer faces' ``portal:apply_face``); '' while it is not installed."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("portal:apply_face")
    except NoReverseMatch:
        return ""


def ensure_eligible(*, person: Person) -> None:
    """Raise the refusal (APP-1): staff → the HR path; others → not eligible, with the reason; a holder
    of an active card of that kind → they have one already."""
    code = rules.eligibility(kind=person.kind, status=person.status, source=person.source)
    if code == "application_not_eligible":
        reason = rules.ineligibility_reason(kind=person.kind, status=person.status, source=person.source)
        raise DomainError(code, reason=INELIGIBLE_REASONS[reason])
    if code:
        raise DomainError(code)
    kind = card_kind_for(person=person)
    if Card.objects.filter(person=person, kind=kind, state=Card.State.ACTIVE).exists():
        raise DomainError("application_card_exists", kind=Card.Kind(kind).label)


def eligibility_refusal(*, person: Person) -> DomainError | None:
    try:
        ensure_eligible(person=person)
    except DomainError as error:
        return error
    return None


def application_of(*, person: Person) -> Application | None:
    """The open application, else the latest decided one (the holder reads how it ended)."""
    applications = Application.objects.filter(person=person).select_related("collect_point", "card")
    return (applications.filter(state__in=Application.OPEN_STATES).first()
            or applications.order_by("-created_at").first())


def application_of_user(*, user: Any) -> Application | None:
    """``application_of`` for a login, its person read with it: one statement while an application is open
    (the holder's API calls start here, #16)."""
    applications = Application.objects.filter(person__user=user).select_related(
        "person__institution", "person__campus", "collect_point", "card")
    return (applications.filter(state__in=Application.OPEN_STATES).first()
            or applications.order_by("-created_at").first())


def application_read(*, pk: int) -> Application:
    """One application as the holder's status shows it, what it names read with it (one statement)."""
    return Application.objects.select_related("person__institution", "person__campus", "collect_point",
                                              "card__production__collect_point").get(pk=pk)


def status_proof_reference(*, person: Person) -> str:
    """The registrar's reference of the electronic proof of student status (学籍证明), from the roster:
    only for a full-time student the registrar's roster lists ('' otherwise)."""
    if person.source != Person.Source.REGISTRAR or person.status != Person.Status.FULL_TIME:
        return ""
    year = person.enrollment_year or 0
    return f"XJ-{person.institution.code.upper()}-{year:04d}-{person.number}"


def required_documents(*, person: Person) -> list[tuple[str, Promise]]:
    return [(kind, Document.Kind(kind).label) for kind in rules.required_documents(id_type=person.id_type)]


def collect_points(*, person: Person, collect: str) -> list[ServicePoint]:
    """Where the holder may collect the card: kiosks of their campus (of the institution if the roster
    names no campus), or the Card Center's windows of their institution."""
    points = ServicePoint.objects.filter(area__campus__institution_id=person.institution_id).select_related(
        "area__campus")
    if collect == Application.Collect.KIOSK:
        kiosks = points.filter(kind=ServicePoint.Kind.KIOSK)
        if person.campus_id:
            kiosks = kiosks.filter(area__campus_id=person.campus_id)
        return list(kiosks.order_by("name"))
    if collect == Application.Collect.WINDOW:
        return list(points.filter(kind=ServicePoint.Kind.WINDOW).order_by("name"))
    return []


def collect_where(*, application: Application) -> str:
    """The one place, as the holder reads it (the same words as the card's production)."""
    card = application.card if application.card_id is not None else None
    if card is not None and hasattr(card, "production"):
        return card.production.collect_where
    point = application.collect_point
    if point is not None:
        return f"{point.name} · {point.location}" if point.location else point.name
    return application.person.department


@dataclass(frozen=True)
class Missing:
    code: str
    label: Any


def uploaded_kinds(*, application: Application, documents: list[Document] | None = None) -> list[str]:
    """The kinds of extra document uploaded: none asked of a resident-ID holder, so no query then (the
    submit stays a few statements, #16); ``documents`` if the caller has read them already."""
    if documents is not None:
        return [document.kind for document in documents]
    if not rules.required_documents(id_type=application.person.id_type):
        return []
    return list(application.documents.values_list("kind", flat=True))


def missing(*, application: Application, documents: list[Document] | None = None) -> list[Missing]:
    """What the holder still has to provide before submitting (in the order of the pages)."""
    person = application.person
    found: list[Missing] = []
    if application.id_checked_at is None:
        found.append(Missing("id_document", _("confirm your ID document")))
    if not application.status_proof:
        found.append(Missing("status_proof", _("confirm your proof of student status")))
    if application.phone_verified_at is None:
        found.append(Missing("phone", _("verify your mobile number")))
    uploaded = uploaded_kinds(application=application, documents=documents)
    for kind in rules.missing_documents(id_type=person.id_type, uploaded=uploaded):
        found.append(Missing(f"document:{kind}", Document.Kind(kind).label))
    if not Photo.objects.filter(person=person, state__in=[Photo.State.PENDING, Photo.State.APPROVED]).exists():
        found.append(Missing("photo", _("upload a certificate photo for the card")))
    if application.collect != Application.Collect.UNIT and application.collect_point_id is None:
        found.append(Missing("collect", _("choose where to collect the card")))
    if application.biometric_consent_at is None:
        found.append(Missing("consent", _("agree to the face check")))
    if application.face_state == Application.FaceState.NOT_STARTED:
        found.append(Missing("face", _("do the face check")))
    return found


@dataclass(frozen=True)
class Step:
    code: str
    label: Any
    done: bool
    hint: Any = ""


def face_reason_text(*, application: Application) -> str:
    """The face check's reason in the reader's language (stored as the message's source text)."""
    return gettext(application.face_reason) if application.face_reason else ""


def steps(*, application: Application, gaps: list[Missing] | None = None) -> list[Step]:
    """The steps the holder follows on the status page (the seed's four steps, in detail); ``gaps``:
    ``missing(application=…)`` if the caller has it already."""
    codes = {m.code for m in (missing(application=application) if gaps is None else gaps)}
    submitted = application.state != Application.State.DRAFT
    face = application.face_state
    face_hints: dict[str, Any] = {
        Application.FaceState.CHECKING: _("being checked — this page updates by itself"),
        Application.FaceState.FAILED: face_reason_text(application=application) or _("did not pass"),
        Application.FaceState.MANUAL: face_reason_text(application=application)
        or _("an operator will compare the photos"),
    }
    face_hint = face_hints.get(face, "")
    decided = application.state in (Application.State.APPROVED, Application.State.REJECTED)
    return [
        Step("materials", _("Materials: ID document, proof of student status, mobile number"),
             not codes & {"id_document", "status_proof", "phone"} and not any(g.startswith("document:") for g in codes)),
        Step("package", _("Package and where to collect the card"), "collect" not in codes and "photo" not in codes),
        Step("face", _("Face check"), face in (Application.FaceState.PASSED, Application.FaceState.MANUAL,
                                               Application.FaceState.FAILED) and "consent" not in codes, face_hint),
        Step("submitted", _("Submitted"), submitted),
        Step("review", _("Review by the Card Center"), decided or application.state == Application.State.WITHDRAWN,
             _("waiting for an operator") if application.state == Application.State.REVIEW else ""),
        Step("card", _("Card active in My cards"), application.state == Application.State.APPROVED),
    ]


def chosen_package(*, application: Application) -> frozenset[str]:
    """The add-ons: as chosen in the application, or the card's once it is approved (changeable later)."""
    if application.state == Application.State.APPROVED:
        return package_addons(person=application.person)
    return frozenset(application.addons)


def review_queue(*, user: Any) -> QuerySet[Application]:
    """Applications waiting for review in the operator's institution, oldest submission first."""
    return (restrict(Application.objects.filter(state=Application.State.REVIEW), user, "view")
            .select_related("person").order_by("submitted_at"))


def documents_of(*, application: Application) -> list[Document]:
    return list(application.documents.all())


def document_for(*, user: Any, pk: int) -> Document | None:
    """A document the user may open: the applicant's own, or one an entitled operator may view."""
    document = Document.objects.select_related("application__person").filter(pk=pk).first()
    if document is None or not user.is_authenticated:
        return None
    if document.application.person.user_id == user.pk:
        return document
    return document if restrict(Document.objects.filter(pk=pk), user, "view").exists() else None
