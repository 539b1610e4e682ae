"""Reads for the holder's cards and the back office's queues."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import segno
from django.conf import settings

from campuscard.cards import codes
from campuscard.cards.models import (
    BalanceMove,
    Card,
    Credential,
    LegacyMealCard,
    PackageAddon,
    Photo,
    Production,
    ReplacementFee,
)
from campuscard.cards.policy import CAPABILITIES
from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.core.models import ServicePoint
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


# How a replacement fee may be paid on each channel (#17 item 10): cash only where someone takes it — the
# window's operator, or a kiosk's acceptor (a signed device request, before the replacement).
FEE_CASH_CHANNELS = ("kiosk", "window")


def fee_payments(*, channel: str, fee: int, balance: int) -> tuple[str, ...]:
    """The ways a replacement fee may be paid: from the card's balance when it covers the fee; in cash at the
    window or a kiosk; from the new card's first recharge when the balance does not cover it."""
    if not fee:
        return ()
    ways: tuple[str, ...] = ("balance",) if balance >= fee else ()
    if channel in FEE_CASH_CHANNELS:
        ways += ("cash",)
    return ways if balance >= fee else (*ways, "first_recharge")


def default_kiosk(person: Person) -> ServicePoint | None:
    kiosks = ServicePoint.objects.filter(kind=ServicePoint.Kind.KIOSK, area__campus__institution=person.institution)
    return (kiosks.filter(area__campus=person.campus_id).first() if person.campus_id else None) or kiosks.first()


def collect_places(*, person: Person) -> list[ServicePoint]:
    """Where a holder may choose to collect a physical card: a kiosk or a Card Center window of their
    institution, their own campus's first."""
    points = list(ServicePoint.objects.filter(area__campus__institution_id=person.institution_id,
                                              kind__in=(ServicePoint.Kind.KIOSK, ServicePoint.Kind.WINDOW))
                  .select_related("area").order_by("kind", "name"))
    return sorted(points, key=lambda p: (p.area.campus_id != person.campus_id, p.kind != ServicePoint.Kind.KIOSK))


def replacement_collect_point(*, card: Card) -> ServicePoint | None:
    """Where a replacement's physical card waits unless the holder names another place: where they chose to
    collect the card it replaces, else a kiosk of their campus."""
    production = Production.objects.filter(card=card).select_related("collect_point").first()
    if production is not None and production.collect_point is not None:
        return production.collect_point
    return default_kiosk(card.person)


@dataclass(frozen=True)
class ReplacementPreview:
    fee: int
    balance: int  # available on the card now
    moves_now: int  # to the new card, the moment it is made
    reserve: int  # kept back for offline devices, moved within ``hours`` at most
    fee_paid: str  # how the fee will be paid: "balance", "cash", "first_recharge"; "paid" (cash at a kiosk
    #                already), "" (no fee)
    fee_payments: tuple[str, ...]  # the ways open here
    collect_point: ServicePoint | None  # where a physical replacement waits unless another place is chosen


def replacement_preview(*, card: Card, fee: int, channel: str = "portal", fee_payment: str = "") -> ReplacementPreview:
    """What the holder is told before confirming a replacement (#17 items 1, 7 and 10): the fee and how it is
    paid, what moves to the new card at once, where a physical card would wait."""
    balance = account_balances(account_id=card.wallet_account_id).available
    paid = ReplacementFee.objects.filter(old_card=card, state=ReplacementFee.State.PAID).exists()
    ways = () if paid else fee_payments(channel=channel, fee=fee, balance=balance)
    how = "paid" if paid else (fee_payment if fee_payment in ways else (ways[0] if ways else ""))
    left = max(0, balance - fee) if how == "balance" else balance
    now = moves_at_once(available=left, synced=offline_chargers_synced(institution_id=card.institution_id,
                                                                       since=clock.now()))
    return ReplacementPreview(fee=fee, balance=balance, moves_now=now, reserve=left - now, fee_paid=how,
                              fee_payments=ways, collect_point=replacement_collect_point(card=card))


def fees_due(*, person: Person) -> list[ReplacementFee]:
    """Replacement fees waiting for the holder's next recharge (shown on My cards and the wallet)."""
    return list(ReplacementFee.objects.filter(new_card__person=person, state=ReplacementFee.State.DUE)
                .select_related("old_card", "new_card"))


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
