"""The alerts found by watching (SUP-4): low balance after a payment, the monthly payment-password change
(PAY-3), logins from a new device; and the holder's choices (which kinds, the low-balance threshold)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from huey.contrib.djhuey import db_task

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.money import format_fen
from campuscard.identity.models import Person, User
from campuscard.support.models import AlertPreference, Notification, SeenDevice
from campuscard.support.services import SWITCHABLE, Recipient, muted_kinds_of, notify, notify_many

Kind = Notification.Kind
DEVICE_COOKIE = "cc_device"


# --- preferences ------------------------------------------------------------------------------------

def low_balance_threshold_of(*, person_id: int) -> int:
    value = AlertPreference.objects.filter(person_id=person_id).values_list("low_balance_threshold", flat=True).first()
    return settings.LOW_BALANCE_THRESHOLD_DEFAULT_FEN if value is None else value


def preferences_of(*, person: Person) -> dict:
    muted = muted_kinds_of(person_id=person.pk)
    return {"kinds": {kind.value: kind not in muted for kind in SWITCHABLE},
            "low_balance_threshold": low_balance_threshold_of(person_id=person.pk)}


def preferences_set(*, actor: Actor, person: Person, enabled: Iterable[str], low_balance_threshold: int) -> dict:
    """The holder switches kinds on and off (security events cannot be switched off) and sets the
    low-balance threshold, 0 … ``LOW_BALANCE_THRESHOLD_MAX_FEN`` fen."""
    enabled = {str(kind) for kind in enabled}
    unknown = enabled - set(SWITCHABLE)
    if unknown:
        raise DomainError("alert_kind_not_switchable", kinds=", ".join(sorted(unknown)))
    if isinstance(low_balance_threshold, bool) or not isinstance(low_balance_threshold, int) \
            or not 0 <= low_balance_threshold <= settings.LOW_BALANCE_THRESHOLD_MAX_FEN:
        raise DomainError("low_balance_threshold_invalid", max=format_fen(settings.LOW_BALANCE_THRESHOLD_MAX_FEN))
    muted = [kind.value for kind in SWITCHABLE if kind not in enabled]
    AlertPreference.objects.update_or_create(person=person, defaults={
        "muted_kinds": muted, "low_balance_threshold": low_balance_threshold, "updated_at": clock.now()})
    audit_record(actor=actor, action="alert_preferences_changed", obj=person, institution_id=person.institution_id,
                 after={"muted": muted, "low_balance_threshold": low_balance_threshold})
    return preferences_of(person=person)


# --- low balance -------------------------------------------------------------------------------------

def low_balance_watch(*, person_id: int, payment_id: int, amount: int, balance_after: int) -> None:
    """Called by a payment with what it already knows (no statement here): when the balance it left is under
    the highest threshold anyone may set, the worker checks the holder's own threshold after the commit."""
    if balance_after >= settings.LOW_BALANCE_THRESHOLD_MAX_FEN or amount <= 0:
        return
    transaction.on_commit(lambda: low_balance_check(person_id, payment_id, amount, balance_after))


@db_task(retries=3, retry_delay=30)
def low_balance_check(person_id: int, payment_id: int, amount: int, balance_after: int) -> bool:
    """The worker's job, enqueued by a payment that left the balance under the highest possible threshold."""
    return low_balance_alert(person_id=person_id, payment_id=payment_id, amount=amount,
                             balance_after=balance_after) is not None


def low_balance_alert(*, person_id: int, payment_id: int, amount: int, balance_after: int) -> Notification | None:
    """Once per crossing: only the payment that took the balance from at or above the threshold to below it
    alerts (the next one below does not; after a recharge above it, the next crossing alerts again)."""
    threshold = low_balance_threshold_of(person_id=person_id)
    if not balance_after < threshold <= balance_after + amount:
        return None
    person = Person.objects.select_related("user").get(pk=person_id)
    return notify(person=person, kind=Kind.LOW_BALANCE, title=_("Your card balance is low"),
                  body=_("After a payment of %(amount)s your balance is %(balance)s, below your alert threshold of "
                         "%(threshold)s. Recharge in the portal or at a kiosk."),
                  params={"amount": format_fen(amount), "balance": format_fen(balance_after),
                          "threshold": format_fen(threshold)},
                  link="/wallet/", dedupe_key=f"low_balance:payment:{payment_id}")


# --- the monthly payment-password change (PAY-3) ------------------------------------------------------

def password_due_alerts(*, now: dt.datetime | None = None) -> int:
    """Every holder whose payment password is due for its monthly change, once per due period (the key names
    the password's change time: after the next change a new period starts)."""
    now = now or clock.now()
    cutoff = now - dt.timedelta(days=settings.PAYMENT_PASSWORD_MAX_AGE_DAYS)
    due = (Person.objects.exclude(payment_password="").filter(payment_password_changed_at__lt=cutoff)
           .values_list("pk", "payment_password_changed_at", "email", "user__language"))
    recipients = [Recipient(person_id=pk, language=language or "", email=email or "", params={},
                            dedupe_key=f"password_due:{pk}:{changed.isoformat()}")
                  for pk, changed, email, language in due.iterator(chunk_size=2000)]
    if not recipients:
        return 0
    with transaction.atomic():
        return notify_many(kind=Kind.PASSWORD_DUE, title=_("Time to change your payment password"),
                           body=_("Your payment password is more than a month old. Payments that need it stop "
                                  "until you change it under Security; small password-free payments go on."),
                           link="/security/", recipients=recipients)


# --- logins from a new device ------------------------------------------------------------------------

def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def device_login(*, user: User, device_id: str | None, user_agent: str, address: str) -> tuple[str, bool]:
    """Record a login's device; returns the device id for the cookie and whether the holder was alerted.

    A device is the cookie's id, or else the user agent and address; it is "seen" when either was seen for
    this account in the last ``NEW_DEVICE_DAYS`` days. An account's very first login has nothing to compare
    with and is not reported."""
    now = clock.now()
    device_id = device_id if device_id and len(device_id) <= 64 and device_id.isalnum() else secrets.token_hex(16)
    keys = [_digest(f"id:{device_id}"), _digest(f"ua:{user_agent[:300]}|{address}")]
    seen = SeenDevice.objects.filter(user=user)
    recent = seen.filter(key__in=keys, last_seen_at__gte=now - dt.timedelta(days=settings.NEW_DEVICE_DAYS)).exists()
    first_ever = not seen.exists()
    for key in keys:
        updated = SeenDevice.objects.filter(user=user, key=key).update(last_seen_at=now, label=user_agent[:200])
        if not updated:
            SeenDevice.objects.bulk_create([SeenDevice(user=user, key=key, label=user_agent[:200], first_seen_at=now,
                                                       last_seen_at=now)], ignore_conflicts=True)
    if recent or first_ever:
        return device_id, False
    person = Person.objects.filter(user=user).order_by("-created_at", "-pk").first()
    if person is None:
        return device_id, False
    notify(person=person, kind=Kind.SECURITY, title=_("New sign-in to your account"),
           body=_("Your account was signed in from a device not seen in %(days)s days (%(device)s, address "
                  "%(address)s). If this was not you, change your password under Security and report your "
                  "card lost."),
           params={"days": settings.NEW_DEVICE_DAYS, "device": user_agent[:120] or "?", "address": address or "?"},
           link="/security/")
    return device_id, True
