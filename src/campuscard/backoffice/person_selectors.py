"""The operator's one person page (#17 item 5): identity, cards each with every event, the wallet with readable
kinds, applications, access entries and appeals — each event with who did it.

A read-side only: it joins what the apps below record (the audit log of core, cards, the ledger's journal,
enrollment, access, payments), so it lives in the back office, which may import all of them. Every section
goes through ``restrict`` with the operator's own permissions: what they may not see is left out, never
another institution's rows (TEN-1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campuscard.access.models import AccessEvent
from campuscard.cards.models import BalanceMove, Card, Production
from campuscard.core.models import AuditLog
from campuscard.core.money import format_fen
from campuscard.core.permissions import restrict
from campuscard.enrollment.models import Application
from campuscard.identity.models import Person
from campuscard.ledger.models import Account
from campuscard.ledger.selectors import account_balances, journal
from campuscard.payments.models import Appeal, Payment, RechargeOrder
from campuscard.payments.selectors import kind_label
from campuscard.transit.models import Dispute

# What an audited action means to the operator. Unknown actions fall back to their code (nothing is hidden).
ACTION_LABELS = {
    "card_issued": _("card issued"),
    "card_reported_lost": _("reported lost"),
    "card_unreported": _("loss report taken back"),
    "card_frozen": _("frozen"),
    "card_unfrozen": _("unfrozen"),
    "card_replaced": _("replaced"),
    "replacement_fee_paid": _("replacement fee paid"),
    "channel_bound": _("outside channel bound"),
    "personal_data_revealed": _("ID and phone numbers shown unmasked"),
    "channel_binding_revoked": _("outside channel binding revoked"),
    "card_became_alumni": _("became an alumni card"),
    "balance_refunded": _("balance refunded"),
    "balance_move_started": _("balance moved to the new card (reserve kept)"),
    "balance_moved": _("balance move completed"),
    "nfc_bound": _("physical card bound (NFC)"),
    "hce_provisioned": _("phone card (HCE) provisioned"),
    "card_production_printed": _("production: printed"),
    "card_production_at_kiosk": _("production: ready for collection"),
    "card_production_collected": _("production: collected"),
    "issue_batch_card_handed_out": _("handed out at the unit"),
    "department_changed": _("department changed"),
    "card_package_changed": _("card package changed"),
    "payment_password_unlocked": _("payment password unlocked"),
    "payment_password_set": _("payment password set"),
    "daily_limit_changed": _("daily limit changed"),
    "login_password_changed": _("login password changed"),
    "query_password_changed": _("query password changed"),
    "holder_login_created": _("portal login created"),
    "person_created": _("person created"),
    "changed": _("record edited"),
    "created": _("record created"),
    "photo_uploaded": _("photo uploaded"),
    "photo_approved": _("photo approved"),
    "photo_rejected": _("photo rejected"),
    "meal_card_migrated": _("old meal card migrated"),
    "recharge_cash": _("cash recharge"),
    "recharge_online_started": _("online recharge started"),
    "recharge_online_paid": _("online recharge paid"),
    "application_started": _("application started"),
    "application_id_checked": _("ID document checked"),
    "application_status_proof_confirmed": _("student status confirmed"),
    "application_phone_code_sent": _("SMS code sent"),
    "application_phone_code_wrong": _("wrong SMS code"),
    "application_phone_verified": _("phone verified"),
    "application_document_uploaded": _("document uploaded"),
    "application_package_set": _("package chosen"),
    "application_biometric_consent": _("face-check consent given"),
    "application_submitted": _("submitted"),
    "application_checked": _("automatic checks done"),
    "application_withdrawn": _("withdrawn"),
    "application_approved": _("approved"),
    "application_rejected": _("rejected"),
    "appeal_opened": _("appeal opened"),
    "appeal_accepted": _("appeal accepted"),
    "appeal_rejected": _("appeal rejected"),
    "face_attempt_started": _("face check started"),
    "face_attempt_submitted": _("face check frames sent"),
    "face_attempt_checked": _("face check decided"),
    "payment_refund": _("payment refunded by the merchant"),
    "payment_appeal": _("payment refunded after an appeal"),
    "roster_imported_registrar": _("registrar roster imported"),
    "roster_imported_hr": _("HR roster imported"),
    "legacy_meal_cards_imported": _("old meal cards imported"),
    "registrar_photo_imported": _("registrar photo imported"),
    "issue_run_created": _("bulk issuing started"),
    "issue_run_done": _("bulk issuing finished"),
    "issue_batch_printed": _("bulk issuing: batch printed"),
    "issue_batch_handed_over": _("bulk issuing: batch handed to the unit"),
    "sso_login": _("signed in through SSO"),
    "alert_preferences_changed": _("alert preferences changed"),
    "device_registered": _("device registered"),
    "device_revoked": _("device revoked"),
    "terminal_registered": _("terminal registered"),
    "terminal_face_computed": _("face template computed for the terminals"),
    "merchant_opened": _("merchant opened"),
    "access_key_rotated": _("gate signing key rotated"),
    "access_key_retired": _("gate signing key retired"),
    "zone_exceptions_set": _("zone exceptions set"),
    "campus_entry_requested": _("campus entry requested"),
    "campus_entry_approved": _("campus entry approved"),
    "campus_entry_rejected": _("campus entry rejected"),
    "campus_entry_revoked": _("campus entry revoked"),
    "lab_permit_requested": _("lab permit requested"),
    "lab_permit_approved": _("lab permit approved"),
    "lab_permit_rejected": _("lab permit rejected"),
    "lab_permit_revoked": _("lab permit revoked"),
    "visitor_invite_created": _("visitor invitation created"),
    "visitor_invite_revoked": _("visitor invitation revoked"),
    "visitor_requested": _("visit requested"),
    "visitor_request_declined": _("visit request declined"),
    "visitor_pass_created": _("visitor pass created"),
    "visitor_pass_revoked": _("visitor pass revoked"),
    "service_charged": _("service charged to the wallet"),
    "deposit_held": _("deposit held"),
    "deposit_captured": _("deposit kept"),
    "deposit_released": _("deposit released"),
    "exam_session_saved": _("exam session saved"),
    "exam_roster_imported": _("exam roster imported"),
    "exam_checked_in": _("checked in at the exam"),
    "seats_added": _("study seats added"),
    "seat_booked": _("seat booked"),
    "seat_walked_in": _("seat taken by scanning"),
    "seat_taken_up": _("booked seat taken up"),
    "seat_released": _("seat released unused"),
    "seat_cancelled": _("seat booking cancelled"),
    "seat_ended": _("seat left"),
    "library_feed_applied": _("library feed applied"),
    "rental_desk_identified": _("identified at the rental desk"),
    "rental_checked_out": _("equipment lent"),
    "rental_returned": _("equipment returned"),
    "rental_overdue": _("rental overdue"),
    "rental_settled": _("rental settled"),
    "health_received": _("health record received"),
    "health_read": _("health record read"),
    "dorm_building_opened": _("dormitory building set up"),
    "dorm_topup_paid": _("electricity top-up paid"),
    "dorm_topup_delivered": _("electricity top-up delivered to the meter"),
    "dorm_topup_refunded": _("electricity top-up refunded"),
    "dorm_reconciled": _("electricity reconciled with the meter system"),
    "laundry_booked": _("laundry booked"),
    "laundry_started": _("laundry started"),
    "laundry_done": _("laundry finished"),
    "laundry_no_show": _("laundry slot missed"),
    "laundry_failed": _("laundry cycle failed (refunded)"),
    "laundry_cancelled": _("laundry booking cancelled"),
    "transit_operator_created": _("bus operator created"),
    "transit_operator_staff_added": _("bus operator staff added"),
    "transit_bound": _("bound to the city buses"),
    "transit_binding_changed": _("bus binding changed"),
    "transit_unbound": _("unbound from the city buses"),
    "transit_dispute_opened": _("bus fare dispute opened"),
    "transit_dispute_evidence": _("bus operator's evidence added"),
    "transit_dispute_decided": _("bus fare dispute decided"),
}

CHANNEL_LABELS = {"window": _("service window"), "portal": _("portal"), "api": _("app / API"), "kiosk": _("kiosk")}
VERIFIED_LABELS = {"in_person": _("ID checked in person"), "login": _("login password"),
                   "payment": _("payment password")}


def action_label(action: str) -> str:
    """Unknown codes read as words (never hidden): a new audited action shows before its label is written."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action.replace("_", " ")


