"""City buses (TRN-1, TRN-2): bus validators (device-signed) download their signed snapshot and deny-list
and upload taps in batches; holders bind cards, see rides and dispute one; bus operators and the Card
Center read the daily clearing file."""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from pydantic import BaseModel

from campuscard.api.auth import DeviceSignature, holder_of
from campuscard.cards import selectors as card_selectors
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.transit import offline, selectors, services

router = Router(tags=["transit"])


# --- validators (device-signed) ---------------------------------------------------------------------

# Plain pydantic models, not ninja's Schema: its per-object wrapper (for reading Django objects) cost a
# quarter of an upload's Python, once for each of a batch's thousand taps (docs/benchmarks.md).
class TapIn(BaseModel):
    counter: int = Field(ge=0, description="the validator's own tap counter: (validator, counter) is charged once")
    uid: str = Field("", description="the card's NFC UID as read (empty when a phone was tapped)")
    hce: str = Field("", description="a phone tap: the HCE credential's token from its one-time code")
    code: str = Field("", description="a phone tap: the code's 8 digits (checked against tapped_at)")
    tapped_at: dt.datetime = Field(description="when the card was tapped (with its offset)")
    stages: int = Field(1, ge=1, le=100, description="stages travelled (stage fares)")


class TapsIn(BaseModel):
    deny_version: int = Field(0, ge=0, description="the deny-list version the validator decided with")
    taps: list[TapIn] = Field(max_length=5000)


class TapsOut(Schema):
    received: int
    duplicates: int = Field(description="taps already uploaded (dropped: nothing charged twice)")
    charged: int
    fares: int = Field(description="fen charged by this upload")
    refused: list[dict] = Field(description="taps kept but not charged, with their code")
    flagged: list[dict] = Field(description="charged although the card was on a deny-list the validator lacked")


class DenyListOut(Schema):
    version: int
    nfc_uids: list[str]
    hce_tokens: list[str] = Field(description="phone credentials to refuse")


@router.get("/transit/validator/snapshot", auth=DeviceSignature(),
            summary="The signed offline snapshot of this bus validator: fares, bound cards, deny-list (TRN-2)")
def validator_snapshot(request):
    return offline.snapshot_build(validator=services.validator_of(device=request.auth))


@router.get("/transit/validator/deny-list", response=DenyListOut, auth=DeviceSignature(),
            summary="The validators' deny-list with its version; empty when `since` is current (TRN-2)")
def validator_deny_list(request, since: int = 0):
    validator = services.validator_of(device=request.auth)
    version = offline.deny_version(validator.device.institution_id)
    if since >= version:
        return {"version": version, "nfc_uids": [], "hce_tokens": []}
    institution_id = validator.device.institution_id
    return {"version": version, "nfc_uids": offline.denied_uids(institution_id),
            "hce_tokens": offline.denied_tokens(institution_id)}


@router.post("/transit/validator/taps", response=TapsOut, auth=DeviceSignature(),
             summary="Upload a batch of offline taps; the same batch again charges nothing (TRN-2)")
def validator_taps(request, payload: TapsIn):
    taps = payload.model_dump()["taps"]  # one call into pydantic's core, not one per tap
    return services.taps_upload(device=request.auth, taps=taps, deny_version=payload.deny_version).as_dict()


# --- holders -------------------------------------------------------------------------------------------

class BindIn(Schema):
    card_number: str
    accept_terms: bool = Field(description="the holder accepts the bus service's terms")
    with_card: bool = Field(True, description="validators accept the physical card (its NFC UID)")
    with_phone: bool = Field(False, description="validators accept the phone's NFC (HCE) credential")


class BindingOut(Schema):
    id: int
    card_number: str
    state: str
    bound_at: dt.datetime
    end_reason: str
    with_card: bool
    phone_bound: bool


class BindingPhoneIn(Schema):
    bound: bool = Field(description="true: bind the card's current phone credential; false: unbind the phone")


class BindingStateIn(Schema):
    state: str = Field(description="active | suspended | ended")


class RideOut(Schema):
    id: int
    tapped_at: dt.datetime
    posted_at: dt.datetime
    operator: str
    route: str
    fare_class: str
    fare: int = Field(description="fen")
    transfer: bool
    state: str
    refusal: str
    dispute: str | None


class DisputeIn(Schema):
    reason: str = Field(min_length=1, max_length=300)


def _binding_out(b) -> dict:
    return {"id": b.pk, "card_number": b.card.number, "state": b.state, "bound_at": b.created_at,
            "end_reason": b.end_reason, "with_card": b.with_card, "phone_bound": b.phone_bound}


