"""Cards: my cards, pay code, loss, replacement, migration (CARD-*); deny list for devices (CARD-4)."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, File, Header, Router, Schema, Status, UploadedFile
from pydantic import ValidationError

from campuscard.api.auth import DeviceSignature, holder_auth, holder_of
from campuscard.cards import codes, policy, selectors, services
from campuscard.cards.models import Card, DenyListVersion
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.payments import selectors as payment_selectors

router = Router(tags=["cards"])


class CardOut(Schema):
    number: str
    kind: str
    state: str
    physical: bool
    balance: int
    capabilities: list[str]
    issued_at: datetime
    balance_moves_at: datetime | None = None


class CodeOut(Schema):
    code: str
    digits: str = Field(description="the same code as 18 digits, for a cashier to type")
    valid_seconds: int
    refresh_seconds: int
    ticket: str = Field(description="ask ``POST /cards/code-status`` with it whether the code was used")


class PaidOut(Schema):
    amount: str
    merchant: str
    balance: str
    at: str = Field(description="local time of the payment, HH:MM:SS")


class CodeStatusOut(Schema):
    used: bool
    payment: PaidOut | None = Field(None, description="the payment the code made, when it paid")


class CodeStatusIn(Schema):
    ticket: str = Field(description="the status ticket the pay code came with (``GET /cards/{number}/code``)")
    code: str


class ReplaceIn(Schema):
    physical: bool = False
    fee_payment: str = Field("balance", description="balance | first_recharge (only when the balance is less than "
                                                    "the fee): see GET /cards/{number}/replacement")
    collect_point: int | None = Field(None, description="where the physical card waits (a kiosk or window id from "
                                                        "GET /cards/{number}/replacement); empty: the default")


class CollectPlaceOut(Schema):
    id: int
    kind: str
    name: str
    location: str


class ReplacementOut(Schema):
    fee: int = Field(description="fen")
    balance: int = Field(description="available on the card now, fen")
    fee_paid: str = Field(description="how the fee will be paid: balance | first_recharge | paid (in cash already) | "
                                      "'' (no fee)")
    fee_payments: list[str] = Field(description="the ways open in the app")
    moves_now: int = Field(description="fen moved to the new card at once")
    reserve: int = Field(description="fen kept back for offline bus validators, moved within 48 h at most")
    collect_point: int | None = Field(description="where a physical card waits unless another place is chosen")
    places: list[CollectPlaceOut] = Field(description="where a physical card may be collected")


class KioskFeeIn(Schema):
    card: str = Field(description="the number of the card to replace")
    amount: int = Field(gt=0, description="fen counted by the acceptor; must be the replacement fee")


class KioskFeeOut(Schema):
    card: str
    amount: int
    method: str
    paid_at: datetime | None


class OfflineCodesOut(Schema):
    codes: list[str]


class HceOut(Schema):
    token: str
    otpauth_uri: str = Field(description="RFC 6238 parameters for the phone app: SHA1, 8 digits, 30 s")
    code_format: str


class CardDenyListOut(Schema):
    version: int
    cards: list[str]
    nfc_uids: list[str]


def _card_out(view) -> dict:
    move = view.move_out
    return {"number": view.card.number, "kind": view.card.kind, "state": view.card.state,
            "physical": view.card.physical, "balance": view.balance, "capabilities": list(view.capabilities),
            "issued_at": view.card.issued_at,
            "balance_moves_at": move.due_at if move and move.state == move.State.SCHEDULED else None}


class PackageOut(Schema):
    base: list[str] = Field(description="always included: canteen payment, library, door access")
    addons: list[str] = Field(description="the add-ons chosen")
    available: list[str] = Field(description="every add-on there is")


class CardPackageIn(Schema):
    addons: list[str] = Field(description="the add-ons wanted, exactly (an empty list removes all)")


def _package_out(addons) -> dict:
    return {"base": list(policy.BASE_PACKAGE), "addons": [a for a in policy.ADDONS if a in addons],
            "available": list(policy.ADDONS)}


@router.get("/cards/package", response=PackageOut, summary="My card package: the base and my add-ons (APP-4)")
def package_get(request):
    return _package_out(selectors.package_addons(person=holder_of(request)))


@router.put("/cards/package", response=PackageOut, summary="Choose my add-ons (APP-4); an unknown one changes nothing")
def package_set(request, payload: CardPackageIn):
    addons = services.package_addons_set(actor=Actor.by_user(request.auth), person=holder_of(request),
                                         addons=payload.addons)
    return _package_out(addons)


@router.get("/cards", response=list[CardOut], summary="My cards", auth=holder_auth("balance", "loss_report"))
def my_cards(request):
    return [_card_out(v) for v in selectors.cards_of(holder_of(request))]


@router.get("/cards/{number}/code", response=CodeOut, summary="The current dynamic pay code (CARD-3)")
def pay_code(request, number: str):
    from django.conf import settings

    card = selectors.card_of(holder_of(request), number)
    codes.ensure_usable(card)
    credential = selectors.qr_credential(card)
    code = codes.current_code(credential)
    return {"code": code, "digits": codes.numeric(code, credential.pk), "valid_seconds": settings.QR_VALID_SECONDS,
            "refresh_seconds": settings.QR_STEP_SECONDS, "ticket": codes.status_ticket(credential)}


@router.get("/cards/{number}/code/status", response=CodeStatusOut,
            summary="Whether a shown pay code was used (then show the next one)")
def pay_code_status(request, number: str, code: str):
    card = selectors.card_of(holder_of(request), number)
    return payment_selectors.pay_code_status(credential=selectors.qr_credential(card), code=code)


@router.post("/cards/code-status", response=CodeStatusOut, auth=None,
             summary="Whether a shown pay code was used, by the code's ticket (no session: the pay-code page)")
def pay_code_status_by_ticket(request, payload: CodeStatusIn):
    return payment_selectors.pay_code_status(credential=codes.ticket_credential(payload.ticket), code=payload.code)


def pay_code_status_in_lane(request) -> tuple[int, dict] | None:
    """``pay_code_status_by_ticket`` in front of Django (api.lane): every open pay-code page asks every
    2 s, so its cost is a signature check and one indexed read, not a session and the middleware."""
    try:
        payload = CodeStatusIn.model_validate_json(request.body)
    except ValidationError:
        return None
    try:
        credential = codes.ticket_credential(payload.ticket)
        return 200, CodeStatusOut(**payment_selectors.pay_code_status(credential=credential, code=payload.code)
                                  ).model_dump()
    except DomainError as refusal:
        return refusal.status, refusal.as_dict()


@router.post("/cards/{number}/offline-codes", response=OfflineCodesOut, summary="A batch of one-time offline codes")
def offline_codes(request, number: str):
    card = selectors.card_of(holder_of(request), number)
    codes.ensure_usable(card)
    return {"codes": codes.offline_codes_issue(credential=selectors.qr_credential(card))}


@router.post("/cards/{number}/lost", response=CardOut, summary="Report lost — immediate (CARD-4)",
             auth=holder_auth("loss_report"))
def report_lost(request, number: str):
    person = holder_of(request)
    services.card_report_lost(actor=Actor.by_user(request.auth), card=selectors.card_of(person, number), channel="api")
    return _card_out(next(v for v in selectors.cards_of(person) if v.card.number == number))


class FoundIn(Schema):
    password: str = Field(description="the holder's login password or payment password")


@router.post("/cards/{number}/found", response=CardOut,
             summary="Take a loss report back, confirmed with the login or payment password")
def found(request, number: str, payload: FoundIn):
    person = holder_of(request)
    services.card_unreport(actor=Actor.by_user(request.auth), card=selectors.card_of(person, number), channel="api",
                           password=payload.password)
    return _card_out(next(v for v in selectors.cards_of(person) if v.card.number == number))


@router.get("/cards/{number}/replacement", response=ReplacementOut,
            summary="Before replacing: the fee and how it is paid, what moves at once, where a physical card waits")
def replacement(request, number: str):
    person = holder_of(request)
    card = selectors.card_of(person, number)
    preview = selectors.replacement_preview(card=card, fee=services.replacement_fee(card=card), channel="portal")
    return {"fee": preview.fee, "balance": preview.balance, "fee_paid": preview.fee_paid,
            "fee_payments": list(preview.fee_payments), "moves_now": preview.moves_now, "reserve": preview.reserve,
            "collect_point": preview.collect_point.pk if preview.collect_point else None,
            "places": [{"id": p.pk, "kind": p.kind, "name": p.name, "location": p.location}
                       for p in selectors.collect_places(person=person)]}


@router.post("/cards/{number}/replace", response={201: CardOut}, summary="Replace the card (CARD-5)")
def replace(request, number: str, payload: ReplaceIn):
    person = holder_of(request)
    point = next((p for p in selectors.collect_places(person=person) if p.pk == payload.collect_point), None)
    if payload.collect_point is not None and point is None:
        raise DomainError("collect_place_invalid")
    new = services.card_replace(actor=Actor.by_user(request.auth), card=selectors.card_of(person, number),
                                physical=payload.physical, channel="portal", fee_payment=payload.fee_payment,
                                collect_point=point)
    return Status(201, _card_out(next(v for v in selectors.cards_of(person) if v.card.pk == new.pk)))


class CertificatePhotoOut(Schema):
    id: int
    state: str
    uploaded_at: datetime


@router.post("/cards/photo", response={201: CertificatePhotoOut},
             summary="Upload my certificate photo (ID-7): JPEG or PNG, at most 5 MB; an operator reviews it")
def photo_upload(request, photo: File[UploadedFile]):
    uploaded = services.photo_upload(actor=Actor.by_user(request.auth), person=holder_of(request), upload=photo)
    return 201, {"id": uploaded.pk, "state": uploaded.state, "uploaded_at": uploaded.uploaded_at}


@router.post("/cards/migrate", summary="Move the old meal-card balance, once (CARD-7)")
def migrate(request):
    return {"amount": services.legacy_migrate(actor=Actor.by_user(request.auth), person=holder_of(request))}


@router.post("/cards/{number}/hce", response=HceOut,
             summary="Provision the phone's NFC (HCE) credential: the app then computes one-time codes offline")
def hce_provision(request, number: str):
    card = selectors.card_of(holder_of(request), number)
    codes.ensure_usable(card)
    credential = services.hce_rotate(actor=Actor.by_user(request.auth), card=card)
    uri = codes.totp(credential.secret).provisioning_uri(name=card.number, issuer_name="CampusCard")
    return {"token": credential.token, "otpauth_uri": uri, "code_format": f"CC1.{credential.token}.<8 digits>"}


@router.post("/devices/kiosk/replacement-fees", response={201: KioskFeeOut}, auth=DeviceSignature(),
             summary="A kiosk's cash acceptor took a card's replacement fee (signed device request, #17)")
def kiosk_replacement_fee(request, payload: KioskFeeIn, idempotency_key: str = Header(..., alias="Idempotency-Key")):
    """The holder then replaces the card at the kiosk though the lost card holds less than the fee. A retry of
    the request returns the first result; a second payment for the card is refused (give the notes back)."""
    device = request.auth
    if device.kind != device.Kind.KIOSK:
        raise DomainError("device_wrong_kind")
    card = Card.objects.filter(institution_id=device.institution_id, number=payload.card).first()
    if card is None:
        raise DomainError("card_not_found")
    row = services.replacement_fee_cash_at_kiosk(device=device, card=card, amount=payload.amount,
                                                 key=idempotency_key)
    return Status(201, {"card": card.number, "amount": row.amount, "method": row.method, "paid_at": row.paid_at})


@router.get("/devices/deny-list", response=CardDenyListOut, auth=DeviceSignature(),
            summary="Cards that must be refused offline, with the list's version (CARD-4)")
def deny_list(request, since: int = 0):
    device = request.auth
    version = DenyListVersion.objects.filter(institution_id=device.institution_id).values_list("version",
                                                                                              flat=True).first() or 0
    refused = Card.objects.filter(institution_id=device.institution_id,
                                  state__in=[Card.State.LOST, Card.State.FROZEN, Card.State.CANCELLED,
                                             Card.State.REPLACED])
    if since >= version:
        return {"version": version, "cards": [], "nfc_uids": []}
    return {"version": version, "cards": list(refused.values_list("number", flat=True)),
            "nfc_uids": [uid for uid in refused.values_list("credentials__uid", flat=True) if uid]}