@dataclass
class Event:
    at: dt.datetime
    label: str
    who: str
    detail: str = ""
    action: str = ""


@dataclass
class WalletRow:
    at: dt.datetime
    label: str
    card: str
    signed: int
    running: int
    counterparty: str
    who: str
    reference: str


@dataclass
class CardSection:
    card: Card
    balance: int
    events: list[Event]
    production: Production | None = None


@dataclass
class Section:
    """A list the operator may see (``allowed``), or a note that their role does not show it."""

    allowed: bool
    rows: list = field(default_factory=list)


@dataclass
class PersonOverview:
    person: Person
    cards: list[CardSection]
    person_events: list[Event]
    wallet: Section
    applications: Section
    access: Section
    appeals: Section
    disputes: Section


def _who(row: AuditLog, person: Person) -> str:
    if row.actor_id is not None:
        user = row.actor
        if person.user_id is not None and user.pk == person.user_id:
            return gettext("the holder (%(name)s)") % {"name": person.name}
        return user.get_full_name() or user.username
    kind, _sep, name = row.actor_label.partition(":")
    if kind == "device":
        return gettext("device %(code)s") % {"code": name}
    if kind == "job":
        return gettext("system job (%(name)s)") % {"name": name}
    return row.actor_label or "—"


def _detail(row: AuditLog) -> str:
    after, parts = row.after or {}, []
    if after.get("channel"):
        parts.append(str(CHANNEL_LABELS.get(after["channel"], after["channel"])))
    if after.get("verified_by"):
        parts.append(gettext("proof: %(how)s") % {"how": VERIFIED_LABELS.get(after["verified_by"],
                                                                             after["verified_by"])})
    if after.get("fee"):
        parts.append(gettext("fee %(amount)s") % {"amount": format_fen(after["fee"])})
    if after.get("amount"):
        parts.append(format_fen(after["amount"]))
    if after.get("from") and after.get("to"):
        parts.append(f"{after['from']} → {after['to']}")
    if after.get("replaces"):
        parts.append(gettext("replaces %(number)s") % {"number": after["replaces"]})
    if after.get("signed_by"):
        parts.append(gettext("signed by %(name)s") % {"name": after["signed_by"]})
    if after.get("reason"):
        parts.append(str(after["reason"]))
    return " · ".join(parts)


