"""Reads for the holder's cards and the back office's queues."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import segno
from django.conf import settings

from campuscard.cards import codes
from campuscard.cards.models import BalanceMove, Card, Credential, LegacyMealCard, PackageAddon, Photo
from campuscard.cards.policy import CAPABILITIES
from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.devices.models import Device
from campuscard.identity.models import Person
from campuscard.ledger.models import Account
from campuscard.ledger.selectors import account_balances


@dataclass
class CardView:
    card: Card
    balance: int
    capabilities: tuple[str, ...]
    move_out: BalanceMove | None
    production: object | None


def cards_of(person: Person) -> list[CardView]:
    views = []
    for card in (Card.objects.filter(person=person).select_related("production__collect_point")
                 .order_by("-issued_at")):
        move = BalanceMove.objects.filter(old_card=card).first()
        views.append(CardView(card=card, balance=account_balances(account_id=card.wallet_account_id).posted,
                              capabilities=CAPABILITIES[card.kind] if card.state == Card.State.ACTIVE else (),
                              move_out=move, production=getattr(card, "production", None)))
    return views


def card_of(person: Person, number: str) -> Card:
    card = Card.objects.filter(person=person, number=number).first()
    if card is None:
        raise DomainError("card_not_found")
    return card


def qr_credential(card: Card) -> Credential:
    return card.credentials.get(kind=Credential.Kind.QR, active=True)


def qr_svg(text: str, scale: int = 6) -> str:
    """The code as an inline SVG (medium error correction, readable from a phone screen)."""
    return segno.make(text, error="m").svg_inline(scale=scale, border=2, omitsize=True)


def current_qr(card: Card) -> tuple[str, str]:
    code = codes.current_code(qr_credential(card))
    return code, qr_svg(code)


def legacy_of(person: Person) -> LegacyMealCard | None:
    return LegacyMealCard.objects.filter(person=person).first()


def photo_status(person: Person) -> dict:
    photos = list(Photo.objects.filter(person=person).order_by("-uploaded_at")[:5])
    approved = next((p for p in photos if p.state == Photo.State.APPROVED), None)
    return {"latest": photos[0] if photos else None, "approved": approved, "history": photos}


# Devices that may charge a card with no network and upload later (TRN-2): what a replacement's reserve is for.
OFFLINE_CHARGERS = (Device.Kind.VALIDATOR,)


def offline_chargers_synced(*, institution_id: int, since: dt.datetime) -> bool:
    """Every live device that could charge offline has called in since ``since``: whatever it charged to a
    replaced card before it learnt of the replacement is uploaded (CARD-6)."""
    return not (Device.objects.filter(institution_id=institution_id, kind__in=OFFLINE_CHARGERS, revoked_at=None)
                .exclude(last_seen_at__gte=since).exists())


def moves_at_once(*, available: int, synced: bool) -> int:
    """What a replacement moves to the new card at once: all of it, or all but the reserve (one fare) while
    offline devices may still charge the old card."""
    return available if synced else max(0, available - settings.REPLACEMENT_RESERVE_FEN)


@dataclass(frozen=True)
class ReplacementPreview:
    fee: int
    balance: int  # available on the card now
    moves_now: int  # to the new card, the moment it is made
    reserve: int  # kept back for offline devices, moved within ``hours`` at most


def replacement_preview(*, card: Card, fee: int) -> ReplacementPreview:
    """What the holder is told before confirming a replacement (#17 item 1)."""
    balance = account_balances(account_id=card.wallet_account_id).available
    left = max(0, balance - fee)
    now = moves_at_once(available=left, synced=offline_chargers_synced(institution_id=card.institution_id,
                                                                       since=clock.now()))
    return ReplacementPreview(fee=fee, balance=balance, moves_now=now, reserve=left - now)


def live_wallet(card: Card) -> Account:
    """The card's wallet — or, once it was replaced and its balance moved on, its live successor's."""
    account = Account.objects.get(pk=card.wallet_account_id)
    while account.status != Account.Status.OPEN and hasattr(card, "replaced_by"):
        card = card.replaced_by
        account = Account.objects.get(pk=card.wallet_account_id)
    return account


def package_addons(*, person: Person) -> frozenset[str]:
    """The holder's chosen add-ons (APP-4); the base package (``policy.BASE_PACKAGE``) is always there."""
    return frozenset(PackageAddon.objects.filter(person=person, revoked_at=None).values_list("addon", flat=True))


def has_addon(*, person: Person, addon: str) -> bool:
    return PackageAddon.objects.filter(person=person, addon=addon, revoked_at=None).exists()
