"""Dorm services (SVC-5): electricity top-ups and laundry bookings — the writes.

Every charge goes through ``payments.charges`` (the payment rules, the ledger, the service's merchant in
the settlement); the dorm rows are written in the same money transaction (``then=``). The meter system
and the laundry machines are registered devices that sign their requests (``devices.signing``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from campuscard.cards import codes
from campuscard.cards.models import PackageAddon
from campuscard.cards.selectors import has_addon
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Building, Institution
from campuscard.core.money import format_fen, is_fen
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.dorm import rules
from campuscard.dorm.models import (
    Booking,
    DormBuilding,
    Machine,
    MeterSystem,
    Reading,
    Reconciliation,
    Room,
    TopUp,
)
from campuscard.identity.models import Person
from campuscard.payments import charges
from campuscard.payments.models import Merchant, Payment
from campuscard.payments.pos import TXN_ID
from campuscard.support.models import Notification
from campuscard.support.services import notify

METER_DEVICE_KIND = Device.Kind.METER  # the meter system's integration
MACHINE_DEVICE_KIND = Device.Kind.LAUNDRY  # a laundry machine's controller


def _key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise DomainError("idempotency_key_required")
    if len(key) > 40 or not TXN_ID.fullmatch(key):
        raise DomainError("txn_id_invalid")
    return key


# --- set-up (back office, demo) --------------------------------------------------------------------

def dorm_building_open(*, actor: Actor, building: Building, electricity_merchant: Merchant,
                       laundry_merchant: Merchant) -> DormBuilding:
    institution_id = building.area.campus.institution_id
    if {electricity_merchant.institution_id, laundry_merchant.institution_id} != {institution_id}:
        raise DomainError("forbidden")
    dorm = DormBuilding.objects.create(institution_id=institution_id, building=building,
                                       electricity_merchant=electricity_merchant, laundry_merchant=laundry_merchant)
    audit_record(actor=actor, action="dorm_building_opened", obj=dorm, institution_id=institution_id)
    return dorm


def meter_system_register(*, actor: Actor, institution: Institution, code: str, name: str) -> tuple[MeterSystem, str]:
    """The meter system's integration as a device; the secret is returned once."""
    with transaction.atomic():
        device, secret = device_register(actor=actor, institution=institution, kind=METER_DEVICE_KIND, code=code,
                                         name=name)
        system = MeterSystem.objects.create(institution=institution, device=device)
    return system, secret


def machine_device_register(*, actor: Actor, machine: Machine, code: str) -> tuple[Device, str]:
    """Register the machine's controller; the secret is returned once."""
    with transaction.atomic():
        device, secret = device_register(actor=actor, institution=machine.institution, kind=MACHINE_DEVICE_KIND,
                                         code=code, name=str(machine))
        machine.device = device
        machine.save(update_fields=["device"])
    return device, secret


# --- electricity: the holder's top-up ------------------------------------------------------------------

def room_of(*, person: Person) -> Room | None:
    return (Room.objects.filter(residents=person, institution_id=person.institution_id)
            .select_related("dorm__electricity_merchant__institution", "dorm__building").first())


def topup_buy(*, actor: Actor, person: Person, amount: int, key: str, password: str | None = None) -> TopUp:
    """Buy electricity for the holder's room from their wallet, once per (holder, ``key``) (SVC-5, APP-4)."""
    key = _key(key)
    if not has_addon(person=person, addon=PackageAddon.Addon.DORM_ELECTRICITY):
        raise DomainError("dorm_addon_missing")
    room = room_of(person=person)
    if room is None:
        raise DomainError("dorm_room_missing")
    if not is_fen(amount) or not settings.DORM_TOPUP_MIN_FEN <= amount <= settings.DORM_TOPUP_MAX_FEN:
        raise DomainError("dorm_topup_amount_invalid", min=format_fen(settings.DORM_TOPUP_MIN_FEN),
                          max=format_fen(settings.DORM_TOPUP_MAX_FEN))
    if (earlier := _topup_replay(person, key, room, amount)) is not None:
        return earlier
    energy = rules.energy_for(amount, room.price)
    created: list[TopUp] = []

    def record(charge: charges.Charge) -> None:
        top_up = TopUp.objects.create(institution_id=room.institution_id, room=room, person=person, key=key,
                                      amount=amount, price=room.price, energy_wh=energy,
                                      payment_id=charge.payment_id, created_at=charge.created_at)
        audit_record(actor=actor, action="dorm_topup_paid", obj=top_up, institution_id=room.institution_id,
                     after={"room": str(room), "amount": amount, "energy_wh": energy})
        created.append(top_up)

    try:
        charge = charges.charge_wallet(
            actor=actor, merchant=room.dorm.electricity_merchant, person=person, key=f"elec.{person.pk}.{key}",
            amount=amount, password=password, reference=f"{room} {energy} Wh", then=record)
    except DomainError as error:
        if error.code == "payment_txn_reused":
            raise DomainError("dorm_topup_key_reused")
        raise
    if created:
        return created[0]
    return TopUp.objects.get(payment_id=charge.payment_id)  # a retry that met the first one's charge


