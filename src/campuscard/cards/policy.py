"""What each card kind may do and which card states refuse, with which code: the one table every
rulebook (payments, access, later transit and services) and every SQL guard is built from."""

from __future__ import annotations

from campuscard.cards.models import Card, PackageAddon

# The card package (APP-4): the base is mandatory for every card; the add-ons are chosen by the holder
# (in the application, later in the portal or the API) and read by the services that need them (the
# laboratories read ``lab``).
BASE_PACKAGE: tuple[str, ...] = ("canteen", "library", "door")
ADDONS: tuple[str, ...] = tuple(str(addon) for addon in PackageAddon.Addon.values)
assert ADDONS == ("dorm_electricity", "laundry", "lab")

CAPABILITIES: dict[str, tuple[str, ...]] = {
    # what each card kind can do (CARD-9: alumni keep only the library)
    Card.Kind.STUDENT: ("pay", "doors", "library", "services"),
    Card.Kind.STAFF: ("pay", "doors", "library", "services"),
    Card.Kind.TEMPORARY: ("pay", "doors"),
    Card.Kind.VISITOR: ("doors",),
    Card.Kind.ALUMNI: ("library",),
}

# A card in any of these states is refused everywhere, with this code (CARD-4, ACC-4). A state not
# listed here is usable; a new state is therefore refused until it is named in USABLE_STATES.
STATE_REFUSALS: dict[str, str] = {
    Card.State.APPLIED: "card_not_active",
    Card.State.LOST: "card_lost",
    Card.State.FROZEN: "card_frozen",
    Card.State.REPLACED: "card_replaced",
    Card.State.CANCELLED: "card_cancelled",
}
USABLE_STATES: tuple[str, ...] = (Card.State.ACTIVE,)
assert set(STATE_REFUSALS) | set(USABLE_STATES) == set(Card.State.values), "every card state is decided"


def state_refusal(state: str) -> str | None:
    """The refusal code of a card in ``state``, or None when it may be used."""
    if state in USABLE_STATES:
        return None
    return STATE_REFUSALS.get(state, "card_not_active")


def kinds_that_can(capability: str) -> list[str]:
    """The card kinds with ``capability`` (for SQL guards: ``kind = ANY(…)``, never a blacklist)."""
    return sorted(str(kind) for kind, can in CAPABILITIES.items() if capability in can)


def can(kind: str, capability: str) -> bool:
    return capability in CAPABILITIES.get(kind, ())
