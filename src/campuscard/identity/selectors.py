"""Reads about people; every list goes through ``restrict`` (ARCHITECTURE rule 6)."""

from __future__ import annotations

from django.db.models import Count, F, Q, QuerySet

from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.core.permissions import restrict
from campuscard.core.privacy import mask_id_number, mask_phone
from campuscard.identity.models import ChannelBinding, Person, User


def acting_user(actor: Actor) -> User | None:
    """The project's ``User`` behind a user actor (for a ``decided_by``-style link); None for a device or job."""
    return actor.user if isinstance(actor.user, User) else None


def person_of_user(user: User) -> Person | None:
    if not user.is_authenticated:
        return None
    return Person.objects.select_related("institution", "campus").filter(user=user).first()


def people_visible(*, user: User, kind: str | None = None, query: str | None = None) -> QuerySet[Person]:
    qs = restrict(Person.objects.select_related("institution", "campus"), user, "view")
    if kind:
        qs = qs.filter(kind=kind)
    if query:
        qs = qs.filter(Q(number__startswith=query) | Q(name__contains=query))
    return qs.order_by("institution__code", "number")


def institution_by_code(code: str) -> Institution:
    institution = Institution.objects.filter(code=code).first()
    if institution is None:
        raise DomainError("institution_unknown", code=code)
    return institution


def people_by_kind(*, user: User) -> list[dict]:
    """Counts per institution and kind, for the back-office dashboard chart."""
    return list(restrict(Person.objects.all(), user, "view").values("institution__code", "kind")
                .annotate(n=Count("id")).order_by("institution__code", "kind"))


def channel_binding_for_token(*, token_digest: str) -> ChannelBinding | None:
    """The binding a channel token belongs to, revoked or not (the caller tells the two apart)."""
    return (ChannelBinding.objects.select_related("person__user", "person__institution")
            .filter(token_hash=token_digest).first())


def channel_bindings_of(person: Person) -> QuerySet[ChannelBinding]:
    """A holder's bindings, live ones first."""
    return ChannelBinding.objects.filter(person=person).order_by(F("revoked_at").desc(nulls_first=True),
                                                                 "-created_at")


def may_reveal_personal_data(*, user, person: Person) -> bool:
    """Whether ``user`` may see the person's ID and phone numbers unmasked (#18 item 7): the
    ``identity.reveal_personal_data`` permission at the person's institution (superusers: any)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.institution_id == person.institution_id and user.has_perm("identity.reveal_personal_data")


def personal_data_masked(*, person: Person) -> dict[str, str]:
    """What anyone not entitled sees of the person's ID and phone numbers (#18 item 7)."""
    return {"id_number": mask_id_number(person.id_number), "phone": mask_phone(person.phone)}
