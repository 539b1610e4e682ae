"""Dorm services (SVC-5): the holder's room electricity and laundry bookings; the signed meter system
(top-ups to apply, confirmations, readings) and laundry machines (start by card, end of cycle)."""

from __future__ import annotations

import datetime as dt

from ninja import Field, Router, Schema, Status

from campuscard.api.auth import DeviceSignature, holder_of
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.dorm import selectors, services
from campuscard.dorm.models import Booking, TopUp

router = Router(tags=["dorm"])

KEY = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$"


class DormRoomOut(Schema):
    room: str | None
    price_fen_per_kwh: int | None
    remaining_kwh: str | None
    read_at: dt.datetime | None
    low: bool
    addon: bool


class TopUpOut(Schema):
    id: int
    room: str
    amount: int = Field(description="fen")
    price: int = Field(description="fen per kWh at the time of the top-up")
    energy_wh: int = Field(description="floor(amount × 1000 / price): rounded down to the watt-hour")
    state: str
    created_at: dt.datetime

    @staticmethod
    def resolve_room(obj: TopUp) -> str:
        return str(obj.room)


class TopUpIn(Schema):
    amount: int = Field(description="fen")
    key: str = Field(pattern=KEY, description="the client's idempotency key: a retry tops up once")
    password: str | None = Field(None, description="the payment password, above the password-free amount")


@router.get("/me/dorm", response=DormRoomOut, summary="My dorm room's electricity (SVC-5)")
def my_room(request):
    view = selectors.electricity_of(holder_of(request))
    room = view.room
    return {"room": str(room) if room else None, "price_fen_per_kwh": room.price if room else None,
            "remaining_kwh": view.remaining_kwh, "read_at": room.read_at if room else None, "low": view.low,
            "addon": view.addon}


@router.get("/me/dorm/top-ups", response=list[TopUpOut], summary="My electricity top-ups")
def my_top_ups(request):
    return selectors.electricity_of(holder_of(request)).top_ups


@router.post("/me/dorm/top-ups", response={201: TopUpOut}, summary="Top up my room from the wallet (idempotent)")
def top_up(request, payload: TopUpIn):
    person = holder_of(request)
    result = services.topup_buy(actor=Actor.by_user(request.auth), person=person, amount=payload.amount,
                                key=payload.key, password=payload.password)
    return Status(201, result)


class SlotOut(Schema):
    starts_at: dt.datetime
    ends_at: dt.datetime
    state: str = Field(description="free | taken | mine | past")


class MachineOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    building: str
    price: int = Field(description="fen per slot")
    slot_minutes: int

    @staticmethod
    def resolve_building(obj) -> str:
        return obj.dorm.building.name


class LaundryBookingOut(Schema):
    id: int
    machine: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    amount: int
    state: str

    @staticmethod
    def resolve_machine(obj: Booking) -> str:
        return obj.machine.name


class BookingIn(Schema):
    machine: int
    starts_at: dt.datetime = Field(description="a slot's start, with its offset")
    key: str = Field(pattern=KEY)
    password: str | None = None


@router.get("/me/laundry/machines", response=list[MachineOut], summary="The machines of my dorm building")
def my_machines(request):
    return selectors.machines_of(holder_of(request))


@router.get("/me/laundry/machines/{machine_id}/slots", response=list[SlotOut], summary="A machine's slots on a day")
def machine_slots(request, machine_id: int, day: dt.date):
    person = holder_of(request)
    machine = selectors.machine_for(person, machine_id)
    if machine is None:
        raise DomainError("laundry_machine_not_found")
    return selectors.slots(machine, day, person)


@router.get("/me/laundry/bookings", response=list[LaundryBookingOut], summary="My laundry bookings")
def my_bookings(request):
    return selectors.bookings_of(holder_of(request))


@router.post("/me/laundry/bookings", response={201: LaundryBookingOut}, summary="Book and pay a slot (idempotent on key)")
def book(request, payload: BookingIn):
    person = holder_of(request)
    machine = selectors.machine_for(person, payload.machine)
    if machine is None:
        raise DomainError("laundry_machine_not_found")
    booking = services.laundry_book(actor=Actor.by_user(request.auth), person=person, machine=machine,
                                    starts_at=payload.starts_at, key=payload.key, password=payload.password)
    return Status(201, booking)


@router.post("/me/laundry/bookings/{booking_id}/cancel", response=LaundryBookingOut,
             summary="Cancel with a full refund (until N minutes before the start)")
def cancel(request, booking_id: int):
    return services.laundry_cancel(actor=Actor.by_user(request.auth), person=holder_of(request),
                                   booking_id=booking_id)


# --- the meter system (signed device requests) -------------------------------------------------------

class PendingOut(Schema):
    id: int
    meter: str
    energy_wh: int
    amount: int
    created_at: dt.datetime

    @staticmethod
    def resolve_meter(obj: TopUp) -> str:
        return obj.room.meter


class MeterAckIn(Schema):
    applied_wh: int = Field(ge=0)
    meter_ref: str = Field("", max_length=64)


class ReadingIn(Schema):
    meter: str
    remaining_wh: int
    consumed_wh: int = Field(ge=0)
    read_at: dt.datetime


class ReadingsOut(Schema):
    stored: int
    alerts: int


@router.get("/dorm/meter/top-ups", response=list[PendingOut], auth=DeviceSignature(),
            summary="Meter system: the purchased energy still to put on the meters")
def meter_pending(request):
    return services.meter_pending(device=request.auth)


@router.post("/dorm/meter/top-ups/{top_up_id}/applied", response=TopUpOut, auth=DeviceSignature(),
             summary="Meter system: this top-up is on the meter (idempotent)")
def meter_ack(request, top_up_id: int, payload: MeterAckIn):
    return services.meter_ack(device=request.auth, top_up_id=top_up_id, applied_wh=payload.applied_wh,
                              meter_ref=payload.meter_ref)


@router.post("/dorm/meter/readings", response=ReadingsOut, auth=DeviceSignature(),
             summary="Meter system: readings (remaining and total Wh); low balances alert the residents")
def meter_readings(request, payload: list[ReadingIn]):
    if any(r.read_at.tzinfo is None for r in payload):
        raise DomainError("dorm_reading_invalid")
    return services.meter_readings(device=request.auth, readings=[
        services.ReadingIn(r.meter, r.remaining_wh, r.consumed_wh, r.read_at) for r in payload])


# --- laundry machines (signed device requests) -------------------------------------------------------

class StartIn(Schema):
    nfc_uid: str = Field(max_length=32, description="the card the holder tapped on the machine")


class StartOut(Schema):
    start: bool
    booking: int
    minutes: int


class CycleIn(Schema):
    ok: bool
    failure: str = Field("", max_length=100, description="the machine's error, when the cycle failed")


@router.post("/dorm/laundry/start", response=StartOut, auth=DeviceSignature(),
             summary="Machine: may it start for this card? Only the holder of the slot's booking")
def machine_start(request, payload: StartIn):
    booking = services.laundry_start(device=request.auth, nfc_uid=payload.nfc_uid)
    return {"start": True, "booking": booking.pk, "minutes": booking.machine.slot_minutes}


@router.post("/dorm/laundry/bookings/{booking_id}/cycle", response=LaundryBookingOut, auth=DeviceSignature(),
             summary="Machine: the cycle ended (a failed cycle is refunded)")
def machine_cycle(request, booking_id: int, payload: CycleIn):
    return services.laundry_cycle_end(device=request.auth, booking_id=booking_id, ok=payload.ok,
                                      failure=payload.failure)
