"""Write an audit row in the caller's transaction (ARCHITECTURE rule 5)."""

from __future__ import annotations

from typing import Any

from django.db import models

from campuscard.core import clock
from campuscard.core.models import AuditLog


def audit_record(*, actor: Any, action: str, obj: models.Model | None = None, object_type: str = "",
                 object_id: str = "", institution_id: int | None = None,
                 before: dict | None = None, after: dict | None = None) -> AuditLog:
    """``actor`` is a user, or a string naming a device, job or system component."""
    user = actor if getattr(actor, "pk", None) and hasattr(actor, "is_authenticated") else None
    label = "" if user is not None else str(actor or "system")[:100]
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    if institution_id is None:
        institution_id = getattr(user, "institution_id", None)
    return AuditLog.objects.create(
        institution_id=institution_id, at=clock.now(), actor=user, actor_label=label, action=action,
        object_type=object_type, object_id=object_id, before=before, after=after,
    )