def _events(rows: Iterable[AuditLog], person: Person) -> list[Event]:
    return [Event(at=row.at, label=action_label(row.action), who=_who(row, person), detail=_detail(row),
                  action=row.action) for row in rows]


def _audit_rows(institution_id: int, objects: dict[str, list]) -> list[AuditLog]:
    """Audit rows of the given objects (``{object_type: [pk, …]}``), oldest first."""
    query = Q()
    for object_type, pks in objects.items():
        if pks:
            query |= Q(object_type=object_type, object_id__in=[str(pk) for pk in pks])
    if not query:
        return []
    return list(AuditLog.objects.filter(query, institution_id=institution_id).select_related("actor")
                .order_by("at", "id"))


def _cards(person: Person, user) -> list[CardSection]:
    cards = list(restrict(Card.objects.filter(person=person), user, "view").order_by("-issued_at"))
    if not cards:
        return []
    ids = [card.pk for card in cards]
    moves = list(BalanceMove.objects.filter(Q(old_card_id__in=ids) | Q(new_card_id__in=ids)))
    rows = _audit_rows(person.institution_id, {"cards.card": ids, "cards.balancemove": [m.pk for m in moves]})
    by_card: dict[int, list[AuditLog]] = {pk: [] for pk in ids}
    move_card = {move.pk: move.old_card_id for move in moves}
    for row in rows:
        pk = int(row.object_id) if row.object_type == "cards.card" else move_card.get(int(row.object_id))
        if pk in by_card:
            by_card[pk].append(row)
    productions = {p.card_id: p for p in Production.objects.filter(card_id__in=ids).select_related("collect_point")}
    return [CardSection(card=card, balance=account_balances(account_id=card.wallet_account_id).posted,
                        events=_events(by_card[card.pk], person), production=productions.get(card.pk))
            for card in cards]


