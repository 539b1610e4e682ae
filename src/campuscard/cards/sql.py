"""Statement fragments over the cards app's tables, for apps that compose one statement of their own
(house rule 12: an app's SQL names only its own tables). The guards are built from ``cards.policy``,
the same table the ordinary path reads, never from a list of their own."""

from __future__ import annotations

from campuscard.cards.policy import USABLE_STATES, kinds_that_can
from campuscard.identity.models import Person

TYPES = {"card_id": "bigint", "credential_id": "bigint", "card_kinds": "text[]", "card_states": "text[]",
         "step": "bigint", "now": "timestamptz"}


def card_may_params(capability: str) -> dict[str, list[str]]:
    """The parameters of ``CARD_MAY`` for a capability ("pay", "doors", …)."""
    return {"card_kinds": kinds_that_can(capability), "card_states": list(USABLE_STATES)}


# True while the card is in a usable state, of a kind that may do the thing asked, and the presented
# credential is active.
CARD_MAY = """EXISTS (SELECT 1 FROM cards_card WHERE id = %(card_id)s AND state = ANY(%(card_states)s)
                                              AND kind = ANY(%(card_kinds)s))
   AND EXISTS (SELECT 1 FROM cards_credential WHERE id = %(credential_id)s AND active)"""


def code_use(*, when: str) -> str:
    """Use up a dynamic code's step (CARD-3: accepted once) when ``when`` holds: RETURNING 1 if it was
    fresh, nothing if it was used before."""
    return f"""INSERT INTO cards_usedcode (credential_id, step, used_at)
    SELECT %(credential_id)s, %(step)s, %(now)s WHERE {when}
    ON CONFLICT (credential_id, step) DO NOTHING
    RETURNING 1"""


# --- for statements over many rows at once (the gate's batch): the caller passes the SQL expressions
# (columns of its own rows) and the aliases to use ---------------------------------------------------

# The holder's table, named by identity's model: cards joins a card to its holder so callers need not.
_PERSON = Person._meta.db_table


def cards_with_holders(*, card: str = "c", person: str = "p") -> str:
    """A FROM item: every card as ``card``, joined to its holder as ``person``."""
    return f"cards_card {card} JOIN {_PERSON} {person} ON {person}.id = {card}.person_id"


def card_with_holder_join(card_id: str, *, card: str = "c", person: str = "p") -> str:
    """LEFT JOIN the card whose id is ``card_id`` as ``card`` and its holder as ``person`` (NULLs when gone)."""
    return (f"LEFT JOIN cards_card {card} ON {card}.id = {card_id} "
            f"LEFT JOIN {_PERSON} {person} ON {person}.id = {card}.person_id")


def credential_active(credential_id: str) -> str:
    """True while the credential ``credential_id`` is active (false when gone)."""
    return f"coalesce((SELECT active FROM cards_credential WHERE id = {credential_id}), false)"


def code_used(credential_id: str, step: str) -> str:
    """True if the dynamic code step was used before (a scalar sub-select with LIMIT 1 rather than EXISTS:
    under a generic plan PostgreSQL may hash an EXISTS over the whole table)."""
    return (f"((SELECT 1 FROM cards_usedcode WHERE credential_id = {credential_id} AND step = {step} LIMIT 1) "
            "IS NOT NULL)")


def codes_use(rows: str) -> str:
    """Use up the (credential_id, step, used_at) rows that the query ``rows`` gives; RETURNING the
    credential_id and step of each that was fresh."""
    return f"""INSERT INTO cards_usedcode (credential_id, step, used_at) {rows}
    ON CONFLICT (credential_id, step) DO NOTHING
    RETURNING credential_id, step"""


def card_holder_state(*, card: str = "c", person: str = "p") -> str:
    """The card's state and kind and its holder's kind and status, as one text: 'state|kind|kind|status'."""
    return f"concat_ws('|', {card}.state, {card}.kind, {person}.kind, {person}.status)"


def card_holder_id(*, card: str = "c") -> str:
    """The id of the card's holder (identity's person)."""
    return f"{card}.person_id"