def _topup_replay(person: Person, key: str, room: Room, amount: int) -> TopUp | None:
    earlier = TopUp.objects.filter(person=person, key=key).first()
    if earlier is not None and (earlier.amount != amount or earlier.room_id != room.pk):
        raise DomainError("dorm_topup_key_reused")
    return earlier


# --- electricity: the meter system (signed device) ---------------------------------------------------

def meter_system_of(*, device: Device) -> MeterSystem:
    system = MeterSystem.objects.filter(device=device).first()
    if system is None:
        raise DomainError("dorm_device_not_meter")
    return system


def meter_pending(*, device: Device, limit: int = 500) -> list[TopUp]:
    """The top-ups the meter system still has to put on the meters, oldest first."""
    system = meter_system_of(device=device)
    return list(TopUp.objects.filter(institution_id=system.institution_id, state=TopUp.State.PAID)
                .select_related("room").order_by("created_at", "pk")[:limit])


def meter_ack(*, device: Device, top_up_id: int, applied_wh: int, meter_ref: str = "") -> TopUp:
    """The meter system put ``applied_wh`` on the room's meter. Idempotent; an applied amount other than
    the energy sold is refused (and shows in the reconciliation, as the top-up stays unconfirmed)."""
    system = meter_system_of(device=device)
    with transaction.atomic():
        top_up = (TopUp.objects.select_for_update().select_related("room")
                  .filter(pk=top_up_id, institution_id=system.institution_id).first())
        if top_up is None:
            raise DomainError("dorm_topup_not_found")
        if top_up.state == TopUp.State.DELIVERED and top_up.delivered_wh == applied_wh:
            return top_up
        if top_up.state != TopUp.State.PAID:
            raise DomainError("dorm_topup_not_pending")
        if applied_wh != top_up.energy_wh:
            raise DomainError("dorm_meter_mismatch")
        top_up.state, top_up.delivered_wh, top_up.meter_ref = TopUp.State.DELIVERED, applied_wh, meter_ref[:64]
        top_up.delivered_at = clock.now()
        top_up.save(update_fields=["state", "delivered_wh", "meter_ref", "delivered_at"])
        audit_record(actor=Actor.by_device(device), action="dorm_topup_delivered", obj=top_up,
                     institution_id=system.institution_id, after={"applied_wh": applied_wh, "meter_ref": meter_ref})
    return top_up


@dataclass(frozen=True)
class ReadingIn:
    meter: str
    remaining_wh: int
    consumed_wh: int
    read_at: dt.datetime


def meter_readings(*, device: Device, readings: list[ReadingIn]) -> dict[str, int]:
    """Store the meter system's readings (a resend is ignored) and alert the residents of a room whose
    remaining energy fell below its threshold — once, until it is above again."""
    system = meter_system_of(device=device)
    stored = alerts = 0
    with transaction.atomic():
        rooms = {r.meter: r for r in Room.objects.select_for_update()
                 .filter(institution_id=system.institution_id, meter__in={x.meter for x in readings})}
        for reading in sorted(readings, key=lambda x: x.read_at):
            room = rooms.get(reading.meter)
            if room is None:
                raise DomainError("dorm_meter_unknown", meter=reading.meter)
            if reading.consumed_wh < 0 or reading.read_at.tzinfo is None:
                raise DomainError("dorm_reading_invalid")
            _reading, created = Reading.objects.get_or_create(
                room=room, read_at=reading.read_at,
                defaults={"remaining_wh": reading.remaining_wh, "consumed_wh": reading.consumed_wh})
            if not created or (room.read_at is not None and reading.read_at <= room.read_at):
                continue
            stored += 1
            room.remaining_wh, room.consumed_wh, room.read_at = reading.remaining_wh, reading.consumed_wh, reading.read_at
            alerts += _low_balance(room)
            room.save(update_fields=["remaining_wh", "consumed_wh", "read_at", "alerted"])
    return {"stored": stored, "alerts": alerts}


