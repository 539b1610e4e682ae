"""Visitor invitation links (ACC-3, "a visitor through a host-approved link").

A host creates a link for a purpose, the zones a visitor may enter, how many visitors and for how long
the link works. A visitor opens it without an account, gives name, phone and the visit's window, and
gets a page of their own (a second secret token) that shows "waiting", the QR code once approved, or
the host's reason for declining. Each request waits for the host unless the host chose, when creating
the link, to grant requests at once. Either way the pass is an ordinary ``VisitorPass`` made by
``services.visitor_pass_create`` on approval, so every pass rule (6 hours ahead, length, zones, an
active host card) holds at that moment; a window whose start has passed while waiting starts at the
approval instead.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from campuscard.access import services
from campuscard.access.models import VisitorInvite, VisitorRequest, Zone
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.identity.models import Person
from campuscard.support.models import Notification
from campuscard.support.services import notify

# What the portal offers; the API takes any whole number of hours up to VISITOR_INVITE_MAX_HOURS.
LINK_HOURS = ((24, _("1 day")), (72, _("3 days")), (168, _("7 days")))


def invite_create(*, actor: Actor, host: Person, purpose: str, zones: list[Zone], hours: int, max_visitors: int = 1,
                  needs_approval: bool = True) -> VisitorInvite:
    longest = getattr(settings, "VISITOR_INVITE_MAX_HOURS", 168)
    if not purpose.strip() or not 1 <= max_visitors <= 50:
        raise DomainError("validation_error")
    if not 1 <= hours <= longest:
        raise DomainError("visitor_invite_hours", hours=longest)
    zones = list(zones)
    services.visitor_host_check(host=host, zones=zones)
    now = clock.now()
    with transaction.atomic():
        invite = VisitorInvite.objects.create(
            institution_id=host.institution_id, host=host, token=secrets.token_urlsafe(32), purpose=purpose[:100],
            max_visitors=max_visitors, needs_approval=needs_approval, expires_at=now + dt.timedelta(hours=hours),
            created_at=now)
        invite.zones.set(zones)
        audit_record(actor=actor, action="visitor_invite_created", obj=invite, institution_id=host.institution_id,
                     after={"zones": [z.code for z in zones], "hours": hours, "max_visitors": max_visitors,
                            "needs_approval": needs_approval})
    return invite


def invite_revoke(*, actor: Actor, invite: VisitorInvite) -> None:
    """The link stops working; passes already granted through it stay (revoke those one by one)."""
    if not VisitorInvite.objects.filter(pk=invite.pk, revoked_at=None).update(revoked_at=clock.now()):
        raise DomainError("visitor_invite_invalid")
    audit_record(actor=actor, action="visitor_invite_revoked", obj=invite, institution_id=invite.institution_id)


def invite_open(*, token: str) -> VisitorInvite:
    """The link a visitor opened, if it still works (unknown, revoked and expired links look the same)."""
    invite = VisitorInvite.objects.select_related("host", "institution").filter(token=token).first()
    if invite is None or invite.revoked_at is not None or invite.expires_at <= clock.now():
        raise DomainError("visitor_invite_invalid")
    return invite


def places_left(*, invite: VisitorInvite) -> int:
    taken = invite.requests.exclude(state=VisitorRequest.State.REJECTED).count()
    return max(0, invite.max_visitors - taken)


def request_submit(*, token: str, visitor_name: str, visitor_phone: str, valid_from: dt.datetime,
                   valid_to: dt.datetime) -> VisitorRequest:
    name, phone = visitor_name.strip(), visitor_phone.strip()
    if not name or not 5 <= len(phone) <= 20:
        raise DomainError("validation_error")
    with transaction.atomic():
        invite = invite_open(token=token)
        VisitorInvite.objects.select_for_update().filter(pk=invite.pk).first()  # places are counted one by one
        if places_left(invite=invite) == 0:
            raise DomainError("visitor_invite_used_up")
        services.visitor_window_check(valid_from=valid_from, valid_to=valid_to)
        request = VisitorRequest.objects.create(
            invite=invite, token=secrets.token_urlsafe(32), visitor_name=name[:100], visitor_phone=phone[:20],
            valid_from=valid_from, valid_to=valid_to, requested_at=clock.now())
        audit_record(actor=Actor.system(f"visitor:{name[:40]}"), action="visitor_requested", obj=request,
                     institution_id=invite.institution_id)
        if not invite.needs_approval:
            return _approve(request, actor=Actor.system(f"invite:{invite.pk}"), user=None)
    notify(person=invite.host, kind=Notification.Kind.APPLICATION, title=_("A visitor asks for a pass"),
           body=_("%(name)s asks to visit (%(purpose)s). Approve or decline it under Access → Visitors."),
           params={"name": name, "purpose": invite.purpose}, link="/access/visitors/")
    return request


def request_decide(*, actor: Actor, host: Person, request: VisitorRequest, approve: bool, note: str = "") -> VisitorRequest:
    """The inviting host approves (the pass is made now) or declines with an optional reason."""
    if request.invite.host_id != host.pk:
        raise DomainError("forbidden")
    with transaction.atomic():
        locked = VisitorRequest.objects.select_for_update().get(pk=request.pk)
        if locked.state != VisitorRequest.State.REQUESTED:
            raise DomainError("visitor_request_decided")
        user = getattr(host, "user", None)
        if approve:
            return _approve(locked, actor=actor, user=user, note=note)
        locked.state, locked.decision_note = VisitorRequest.State.REJECTED, note[:200]
        locked.decided_at, locked.decided_by = clock.now(), user
        locked.save(update_fields=["state", "decision_note", "decided_at", "decided_by"])
        audit_record(actor=actor, action="visitor_request_declined", obj=locked,
                     institution_id=locked.invite.institution_id, after={"note": note[:200]})
    return locked


def _approve(request: VisitorRequest, *, actor: Actor, user, note: str = "") -> VisitorRequest:
    now = clock.now()
    invite = request.invite
    if request.valid_to <= now:
        raise DomainError("visitor_request_expired")
    visitor_pass, _code = services.visitor_pass_create(
        actor=actor, host=invite.host, visitor_name=request.visitor_name, visitor_phone=request.visitor_phone,
        zones=list(invite.zones.all()), valid_from=max(request.valid_from, now), valid_to=request.valid_to)
    request.state, request.visitor_pass, request.decision_note = VisitorRequest.State.APPROVED, visitor_pass, note
    request.decided_at, request.decided_by = now, user
    request.save(update_fields=["state", "visitor_pass", "decision_note", "decided_at", "decided_by"])
    return request


def request_view(*, token: str) -> VisitorRequest:
    """A visitor's own page: by its secret token only."""
    request = (VisitorRequest.objects.select_related("invite__institution", "invite__host", "visitor_pass")
               .filter(token=token).first())
    if request is None:
        raise DomainError("visitor_invite_invalid")
    return request
