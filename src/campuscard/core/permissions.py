"""One row-level permission path (ARCHITECTURE rule 6), after netbox's RestrictedQuerySet.

Every model that belongs to an institution names the lookup to it in ``institution_path``.
``restrict(queryset, user, action)`` keeps what the user may see or change:

* anonymous or inactive users: nothing;
* platform admins (superusers): everything, across institutions;
* everyone else: only with the model permission ``<app>.<action>_<model>`` (granted through role
  groups) and only rows of their own institution (TEN-1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser, AnonymousUser

ACTIONS = ("view", "add", "change", "delete")
_QS = TypeVar("_QS", bound=models.QuerySet)


def restrict(queryset: _QS, user: AbstractUser | AnonymousUser | None, action: str = "view") -> _QS:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.is_superuser:
        return queryset
    model = queryset.model
    if not user.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}"):
        return queryset.none()
    institution_id = getattr(user, "institution_id", None)
    if institution_id is None:
        return queryset.none()
    path = model.institution_path
    return queryset.filter(**{path: institution_id})


def can(user: Any, action: str, obj: models.Model) -> bool:
    """Object-level check through the same path."""
    return restrict(type(obj)._default_manager.filter(pk=obj.pk), user, action).exists()


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, user: Any, action: str = "view") -> RestrictedQuerySet:
        return restrict(self, user, action)


def authorize(user: Any, permission: str, institution_id: int | None) -> None:
    """Refuse unless ``user`` holds ``permission`` for that institution (superusers: any)."""
    from campuscard.core.errors import DomainError

    if user is None or not user.is_authenticated or not user.is_active:
        raise DomainError("not_authenticated")
    if user.is_superuser:
        return
    if not user.has_perm(permission) or institution_id is None or user.institution_id != institution_id:
        raise DomainError("forbidden")
