"""Write an audit row in the caller's transaction (ARCHITECTURE rule 5)."""

from __future__ import annotations

from django.db import models

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.models import AuditLog


def audit_record(*, actor: Actor, action: str, obj: models.Model | None = None, object_type: str = "",
                 object_id: str = "", institution_id: int | None = None,
                 before: dict | None = None, after: dict | None = None) -> AuditLog:
    """A user actor is linked (``actor``); a device or system actor is stored by name (``actor_label``)."""
    if not isinstance(actor, Actor):
        raise TypeError(f"audit_record needs a core.actors.Actor, not {actor!r}")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    if institution_id is None:
        institution_id = getattr(actor.user, "institution_id", None)
    return AuditLog.objects.create(
        institution_id=institution_id, at=clock.now(), actor_id=actor.user.pk if actor.user else None,
        actor_label=actor.label, action=action,
        object_type=object_type, object_id=object_id, before=before, after=after,
    )
