"""Access control: gate decisions, offline snapshots and event upload for gates (device-signed, ACC-1 … ACC-5);
campus-entry, lab-permit and visitor-pass requests for holders (ACC-2, ACC-3)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from pydantic import BaseModel, ValidationError

from campuscard.access import facts, invites, offline, pages, services
from campuscard.access.errors import rule_message
from campuscard.access.models import AccessEvent, Zone
from campuscard.api import lane
from campuscard.api.auth import CachedDeviceSignature, DeviceSignature, holder_of
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError

router = Router(tags=["access"])


# The gate's two schemas are plain pydantic models: ninja's Schema adds a validator for reading ORM
# objects, which these never are, at a cost on the rush path (docs/decisions.md).
class DecideIn(BaseModel):
    zone: str = Field(description="the zone code this gate guards")
    code: str = Field("", description="the holder's dynamic QR / HCE code")
    nfc_uid: str = Field("", description="the tapped physical card's UID")
    visitor_code: str = Field("", description="a visitor code (CV1.…)")


class DecisionOut(BaseModel):
    admitted: bool
    rule: str
    message: str
    zone: str
    event_id: int


class EventsIn(Schema):
    # Each event is judged on its own (services.events_upload): a malformed one comes back in "rejected"
    # instead of refusing the whole buffer, so they are plain objects here.
    events: list[Any] = Field(max_length=5000, description=(
        'each {"sequence": int ≥ 0, "zone": code, "decided_at": ISO 8601 with offset, "admitted": bool, '
        '"rule": rule code, "credential_kind": "nfc" | "code" | "visitor", "nfc_uid"?, "visitor_pass"?}'))


class RejectedEvent(Schema):
    index: int
    sequence: int | None
    reason: str = Field(description="malformed, zone_not_guarded, rule_unknown or credential_kind_unknown")


class EventsOut(Schema):
    accepted: int
    duplicates: int
    rejected: list[RejectedEvent] = Field(description="events not stored (the rest are); drop them from the buffer")


class CampusEntryIn(Schema):
    reason: str = Field("", max_length=200)


class EntryApplicationOut(Schema):
    id: int
    state: str


class SlotIn(Schema):
    start: str = Field(pattern=r"^\d{2}:\d{2}$")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")
    weekday: int | None = Field(None, ge=0, le=6)
    date: dt.date | None = None


class LabPermitIn(Schema):
    zone: str
    valid_from: dt.date
    valid_to: dt.date
    slots: list[SlotIn] = Field(min_length=1, max_length=50)
    purpose: str = Field("", max_length=200)


class VisitorPassIn(Schema):
    visitor_name: str = Field(min_length=1, max_length=100)
    visitor_phone: str = Field(min_length=5, max_length=20)
    zones: list[str] = Field(min_length=1, max_length=20)
    valid_from: dt.datetime
    valid_to: dt.datetime


class VisitorPassOut(Schema):
    id: int
    code: str
    valid_from: dt.datetime
    valid_to: dt.datetime


class MyEventOut(Schema):
    zone: str
    decided_at: dt.datetime
    admitted: bool
    rule: str
    message: str


def _decide(gate, payload: DecideIn, nonce=None) -> dict:
    outcome = services.gate_decide(device=gate, zone_code=payload.zone, code=payload.code, nfc_uid=payload.nfc_uid,
                                   visitor_code=payload.visitor_code, nonce=nonce)
    # DecisionOut's fields, all JSON already: not validated again on the rush path
    return {"admitted": outcome.decision.admitted, "rule": outcome.decision.rule,
            "message": rule_message(outcome.decision.rule), "zone": outcome.zone, "event_id": outcome.event_id}


def gate_decide_in_lane(request) -> tuple[int, dict] | None:
    """``gate_decide`` in front of Django (api.lane): the same domain call, with the request's nonce
    left to the decision (claimed in the statement that logs it). A refusal of the request itself (bad
    body, replay, unknown zone …) goes on to Django, which answers it with its code."""
    gate, nonce = lane.verify_deferring_nonce(request, load=facts.gate_facts, forget=facts.gate_forget)
    try:
        payload = DecideIn.model_validate_json(request.body)
    except ValidationError:
        return None
    try:
        return 200, _decide(gate, payload, nonce)
    finally:
        lane.mark_spent(request, gate, nonce)


def _gate_nonce_claim(gate: facts.GateFacts, nonce: str) -> bool:
    from campuscard.devices.services import gate_nonce_claim

    return gate_nonce_claim(device_id=gate.device_id, nonce=nonce)


@router.post("/access/gate/decide", response=DecisionOut,
             auth=CachedDeviceSignature(load=facts.gate_facts, forget=facts.gate_forget, claim=_gate_nonce_claim),
             summary="Admit or refuse a credential at a zone, logged (ACC-1 … ACC-5)")
def gate_decide(request, payload: DecideIn):
    return _decide(request.auth, payload)


@router.get("/access/gate/snapshot", auth=DeviceSignature(),
            summary="The signed offline snapshot for this gate (ACC-5)")
def gate_snapshot(request):
    return offline.snapshot_build(device=request.auth)


@router.post("/access/gate/events", response=EventsOut, auth=DeviceSignature(),
             summary="Upload decisions made offline; resent sequence numbers are dropped (ACC-5)")
def gate_events(request, payload: EventsIn):
    return services.events_upload(device=request.auth, events=payload.events)


def _zone(person, code: str) -> Zone:
    zone = Zone.objects.filter(institution_id=person.institution_id, code=code, active=True).first()
    if zone is None:
        raise DomainError("zone_unknown")
    return zone


@router.post("/access/campus-entry", response={201: EntryApplicationOut}, summary="Apply for campus entry (ACC-2)")
def campus_entry_apply(request, payload: CampusEntryIn):
    approval = services.campus_entry_apply(actor=Actor.by_user(request.auth), person=holder_of(request), reason=payload.reason)
    return Status(201, {"id": approval.pk, "state": approval.state})


class AddonOut(Schema):
    lab: bool


@router.post("/access/lab-addon", response=AddonOut, summary="Add the lab add-on to my card package (APP-4)")
def lab_addon_add(request):
    services.access_addon_grant(actor=Actor.by_user(request.auth), person=holder_of(request))
    return {"lab": True}


@router.delete("/access/lab-addon", response=AddonOut, summary="Remove the lab add-on from my card package")
def lab_addon_remove(request):
    services.access_addon_revoke(actor=Actor.by_user(request.auth), person=holder_of(request))
    return {"lab": False}


@router.post("/access/lab-permits", response={201: EntryApplicationOut}, summary="Apply for a lab time-slot permit")
def lab_permit_apply(request, payload: LabPermitIn):
    person = holder_of(request)
    weekly = [{"weekday": s.weekday, "start": s.start, "end": s.end} for s in payload.slots if s.date is None]
    dated = [{"date": s.date.isoformat(), "start": s.start, "end": s.end} for s in payload.slots if s.date]
    if any(s.date is None and s.weekday is None for s in payload.slots):
        raise DomainError("lab_slots_invalid", reason=_("each slot needs a start, an end and a weekday or a date"))
    permit = services.lab_permit_apply(actor=Actor.by_user(request.auth), person=person, zone=_zone(person, payload.zone),
                                       valid_from=payload.valid_from, valid_to=payload.valid_to, weekly_slots=weekly,
                                       dated_slots=dated, purpose=payload.purpose)
    return Status(201, {"id": permit.pk, "state": permit.state})


@router.post("/access/visitor-passes", response={201: VisitorPassOut}, summary="Invite a visitor (ACC-3)")
def visitor_pass_create(request, payload: VisitorPassIn):
    person = holder_of(request)
    visitor_pass, code = services.visitor_pass_create(
        actor=Actor.by_user(request.auth), host=person, visitor_name=payload.visitor_name, visitor_phone=payload.visitor_phone,
        zones=[_zone(person, code) for code in payload.zones], valid_from=payload.valid_from,
        valid_to=payload.valid_to)
    return Status(201, {"id": visitor_pass.pk, "code": code, "valid_from": visitor_pass.valid_from,
                        "valid_to": visitor_pass.valid_to})


class VisitorInviteIn(Schema):
    purpose: str = Field(min_length=1, max_length=100)
    zones: list[str] = Field(min_length=1, max_length=20)
    hours: int = Field(72, ge=1, description="how long the link works (at most VISITOR_INVITE_MAX_HOURS)")
    max_visitors: int = Field(1, ge=1, le=50)
    needs_approval: bool = Field(True, description="the host approves each visitor (else passes are granted at once)")


class VisitorInviteOut(Schema):
    id: int
    url: str
    expires_at: dt.datetime


class VisitorRequestIn(Schema):
    visitor_name: str = Field(min_length=1, max_length=100)
    visitor_phone: str = Field(min_length=5, max_length=20)
    valid_from: dt.datetime
    valid_to: dt.datetime


class VisitorRequestOut(Schema):
    state: str
    status_url: str = Field(description="the visitor's own page: the code appears there once approved")


class VisitorDecisionIn(Schema):
    approve: bool
    note: str = Field("", max_length=200)


@router.post("/access/visitor-invites", response={201: VisitorInviteOut},
             summary="Create an invitation link: visitors ask for their own pass (ACC-3)")
def visitor_invite_create(request, payload: VisitorInviteIn):
    person = holder_of(request)
    invite = invites.invite_create(actor=Actor.by_user(request.auth), host=person, purpose=payload.purpose,
                                   zones=[_zone(person, code) for code in payload.zones], hours=payload.hours,
                                   max_visitors=payload.max_visitors, needs_approval=payload.needs_approval)
    return Status(201, {"id": invite.pk, "url": request.build_absolute_uri(reverse("portal:visit", args=[
        invite.token])), "expires_at": invite.expires_at})


@router.post("/visit/{token}/requests", response={201: VisitorRequestOut}, auth=None,
             summary="A visitor asks for a pass through a host's invitation link (no account)")
def visitor_request_submit(request, token: str, payload: VisitorRequestIn):
    visitor_request = invites.request_submit(token=token, visitor_name=payload.visitor_name,
                                             visitor_phone=payload.visitor_phone, valid_from=payload.valid_from,
                                             valid_to=payload.valid_to)
    return Status(201, {"state": visitor_request.state, "status_url": request.build_absolute_uri(
        reverse("portal:visit_status", args=[visitor_request.token]))})


@router.post("/access/visitor-requests/{request_id}/decision", response=VisitorRequestOut,
             summary="The inviting host approves or declines a visitor's request")
def visitor_request_decide(request, request_id: int, payload: VisitorDecisionIn):
    person = holder_of(request)
    visitor_request = pages.request_of(person, request_id)
    if visitor_request is None:
        raise DomainError("not_found")
    decided = invites.request_decide(actor=Actor.by_user(request.auth), host=person, request=visitor_request,
                                     approve=payload.approve, note=payload.note)
    return {"state": decided.state, "status_url": request.build_absolute_uri(
        reverse("portal:visit_status", args=[decided.token]))}


@router.get("/access/events", response=list[MyEventOut], summary="My own entries (latest 100)")
def my_events(request):
    rows = AccessEvent.objects.filter(person=holder_of(request)).select_related("zone").order_by("-decided_at")[:100]
    return [{"zone": e.zone.name, "decided_at": e.decided_at, "admitted": e.admitted, "rule": e.rule,
             "message": rule_message(e.rule)} for e in rows]