def _wallet(person: Person, sections: list[CardSection], user, limit: int) -> Section:
    if not user.is_superuser and not user.has_perm("ledger.view_transfer"):
        return Section(allowed=False)
    accounts = {section.card.wallet_account_id: section.card.number for section in sections}
    card_who = {(section.card.number, event.action): event.who for section in sections for event in section.events}
    rows: list = []
    for account_id in accounts:
        rows += [(account_id, row) for row in journal(account_id=account_id, limit=limit)]
    rows.sort(key=lambda item: (item[1].created_at, item[1].pk), reverse=True)
    rows = rows[:limit]
    transfer_ids = [row.pk for _a, row in rows]
    recharges = {o.transfer_id: o for o in RechargeOrder.objects.filter(transfer_id__in=transfer_ids)
                 .select_related("operator", "device")}
    payments = {p.transfer_id: p for p in Payment.objects.filter(transfer_id__in=transfer_ids)
                .select_related("terminal", "merchant")}
    names = dict(Account.objects.filter(pk__in={r.debit_id for _a, r in rows} | {r.credit_id for _a, r in rows})
                 .values_list("pk", "name"))
    out = []
    for account_id, row in rows:
        other = row.debit_id if row.credit_id == account_id else row.credit_id
        out.append(WalletRow(at=row.created_at, label=kind_label(row.kind), card=accounts[account_id],
                             signed=row.signed, running=row.running, counterparty=names.get(other, ""),
                             who=_transfer_who(row, recharges, payments, person) or next(
                                 (card_who[(row.reference, action)] for action in
                                  _CARD_ACTIONS.get((row.kind, row.key.endswith(":at-once")), ())
                                  if (row.reference, action) in card_who), ""),
                             reference=row.reference))
    return Section(allowed=True, rows=out)


# A card's own money moves (their reference is the card's number), by the card event that made them.
_CARD_ACTIONS = {("fee", False): ("replacement_fee_paid", "card_replaced"),
                 ("balance_move", True): ("balance_move_started",), ("balance_move", False): ("balance_moved",),
                 ("refund", False): ("balance_refunded",)}


def _transfer_who(row, recharges: dict, payments: dict, person: Person) -> str:
    if (order := recharges.get(row.pk)) is not None:
        if order.operator_id:
            return order.operator.get_full_name() or order.operator.username
        if order.device_id:
            return gettext("device %(code)s") % {"code": order.device.code}
        return gettext("the holder (%(name)s)") % {"name": person.name}
    if (payment := payments.get(row.pk)) is not None:
        terminal = payment.terminal.terminal_id if payment.terminal_id else ""
        return f"{payment.merchant.name} {terminal}".strip()
    return ""


def _applications(person: Person, user) -> Section:
    return _audited(person, user, "enrollment.view_application", "enrollment.application",
                    Application.objects.filter(person=person).select_related("decided_by", "card"))


def _access(person: Person, user, limit: int) -> Section:
    if not user.is_superuser and not user.has_perm("access.view_accessevent"):
        return Section(allowed=False)
    return Section(allowed=True, rows=list(
        restrict(AccessEvent.objects.filter(person=person), user, "view")
        .select_related("zone", "device", "card").order_by("-decided_at", "-id")[:limit]))


def _appeals(person: Person, user) -> Section:
    return _audited(person, user, "payments.view_appeal", "payments.appeal",
                    Appeal.objects.filter(payment__person=person).select_related("payment__merchant", "decided_by"))


def _disputes(person: Person, user) -> Section:
    """Bus taps the holder said were not theirs (#20: the appeal flow for bus fares), beside the appeals; their
    actions are audited on the tap."""
    return _audited(person, user, "transit.view_dispute", "transit.tap",
                    Dispute.objects.filter(tap__person=person).select_related("tap__route", "decided_by"),
                    audited=lambda d: d.tap_id)


def _audited(person: Person, user, permission: str, object_type: str, rows, audited=lambda o: o.pk) -> Section:
    """The rows the operator may see, newest first, each with the audit events of ``audited(row)``."""
    if not user.is_superuser and not user.has_perm(permission):
        return Section(allowed=False)
    objects = list(restrict(rows, user, "view").order_by("-created_at"))
    events: dict[str, list[AuditLog]] = {}
    for row in _audit_rows(person.institution_id, {object_type: [audited(o) for o in objects]}):
        events.setdefault(row.object_id, []).append(row)
    return Section(allowed=True, rows=[(o, _events(events.get(str(audited(o)), []), person)) for o in objects])


def person_overview(*, person: Person, user, limit: int = 100) -> PersonOverview:
    """Everything the operator may see about one person of their institution (the caller found ``person``
    through ``restrict``)."""
    cards = _cards(person, user)
    person_events = _events(_audit_rows(person.institution_id, {"identity.person": [person.pk]}), person)
    return PersonOverview(person=person, cards=cards, person_events=person_events,
                          wallet=_wallet(person, cards, user, limit),
                          applications=_applications(person, user), access=_access(person, user, limit),
                          appeals=_appeals(person, user), disputes=_disputes(person, user))


def people_visible(user):
    """The people an operator may open (the page's own look-up)."""
    return restrict(Person.objects.select_related("institution", "campus", "user"), user, "view")


__all__ = ["ACTION_LABELS", "Event", "PersonOverview", "action_label", "people_visible", "person_overview"]