def _low_balance(room: Room) -> int:
    low = room.remaining_wh is not None and room.remaining_wh < room.low_balance_wh
    if not low:
        room.alerted = False
        return 0
    if room.alerted:
        return 0
    room.alerted = True
    for person in room.residents.all():
        notify(person=person, kind=Notification.Kind.LOW_BALANCE, title=_("Room electricity is running low"),
               body=_("Room %(room)s has %(kwh)s kWh left. Top it up in the portal before the power is cut."),
               params={"room": str(room), "kwh": f"{max(room.remaining_wh or 0, 0) / 1000:.2f}"}, link="/dorm/")
    return 1


def topup_refund(*, actor: Actor, top_up: TopUp, reason: str = "") -> TopUp:
    """A top-up the meter system never took (reconciliation): the whole amount back to the wallet."""
    payment = Payment.objects.get(pk=top_up.payment_id)

    def mark(_refund) -> None:
        row = TopUp.objects.select_for_update().get(pk=top_up.pk)
        if row.state != TopUp.State.PAID:
            raise DomainError("dorm_topup_not_pending")
        row.state = TopUp.State.REFUNDED
        row.save(update_fields=["state"])
        audit_record(actor=actor, action="dorm_topup_refunded", obj=row, institution_id=row.institution_id,
                     after={"reason": reason})

    if TopUp.objects.filter(pk=top_up.pk).values_list("state", flat=True).first() != TopUp.State.PAID:
        raise DomainError("dorm_topup_not_pending")
    charges.charge_refund(actor=actor, payment=payment, key="not-delivered", reason=reason or "not delivered",
                          then=mark)
    top_up.refresh_from_db()
    return top_up


# --- electricity: the daily reconciliation -----------------------------------------------------------

def reconcile_day(*, institution: Institution, day: dt.date) -> Reconciliation:
    """Top-ups of the local ``day`` against the meter system's confirmations and the ledger's payments to
    the electricity merchants (LED-5): every difference is listed, never hidden. Run again, it replaces
    that day's result."""
    zone = clock.zone(institution.time_zone)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    end = start + dt.timedelta(days=1)
    top_ups = list(TopUp.objects.filter(institution=institution, created_at__gte=start, created_at__lt=end)
                   .select_related("room").order_by("pk"))
    merchants = set(DormBuilding.objects.filter(institution=institution).values_list("electricity_merchant", flat=True))
    payments = {p.pk: p for p in Payment.objects.filter(institution=institution, merchant_id__in=merchants,
                                                        terminal=None, created_at__gte=start, created_at__lt=end)}
    differences = []
    for top_up in top_ups:
        payment = payments.pop(top_up.payment_id, None)
        if payment is None or payment.amount != top_up.amount:
            differences.append({"kind": "payment_missing", "top_up": top_up.pk, "room": str(top_up.room),
                                "amount": top_up.amount})
        if top_up.state == TopUp.State.PAID:
            differences.append({"kind": "not_delivered", "top_up": top_up.pk, "room": str(top_up.room),
                                "amount": top_up.amount, "energy_wh": top_up.energy_wh})
        elif top_up.state == TopUp.State.DELIVERED and top_up.delivered_wh != top_up.energy_wh:
            differences.append({"kind": "energy_mismatch", "top_up": top_up.pk, "room": str(top_up.room),
                                "energy_wh": top_up.energy_wh, "applied_wh": top_up.delivered_wh})
    for payment in payments.values():
        differences.append({"kind": "payment_without_top_up", "payment": payment.pk, "amount": payment.amount})
    charged = sum(p.amount for p in Payment.objects.filter(pk__in=[t.payment_id for t in top_ups]))
    charged += sum(d["amount"] for d in differences if d["kind"] == "payment_without_top_up")
    values = {"top_ups": len(top_ups), "paid": sum(t.amount for t in top_ups), "charged": charged,
              "sold_wh": sum(t.energy_wh for t in top_ups),
              "delivered_wh": sum(t.delivered_wh or 0 for t in top_ups if t.state == TopUp.State.DELIVERED),
              "differences": differences, "ok": not differences, "run_at": clock.now()}
    with transaction.atomic():
        result, _created = Reconciliation.objects.update_or_create(institution=institution, day=day, defaults=values)
        audit_record(actor=Actor.system("dorm reconciliation"), action="dorm_reconciled", obj=result,
                     institution_id=institution.pk, after={"ok": result.ok, "differences": len(differences)})
    return result


# --- laundry -------------------------------------------------------------------------------------

def _resident_of(person: Person, dorm_id: int) -> bool:
    return Room.objects.filter(dorm_id=dorm_id, residents=person).exists()


