"""Alerts (SUP-4): the holder's alert settings and unread counts, and the outbox a bound channel (ID-6)
polls with its token — the sandbox of a real push: messages signed, acknowledged idempotently."""

from __future__ import annotations

from ninja import Field, Router, Schema

from campuscard.api.auth import ChannelToken, holder_auth, holder_of
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.support import alerts, delivery, selectors

router = Router(tags=["alerts"])


class PreferencesOut(Schema):
    kinds: dict[str, bool] = Field(description="Each switchable kind: on or off (security events are always on)")
    low_balance_threshold: int = Field(description="fen; a payment taking the balance below it alerts once")


class PreferencesIn(Schema):
    enabled: list[str] = Field(description="The switchable kinds to receive; the others are switched off")
    low_balance_threshold: int = Field(description="fen, 0 … LOW_BALANCE_THRESHOLD_MAX_FEN")


class UnreadOut(Schema):
    unread: int
    by_kind: dict[str, int]


class OutboxItem(Schema):
    id: int
    notification_id: int
    kind: str
    title: str
    body: str
    link: str
    created_at: str
    signature: str = Field(description="hex HMAC-SHA256 of the other fields (canonical JSON, keys sorted, no "
                                       "spaces) keyed by the hex SHA-256 of the channel's token")


class AckIn(Schema):
    ids: list[int]


class AckOut(Schema):
    acked: int


class ErrorOut(Schema):
    code: str
    message: str


@router.get("/me/alerts", response=PreferencesOut, summary="My alert settings (SUP-4)")
def preferences(request):
    return alerts.preferences_of(person=holder_of(request))


@router.put("/me/alerts", response={200: PreferencesOut, 422: ErrorOut},
            summary="Switch alert kinds on or off and set the low-balance threshold (SUP-4)")
def preferences_set(request, payload: PreferencesIn):
    return alerts.preferences_set(actor=Actor.by_user(request.auth), person=holder_of(request),
                                  enabled=payload.enabled, low_balance_threshold=payload.low_balance_threshold)


@router.get("/me/notifications/unread", response=UnreadOut, auth=holder_auth("notifications"),
            summary="How many of my notifications are unread, per kind")
def unread(request):
    by_kind = selectors.unread_by_kind(person=holder_of(request))
    return {"unread": sum(by_kind.values()), "by_kind": by_kind}


def _binding(request):
    binding = getattr(request, "channel", None)
    if binding is None:
        raise DomainError("forbidden")
    return binding


@router.get("/channels/outbox", response=list[OutboxItem], auth=[ChannelToken("notifications")],
            summary="A bound channel's undelivered notifications, oldest first (poll, show, then ack)")
def outbox(request):
    return [delivery.outbox_payload(message) for message in delivery.outbox_pending(binding=_binding(request))]


@router.post("/channels/outbox/ack", response=AckOut, auth=[ChannelToken("notifications")],
             summary="Acknowledge shown messages; idempotent (acknowledging twice changes nothing)")
def outbox_ack(request, payload: AckIn):
    return {"acked": delivery.outbox_ack(binding=_binding(request), ids=payload.ids[:500])}
