"""Who acts: every service that changes state takes an ``Actor`` and writes it on the audit row (rule 5).

Three kinds, built by their constructors and never from a bare string or user:

* ``Actor.by_user(user)``   — a signed-in person (operator, holder); the audit row links the user;
* ``Actor.by_device(device)`` — a registered terminal, gate or kiosk; stored as ``device:<code>``;
* ``Actor.system(name)``    — anything else, named as it appears in the audit log: a job
  (``job:balance_move``), a command (``cli:import_roster``), a gateway callback (``gateway:sandbox``),
  the demo loader (``demo``), or an unauthenticated party acting through a link (``visitor:…``).

Services that authorise read ``actor.user``: a device or system actor is never an operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser

LABEL_LENGTH = 100  # AuditLog.actor_label


class _Coded(Protocol):
    @property
    def code(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Actor:
    kind: Literal["user", "device", "system"]
    label: str  # the audit row's actor_label; empty for a user (the row links the user instead)
    user: AbstractUser | None = None

    @classmethod
    def by_user(cls, user: AbstractUser) -> Actor:
        if user is None or not user.pk or not getattr(user, "is_authenticated", False):
            raise ValueError(f"an acting user must be signed in and saved, not {user!r}")
        return cls("user", "", user)

    @classmethod
    def by_device(cls, device: _Coded) -> Actor:
        return cls("device", f"device:{device.code}"[:LABEL_LENGTH])

    @classmethod
    def system(cls, name: str) -> Actor:
        if not name:
            raise ValueError("a system actor needs a name")
        return cls("system", name[:LABEL_LENGTH])

    def __str__(self) -> str:
        return self.label or str(self.user)