def laundry_book(*, actor: Actor, person: Person, machine: Machine, starts_at: dt.datetime, key: str,
                 password: str | None = None) -> Booking:
    """Book and pay one slot of a machine in the holder's building, once per (holder, ``key``) (SVC-5)."""
    key = _key(key)
    if not has_addon(person=person, addon=PackageAddon.Addon.LAUNDRY):
        raise DomainError("laundry_addon_missing")
    if machine.institution_id != person.institution_id or not machine.active:
        raise DomainError("laundry_machine_not_found")
    if not _resident_of(person, machine.dorm_id):
        raise DomainError("laundry_not_resident")
    zone = clock.zone(person.institution.time_zone)
    if starts_at.tzinfo is None or not rules.on_grid(starts_at.astimezone(zone), machine.slot_minutes):
        raise DomainError("laundry_slot_invalid")
    earlier = Booking.objects.filter(person=person, key=key).first()
    if earlier is not None:
        if earlier.machine_id != machine.pk or earlier.starts_at != starts_at:
            raise DomainError("laundry_key_reused")
        return earlier
    if refusal := rules.may_book(clock.now(), starts_at, settings.LAUNDRY_GRACE_MINUTES,
                                 settings.LAUNDRY_BOOK_AHEAD_DAYS):
        raise DomainError(refusal, days=settings.LAUNDRY_BOOK_AHEAD_DAYS)
    if Booking.objects.filter(machine=machine, starts_at=starts_at).exclude(state__in=Booking.RELEASED).exists():
        raise DomainError("laundry_slot_taken")  # the common case, refused before any money moves
    created: list[Booking] = []

    def record(charge: charges.Charge) -> None:
        with transaction.atomic():  # a savepoint: the slot's unique index decides a race
            booking = Booking.objects.create(
                institution_id=machine.institution_id, machine=machine, person=person, starts_at=starts_at,
                ends_at=starts_at + dt.timedelta(minutes=machine.slot_minutes), key=key, amount=machine.price,
                payment_id=charge.payment_id, created_at=charge.created_at)
        audit_record(actor=actor, action="laundry_booked", obj=booking, institution_id=machine.institution_id,
                     after={"machine": machine.code, "starts_at": starts_at.isoformat(), "amount": machine.price})
        created.append(booking)

    try:
        charge = charges.charge_wallet(
            actor=actor, merchant=machine.dorm.laundry_merchant, person=person, key=f"ldr.{person.pk}.{key}",
            amount=machine.price, password=password,
            reference=f"{machine} {starts_at.astimezone(zone):%m-%d %H:%M}", then=record)
    except IntegrityError:
        raise DomainError("laundry_slot_taken")  # another holder's booking of the slot committed first
    except DomainError as error:
        if error.code == "payment_txn_reused":
            raise DomainError("laundry_key_reused")
        raise
    return created[0] if created else Booking.objects.get(payment_id=charge.payment_id)


def _booking_of(person: Person, booking_id: int) -> Booking:
    booking = Booking.objects.filter(pk=booking_id, person=person).select_related("machine").first()
    if booking is None:
        raise DomainError("laundry_booking_not_found")
    return booking


def laundry_cancel(*, actor: Actor, person: Person, booking_id: int) -> Booking:
    """Cancel with a full refund until ``LAUNDRY_CANCEL_MINUTES`` before the start (that moment included)."""
    booking = _booking_of(person, booking_id)
    if booking.state == Booking.State.CANCELLED:
        return booking
    if booking.state != Booking.State.BOOKED:
        raise DomainError("laundry_booking_not_open")
    if not rules.may_cancel(clock.now(), booking.starts_at, settings.LAUNDRY_CANCEL_MINUTES):
        raise DomainError("laundry_cancel_too_late", minutes=settings.LAUNDRY_CANCEL_MINUTES)
    _refund(actor, booking, Booking.State.CANCELLED, "cancelled", str(_("laundry booking cancelled")))
    booking.refresh_from_db()
    return booking


def _refund(actor: Actor, booking: Booking, state: str, key: str, reason: str, failure: str = "") -> None:
    def mark(_refund) -> None:
        row = Booking.objects.select_for_update().get(pk=booking.pk)
        allowed = Booking.State.BOOKED if state == Booking.State.CANCELLED else Booking.State.STARTED
        if row.state != allowed:
            raise DomainError("laundry_booking_not_open")
        row.state, row.ended_at, row.failure = state, clock.now(), failure[:100]
        row.save(update_fields=["state", "ended_at", "failure"])
        audit_record(actor=actor, action=f"laundry_{state}", obj=row, institution_id=row.institution_id,
                     after={"refunded": row.amount, "failure": failure})

    charges.charge_refund(actor=actor, payment=Payment.objects.get(pk=booking.payment_id), key=key, reason=reason,
                          then=mark)


