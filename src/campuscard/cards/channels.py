"""Outside channels bound to a holder's card (ID-6, HIT FAQ §2): a messaging mini-program or an app binds
with the ID number and the query password (or the holder binds it in the portal, after a password or
single sign-on login) and gets a token for exactly the permissions chosen; the holder sees and revokes
bindings. Here and not in identity because binding and revoking notify the holder (support is above
identity); the binding itself is identity's model."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.permissions import authorize
from campuscard.identity import throttle
from campuscard.identity.models import ChannelBinding, Person
from campuscard.identity.selectors import acting_user
from campuscard.identity.services import holder_user_ensure, query_password_verify, token_hash
from campuscard.support.models import Notification
from campuscard.support.services import notify

Scope = ChannelBinding.Scope
TOKEN_PREFIX = "ch_"
# Throttle buckets (identity.throttle): wrong query passwords per ID number, and per client address.
BIND_ID = "channel_bind_id"
BIND_ADDRESS = "channel_bind_address"
_LIVE_FIRST = [Person.Status.FULL_TIME, Person.Status.PART_TIME, Person.Status.ACTIVE]


def _scopes(scopes: Iterable[str]) -> list[str]:
    wanted = {str(scope).strip() for scope in scopes}
    if not wanted or not wanted <= set(Scope.values):
        raise DomainError("channel_scopes_invalid", allowed=", ".join(Scope.values))
    return [scope for scope in Scope.values if scope in wanted]  # one order, whatever the request's


def _channel_name(channel: str) -> str:
    name = " ".join((channel or "").split())
    if not 1 <= len(name) <= 64:
        raise DomainError("channel_name_invalid")
    return name


def _wait_minutes(id_key: str, address: str) -> int:
    window = settings.CHANNEL_BIND_LOCK_SECONDS
    seconds = max(throttle.bucket_wait(BIND_ID, id_key, limit=settings.CHANNEL_BIND_MAX_WRONG_PER_ID, window=window),
                  throttle.bucket_wait(BIND_ADDRESS, address, limit=settings.CHANNEL_BIND_MAX_WRONG_PER_ADDRESS,
                                       window=window))
    return -(-seconds // 60) if seconds else 0


def _holder_by_id_number(institution: Institution, id_number: str) -> Person | None:
    """The record to bind when a person has several (a graduate back under a new number): a live one,
    then the newest. Found by the ID number's HMAC blind index, never the (encrypted) number (#18 item 7)."""
    people = list(Person.objects.select_related("institution", "user")
                  .filter(institution=institution, id_number=id_number).order_by("-created_at", "-pk"))
    live = [person for person in people if person.status in _LIVE_FIRST]
    return (live or people or [None])[0]


def _binding_create(*, actor: Actor, person: Person, channel: str, scopes: list[str], via: str,
                    client_address: str | None) -> tuple[ChannelBinding, str]:
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        holder_user_ensure(person=person)  # the token acts as the holder's login (created like at a first login)
        binding = ChannelBinding.objects.create(person=person, channel=channel, scopes=scopes, via=via,
                                                prefix=plain[:10], token_hash=token_hash(token=plain),
                                                created_at=clock.now())
        audit_record(actor=actor, action="channel_bound", obj=binding, institution_id=person.institution_id,
                     after={"channel": channel, "scopes": scopes, "via": via, "address": client_address or ""})
        notify(person=person, kind=Notification.Kind.SECURITY, title=_("A channel was bound to your card"),
               body=_("%(channel)s may now use your card for: %(scopes)s. If this was not you, revoke it "
                      "under Security and change your query password."),
               params={"channel": channel, "scopes": ", ".join(binding.scope_labels())}, link="/security/")
    return binding, plain


def channel_bind(*, actor: Actor, institution: Institution, id_number: str, query_password: str, channel: str,
                 scopes: Iterable[str], client_address: str | None) -> tuple[ChannelBinding, str]:
    """Bind with the ID number and the query password (ID-6); the plain token is returned once.

    Wrong guesses count per ID number and per client address; past either limit the request is refused
    before anything is looked up or checked. A wrong ID number and a wrong password look the same."""
    scopes, channel = _scopes(scopes), _channel_name(channel)
    id_number = (id_number or "").strip().upper()
    id_key, address = f"{institution.pk}:{id_number}", client_address or "unknown"
    minutes = _wait_minutes(id_key, address)
    if minutes:
        raise DomainError("channel_bind_locked", minutes=minutes)
    person = _holder_by_id_number(institution, id_number) if id_number else None
    if person is None or not person.query_password:
        make_password(query_password or "")  # the same hashing work whatever is found: timing tells nothing
    if person is None or not query_password_verify(person=person, secret=query_password or ""):
        window = settings.CHANNEL_BIND_LOCK_SECONDS
        throttle.bucket_hit(BIND_ID, id_key, window=window, limit=settings.CHANNEL_BIND_MAX_WRONG_PER_ID, hold=True)
        throttle.bucket_hit(BIND_ADDRESS, address, window=window, limit=settings.CHANNEL_BIND_MAX_WRONG_PER_ADDRESS,
                            hold=True)
        raise DomainError("channel_bind_failed")
    throttle.bucket_clear(BIND_ID, id_key)  # not the address's count: one right guess must not reset it
    return _binding_create(actor=actor, person=person, channel=channel, scopes=scopes,
                           via=ChannelBinding.Via.QUERY_PASSWORD, client_address=client_address)


def channel_binding_create(*, actor: Actor, person: Person, channel: str, scopes: Iterable[str],
                           client_address: str | None = None) -> tuple[ChannelBinding, str]:
    """The holder binds a channel from the portal, signed in (with a password or single sign-on)."""
    user = acting_user(actor)
    if user is None or person.user_id != user.pk:
        raise DomainError("forbidden")
    return _binding_create(actor=actor, person=person, channel=_channel_name(channel), scopes=_scopes(scopes),
                           via=ChannelBinding.Via.PORTAL, client_address=client_address)


def channel_binding_revoke(*, actor: Actor, binding: ChannelBinding) -> ChannelBinding:
    """The holder, or an operator of the holder's institution, revokes a binding: its token stops at once."""
    user = acting_user(actor)
    if user is None:
        raise DomainError("forbidden")
    if binding.person.user_id != user.pk:
        authorize(user, "identity.change_channelbinding", binding.person.institution_id)
    with transaction.atomic():
        locked = ChannelBinding.objects.select_for_update().select_related("person").get(pk=binding.pk)
        if locked.revoked_at is not None:
            raise DomainError("channel_binding_not_live")
        locked.revoked_at, locked.revoked_by = clock.now(), user
        locked.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(actor=actor, action="channel_binding_revoked", obj=locked,
                     institution_id=locked.person.institution_id,
                     after={"channel": locked.channel, "by_holder": locked.person.user_id == user.pk})
        notify(person=locked.person, kind=Notification.Kind.SECURITY, title=_("A channel binding was revoked"),
               body=_("%(channel)s can no longer use your card."), params={"channel": locked.channel},
               link="/security/")
    binding.revoked_at, binding.revoked_by = locked.revoked_at, locked.revoked_by
    return binding