@router.get("/transit/bindings", response=list[BindingOut], summary="My cards' bus bindings (TRN-1)")
def my_bindings(request):
    return [_binding_out(b) for b in selectors.bindings_of(holder_of(request))]


@router.post("/transit/bindings", response={201: BindingOut}, summary="Bind my card to the city buses (TRN-1)")
def bind(request, payload: BindIn):
    card = card_selectors.card_of(holder_of(request), payload.card_number)
    binding = services.binding_create(actor=Actor.by_user(request.auth), card=card,
                                      accept_terms=payload.accept_terms, with_card=payload.with_card,
                                      with_phone=payload.with_phone)
    return Status(201, _binding_out(binding))


@router.post("/transit/bindings/{binding_id}", response=BindingOut,
             summary="Suspend, resume or end my binding")
def binding_state(request, binding_id: int, payload: BindingStateIn):
    binding = get_object_or_404(selectors.bindings_of(holder_of(request)), pk=binding_id)
    return _binding_out(services.binding_set(actor=Actor.by_user(request.auth), binding=binding,
                                             state=payload.state, reason="holder"))


@router.post("/transit/bindings/{binding_id}/phone", response=BindingOut,
             summary="Bind my phone's NFC (HCE) credential to the buses, or unbind it")
def binding_phone(request, binding_id: int, payload: BindingPhoneIn):
    binding = get_object_or_404(selectors.bindings_of(holder_of(request)), pk=binding_id)
    return _binding_out(services.binding_phone_set(actor=Actor.by_user(request.auth), binding=binding,
                                                   bound=payload.bound))


@router.get("/transit/rides", response=list[RideOut], summary="My bus rides and their fares (latest 100)")
def my_rides(request):
    return [{"id": t.pk, "tapped_at": t.tapped_at, "posted_at": t.posted_at, "operator": t.operator.name,
             "route": t.route.code, "fare_class": t.fare_class, "fare": t.fare, "transfer": t.is_transfer,
             "state": t.state, "refusal": t.refusal,
             "dispute": t.dispute.state if hasattr(t, "dispute") else None} for t in selectors.rides_of(holder_of(request))]


@router.post("/transit/rides/{ride_id}/dispute", response={201: dict},
             summary="Dispute a ride that was not mine (within the appeal window from its posting)")
def dispute(request, ride_id: int, payload: DisputeIn):
    person = holder_of(request)
    tap = selectors.ride_of(person, ride_id)
    if tap is None:
        raise DomainError("transit_tap_not_found")
    opened = services.dispute_open(actor=Actor.by_user(request.auth), person=person, tap=tap, reason=payload.reason)
    return Status(201, {"id": opened.pk, "state": opened.state})


# --- operators and the Card Center ------------------------------------------------------------------------

class ClearingOut(Schema):
    operator: str
    day: dt.date
    count: int
    fares: int = Field(description="fen of the rides posted that day")
    refunds: int
    net: int
    ledger_fares: int = Field(description="the ledger's credits to the operator's clearing account that day")
    ledger_refunds: int
    reconciled: bool
    taps: list[dict]


@router.get("/transit/operators/{code}/clearing", response=ClearingOut,
            summary="The operator's daily clearing file, reconciled with the ledger; ?format=csv|xlsx for the file")
def clearing(request, code: str, day: dt.date | None = None, format: str = "json"):  # noqa: A002
    operator = selectors.operators_visible(request.auth).filter(code=code).first()
    if operator is None:
        raise DomainError("transit_operator_not_found")
    c = selectors.clearing(operator, day)
    if format in ("csv", "xlsx"):
        body = selectors.clearing_csv(c) if format == "csv" else selectors.clearing_xlsx(c)
        kind = "text/csv; charset=utf-8" if format == "csv" else \
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        response = HttpResponse(body, content_type=kind)
        response["Content-Disposition"] = f'attachment; filename="{selectors.clearing_filename(c, format)}"'
        return response
    return {"operator": operator.code, "day": c.day, "count": c.count, "fares": c.fares, "refunds": c.refunds,
            "net": c.net, "ledger_fares": c.ledger_fares, "ledger_refunds": c.ledger_refunds,
            "reconciled": c.reconciled,
            "taps": [{"validator": t.device.code, "counter": t.counter, "route": t.route.code,
                      "tapped_at": t.tapped_at.isoformat(), "posted_at": t.posted_at.isoformat(),
                      "card": t.card.number if t.card else None, "fare_class": t.fare_class, "fare": t.fare,
                      "state": t.state, "flag": t.flagged or t.refusal, "transfer_id": t.transfer_id}
                     for t in c.taps]}