def laundry_no_shows_release(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Huey, every minute: bookings not started by the end of the grace period release their slot; the
    money is not refunded (the slot was kept for the holder)."""
    now = now or clock.now()
    cutoff = now - dt.timedelta(minutes=settings.LAUNDRY_GRACE_MINUTES)
    released = 0
    for booking_id in (Booking.objects.filter(state=Booking.State.BOOKED, starts_at__lte=cutoff)
                       .values_list("pk", flat=True)[:1000]):
        with transaction.atomic():
            booking = (Booking.objects.select_for_update().select_related("person", "machine")
                       .filter(pk=booking_id, state=Booking.State.BOOKED).first())
            if booking is None or not rules.no_show(now, booking.starts_at, settings.LAUNDRY_GRACE_MINUTES):
                continue
            booking.state, booking.ended_at = Booking.State.NO_SHOW, now
            booking.save(update_fields=["state", "ended_at"])
            audit_record(actor=Actor.system("laundry no-show"), action="laundry_no_show", obj=booking,
                         institution_id=booking.institution_id)
            zone = clock.zone(booking.person.institution.time_zone)
            notify(person=booking.person, kind="laundry", title=_("Laundry slot released"),
                   body=_("Your %(machine)s slot at %(time)s was not started within %(minutes)s minutes and was "
                          "released; it is not refunded."),
                   params={"machine": booking.machine.name, "time": f"{booking.starts_at.astimezone(zone):%H:%M}",
                           "minutes": settings.LAUNDRY_GRACE_MINUTES}, link="/laundry/")
            released += 1
    return {"released": released}


def machine_of(*, device: Device) -> Machine:
    machine = Machine.objects.filter(device=device, active=True).select_related("dorm").first()
    if machine is None:
        raise DomainError("laundry_device_not_machine")
    return machine


def laundry_start(*, device: Device, nfc_uid: str) -> Booking:
    """The machine read a card: it starts only for the holder of the booking of this slot (SVC-5)."""
    machine = machine_of(device=device)
    presented = codes.nfc_accept(institution_id=machine.institution_id, uid=nfc_uid)
    now = clock.now()
    with transaction.atomic():
        booking = (Booking.objects.select_for_update().select_related("person")
                   .filter(machine=machine, state__in=[Booking.State.BOOKED, Booking.State.STARTED],
                           starts_at__lte=now, ends_at__gt=now).first())
        if booking is None:
            raise DomainError("laundry_no_booking_now")
        if booking.person_id != presented.card.person_id:
            raise DomainError("laundry_not_your_booking")
        if booking.state == Booking.State.STARTED:
            return booking  # the machine asked again
        if not rules.may_start(now, booking.starts_at, settings.LAUNDRY_GRACE_MINUTES):
            raise DomainError("laundry_no_booking_now")  # after the grace period: a no-show
        booking.state, booking.started_at = Booking.State.STARTED, now
        booking.save(update_fields=["state", "started_at"])
        audit_record(actor=Actor.by_device(device), action="laundry_started", obj=booking,
                     institution_id=booking.institution_id)
    return booking


def laundry_cycle_end(*, device: Device, booking_id: int, ok: bool, failure: str = "") -> Booking:
    """The machine reports the cycle's end; a failed cycle is refunded in full. A resend changes nothing."""
    machine = machine_of(device=device)
    booking = Booking.objects.filter(pk=booking_id, machine=machine).select_related("person").first()
    if booking is None:
        raise DomainError("laundry_booking_not_found")
    if booking.state == (Booking.State.DONE if ok else Booking.State.FAILED):
        return booking
    if booking.state != Booking.State.STARTED:
        raise DomainError("laundry_booking_not_open")
    actor = Actor.by_device(device)
    if ok:
        with transaction.atomic():
            updated = Booking.objects.filter(pk=booking.pk, state=Booking.State.STARTED).update(
                state=Booking.State.DONE, ended_at=clock.now())
            if updated:
                audit_record(actor=actor, action="laundry_done", obj=booking, institution_id=booking.institution_id)
    else:
        _refund(actor, booking, Booking.State.FAILED, "failed", "machine failure", failure or "failed")
        notify(person=booking.person, kind="laundry", title=_("Laundry cycle failed — refunded"),
               body=_("%(machine)s reported a failed cycle; %(amount)s is back in your wallet."),
               params={"machine": machine.name, "amount": format_fen(booking.amount)}, link="/laundry/")
    booking.refresh_from_db()
    return booking
