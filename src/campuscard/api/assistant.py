"""The assistant and the service points (SUP-1, SUP-2) for channels and apps.

``POST /support/ask`` is open to anonymous callers (throttled per client address, or per holder when signed
in); the answer's language is the question's own, else the request's (Accept-Language). The intents that
change something take the holder's explicit confirmation."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import get_language
from ninja import Field, Router, Schema

from campuscard.api.auth import ChannelToken, IntegrationToken, PortalSession, holder_auth, holder_of
from campuscard.assistant import services
from campuscard.core import service_points as points
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.identity import throttle
from campuscard.identity.models import ChannelBinding
from campuscard.identity.selectors import person_of_user

router = Router(tags=["support"])

ASK_BUCKET = "assistant_ask"
ANY_SCOPE = tuple(ChannelBinding.Scope.values)  # any bound channel may ask


def _anonymous(request):
    """Lets the endpoint run without a login; ``request.auth`` is then this marker, not a user."""
    return _Anonymous()


class _Anonymous:
    is_authenticated = False

    def __bool__(self) -> bool:
        return True


class ErrorOut(Schema):
    code: str
    message: str


class AskIn(Schema):
    question: str = Field(max_length=2000, description="the question, in Chinese or English")
    institution: str = Field("", description="institution code; a signed-in holder's own is used instead")


class SourceOut(Schema):
    title: str
    url: str


class HandoffOut(Schema):
    service_point: str
    location: str
    hours: str
    today: str
    open_now: bool
    phone: str
    hotline: str
    hotline_hours: str
    hotline_open_now: bool
    url: str


class ActionOut(Schema):
    intent: str = Field(description="report_lost | balance | nearest_kiosk")
    label: str
    confirm: bool = Field(description="true: the holder must confirm (POST …/actions/report-lost with confirm)")
    card: str | None = None


class AskOut(Schema):
    answer: str
    confident: bool
    language: str
    sources: list[SourceOut]
    handoff: HandoffOut | None
    actions: list[ActionOut]


class ReportLostIn(Schema):
    card: str
    confirm: bool = Field(False, description="must be true: the card stops at once")


class CardStateOut(Schema):
    card: str
    state: str


class PointOut(Schema):
    code: str
    kind: str
    name: str
    location: str
    campus: str
    area: str
    capabilities: list[str]
    hours: str
    closed_on_holidays: bool
    today: str
    holiday: str | None
    open_now: bool
    phone: str
    plan: dict | None


class AreaOut(Schema):
    code: str
    name: str
    points: list[PointOut]


class CampusOut(Schema):
    code: str
    name: str
    phone: str
    areas: list[AreaOut]


class ServicePointsOut(Schema):
    institution: str
    hotline: str
    hotline_hours: str
    hotline_open_now: bool
    campuses: list[CampusOut]


def _caller(request, code: str):
    user = request.auth if getattr(request.auth, "is_authenticated", False) else None
    person = person_of_user(user) if user is not None else None
    if person is not None:
        return person, person.institution
    institution = Institution.objects.filter(code=code).first() if code else None
    if institution is None:
        if code or Institution.objects.count() != 1:
            raise DomainError("assistant_institution_unknown")
        institution = Institution.objects.get()
    return None, institution


def _throttle(request, person) -> None:
    key = f"p{person.pk}" if person is not None else throttle.client_address(request) or "unknown"
    limit = getattr(settings, "ASSISTANT_ASKS_PER_MINUTE", 30)
    if throttle.bucket_wait(ASK_BUCKET, key, limit=limit, window=60):
        raise DomainError("rate_limited")
    throttle.bucket_hit(ASK_BUCKET, key, window=60)


@router.post("/support/ask", response={200: AskOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut},
             auth=[PortalSession(), IntegrationToken(), ChannelToken(*ANY_SCOPE), _anonymous],
             summary="Ask the assistant (SUP-1): an answer citing its entry, or the human help when unsure")
def ask(request, payload: AskIn):
    person, institution = _caller(request, payload.institution)
    _throttle(request, person)
    channel = "channel" if getattr(request, "channel", None) else ("api" if person else "anonymous")
    answer = services.ask(institution=institution, question=payload.question, language=get_language() or "",
                          person=person, channel=channel)
    return answer.as_dict()


@router.post("/support/actions/report-lost", response={200: CardStateOut, 404: ErrorOut, 409: ErrorOut},
             auth=holder_auth("loss_report"), summary="Report my card lost from the assistant (needs confirm: true)")
def report_lost(request, payload: ReportLostIn):
    card = services.report_lost(actor=Actor.by_user(request.auth), person=holder_of(request), card_number=payload.card,
                                confirmed=payload.confirm)
    return {"card": card.number, "state": card.state}


@router.get("/support/actions/balance", auth=holder_auth("balance"), summary="My balance, per active card")
def balance(request):
    return services.balance_of(person=holder_of(request))


@router.get("/support/service-points", response={200: ServicePointsOut, 404: ErrorOut},
            auth=[PortalSession(), IntegrationToken(), ChannelToken(*ANY_SCOPE), _anonymous],
            summary="Service windows, desks and kiosks per campus and area, with hours and open now (SUP-2)")
def service_points(request, institution: str = ""):
    _, inst = _caller(request, institution)
    return {"institution": inst.code, "hotline": inst.hotline, "hotline_hours": inst.hotline_hours,
            "hotline_open_now": points.hotline_open(inst),
            "campuses": [{"code": c.campus.code, "name": c.name, "phone": c.phone,
                          "areas": [{"code": a.area.code, "name": a.name, "points": [p.as_dict() for p in a.points]}
                                    for a in c.areas]} for c in points.service_points(inst)]}
