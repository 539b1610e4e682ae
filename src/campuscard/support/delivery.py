"""The worker's half of a notification (SUP-4): e-mail it and put it in each bound channel's outbox (ID-6),
once per channel however often the job runs — the unique ``Delivery``/``OutboxMessage`` rows are the guard.
A failed e-mail rolls its ``Delivery`` row back, so Huey's retry sends it."""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from huey.contrib.djhuey import db_task

from campuscard.core import clock
from campuscard.identity.models import ChannelBinding
from campuscard.support.models import Delivery, Notification, OutboxMessage

EMAIL = "email"


def deliver(*, notification_id: int) -> list[str]:
    """Send one notification on every channel it has not been sent on yet; the channels it went out on now."""
    note = Notification.objects.select_related("person").filter(pk=notification_id).first()
    if note is None:
        return []
    sent = []
    if note.person.email and _once(note, EMAIL, lambda: send_mail(
            f"[CampusCard] {note.title}", note.body, settings.DEFAULT_FROM_EMAIL, [note.person.email])):
        sent.append(EMAIL)
    bindings = [binding for binding in ChannelBinding.objects.filter(person_id=note.person_id, revoked_at=None)
                if ChannelBinding.Scope.NOTIFICATIONS in (binding.scopes or [])]
    for binding in bindings:
        channel = f"binding:{binding.pk}"
        if _once(note, channel, lambda binding=binding: OutboxMessage.objects.get_or_create(
                binding=binding, notification=note, defaults={"created_at": clock.now()})):
            sent.append(channel)
    return sent


@db_task(retries=3, retry_delay=60)
def deliver_notifications(ids: list[int]) -> int:
    """The worker's job (enqueued after the commit that wrote them): e-mail and channel outboxes, once per
    notification and channel."""
    return sum(len(deliver(notification_id=pk)) for pk in ids)


def _once(note: Notification, channel: str, send) -> bool:
    try:
        with transaction.atomic():
            Delivery.objects.create(notification=note, channel=channel, created_at=clock.now())
            send()
    except IntegrityError:
        return False  # sent already (a job run twice, or a concurrent twin)
    return True


def outbox_payload(message: OutboxMessage) -> dict:
    """What the channel receives, with an HMAC-SHA256 over it keyed by its token's SHA-256 (the channel
    computes the same key from the token it holds; we keep only the hash)."""
    note = message.notification
    body = {"id": message.pk, "notification_id": note.pk, "kind": note.kind, "title": note.shown_title,
            "body": note.shown_body, "link": note.link, "created_at": note.created_at.isoformat()}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    body["signature"] = hmac.new(message.binding.token_hash.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    return body


def outbox_pending(*, binding: ChannelBinding, limit: int = 50) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.select_related("notification", "binding")
                .filter(binding=binding, acked_at=None)[:limit])


def outbox_ack(*, binding: ChannelBinding, ids: list[int]) -> int:
    """Idempotent: acknowledging a message twice (or another binding's) changes nothing."""
    OutboxMessage.objects.filter(binding=binding, pk__in=ids, acked_at=None).update(acked_at=clock.now())
    return OutboxMessage.objects.filter(binding=binding, pk__in=ids).exclude(acked_at=None).count()
