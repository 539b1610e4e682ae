"""Demo data of the dorm services (SVC-5), through the real services.

Electricity: each dormitory building gets its meter accounts (one room per room number its residents
live in, from access's residences), the meter system (a device login), two weeks of top-ups from the
wallets of residents with the add-on, confirmed by the meter system, a reading per room (a few low:
their residents alerted), one top-up the meter has not taken yet, and yesterday's reconciliation run.
Laundry: two washers and a dryer per building (the first washer's controller a device login), past
bookings finished, one no-show and one failed and refunded, and an upcoming booking of the demo student.
Operator logins for the two new roles (the laundry operator linked to the first building).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random

from django.contrib.auth.models import Group

from campuscard.access.models import DormResidence
from campuscard.cards.models import Card, PackageAddon
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Building, Institution
from campuscard.devices.models import Device
from campuscard.dorm import services
from campuscard.dorm.models import Booking, DormBuilding, DormStaff, Machine, MeterSystem, Room
from campuscard.identity.models import Person, User
from campuscard.payments import pos
from campuscard.payments.models import Merchant
from campuscard.payments.selectors import wallet_summary
from campuscard.payments.services import recharge_cash

SEED = 20261205
ACTOR = Actor.system("demo")


def _merchant(institution: Institution, code: str, name: str, category: str) -> Merchant:
    return Merchant.objects.filter(institution=institution, code=code).first() or pos.merchant_open(
        actor=ACTOR, institution=institution, code=code, name=name, category=category)


def _user(institution: Institution, label: str, role: str, password: str, name: str) -> User:
    user, created = User.objects.get_or_create(username=f"{institution.code}-{label}", defaults={
        "institution": institution, "is_staff": True, "first_name": name})
    if created:
        user.set_password(password)
        user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def _device(institution: Institution, code: str, kind: str, name: str) -> tuple[Device, str]:
    secret = hashlib.sha256(f"{SEED}:{code}".encode()).hexdigest()[:32]
    device, _created = Device.objects.get_or_create(code=code, defaults={
        "institution": institution, "kind": kind, "name": name, "secret": secret})
    return device, device.secret


def dorm_demo(institution: Institution, rng: random.Random, login, password: str) -> list:
    if DormBuilding.objects.filter(institution=institution).exists():
        return []
    logins = [login("dormitory electricity operator", institution.code,
                    _user(institution, "power", "dorm_electricity_operator", password, "宿管电费").username, password),
              login("laundry operator", institution.code,
                    _user(institution, "laundry", "laundry_operator", password, "洗衣房").username, password)]
    power = _merchant(institution, "dorm-power", "宿舍电费", "other")
    meter_device, meter_secret = _device(institution, f"{institution.code}-meters", services.METER_DEVICE_KIND,
                                         "宿舍电表系统")
    MeterSystem.objects.get_or_create(institution=institution, device=meter_device)
    logins.append(login("meter system (device API: /api/v1/dorm/meter/…)", institution.code, meter_device.code,
                        meter_secret))
    first = Person.objects.filter(institution=institution, kind=Person.Kind.UNDERGRADUATE).order_by("number").first()
    rooms, machines = [], []
    for building in Building.objects.filter(area__campus__institution=institution,
                                            kind=Building.Kind.DORMITORY).order_by("code"):
        laundry = _merchant(institution, f"laundry-{building.code}", f"{building.name}洗衣房", "laundry")
        dorm = services.dorm_building_open(actor=ACTOR, building=building, electricity_merchant=power,
                                           laundry_merchant=laundry)
        by_room: dict[str, list[int]] = {}
        for person_id, number in (DormResidence.objects.filter(building=building, valid_to=None)
                                  .values_list("person_id", "room").order_by("room", "person_id")):
            by_room.setdefault(number or "100", []).append(person_id)
        for number, people in sorted(by_room.items()):
            room = Room.objects.create(institution=institution, dorm=dorm, number=number,
                                       meter=f"{building.code}-{number}", price=rng.choice([55, 60, 60, 62]))
            room.residents.add(*people)
            rooms.append(room)
        for code, name, kind, price in (("w1", "1号洗衣机", "washer", 400), ("w2", "2号洗衣机", "washer", 400),
                                        ("d1", "1号烘干机", "dryer", 300)):
            machines.append(Machine.objects.create(institution=institution, dorm=dorm, code=f"{building.code}-{code}",
                                                   name=name, kind=kind, price=price, slot_minutes=60))
    if machines:
        device, secret = _device(institution, f"{institution.code}-laundry-{machines[0].code}",
                                 services.MACHINE_DEVICE_KIND, str(machines[0]))
        machines[0].device = device
        machines[0].save(update_fields=["device"])
        logins.append(login("laundry machine (device API: /api/v1/dorm/laundry/…)", institution.code, device.code,
                            secret))
    residents = [p for room in rooms for p in room.residents.all()]
    if first is not None and first not in residents and rooms:
        rooms[0].residents.add(first)
        residents.insert(0, first)
    users = [first] if first in residents else []
    users += [p for p in residents if p != first][:40]
    now = clock.now()
    with clock.frozen_at(now - dt.timedelta(days=15)):  # residents short of money recharged at the window
        for person in users:
            if Card.objects.filter(person=person, state=Card.State.ACTIVE).exists() and \
                    wallet_summary(person).balances.available < 5_000:
                recharge_cash(channel="window", person=person, amount=10_000, key=f"dorm-demo-{person.pk}")
    for person in users:
        for addon in ("dorm_electricity", "laundry"):
            PackageAddon.objects.get_or_create(person=person, addon=addon, revoked_at=None,
                                               defaults={"granted_at": now - dt.timedelta(days=30)})
    laundry_operator = User.objects.get(username=f"{institution.code}-laundry")
    if rooms:  # the laundry operator works for the first dorm building only (the others: the whole institution)
        DormStaff.objects.get_or_create(user=laundry_operator)[0].dorms.add(rooms[0].dorm)
    _electricity(institution, rng, users, rooms, meter_device)
    _laundry(institution, rng, users, machines)
    return logins


def _electricity(institution, rng, users, rooms, meter_device) -> None:
    zone = clock.zone(institution.time_zone)
    today = clock.local_date(institution)
    top_ups = []
    for n, person in enumerate(users):
        for days_ago in sorted(rng.sample(range(1, 14), 2), reverse=True):
            at = dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(rng.randint(8, 22),
                                                                                   rng.randint(0, 59)), tzinfo=zone)
            with clock.frozen_at(at):
                try:
                    top_ups.append(services.topup_buy(actor=ACTOR, person=person, amount=rng.choice([1000, 2000, 3000]),
                                                      key=f"demo-{n}-{days_ago}"))
                except DomainError:
                    continue  # not enough money in that wallet: as in life
    for top_up in top_ups:
        with clock.frozen_at(top_up.created_at + dt.timedelta(minutes=rng.randint(1, 5))):
            services.meter_ack(device=meter_device, top_up_id=top_up.pk, applied_wh=top_up.energy_wh,
                               meter_ref=f"MS{top_up.pk:07d}")
    read_at = clock.now().replace(minute=0, second=0, microsecond=0)
    readings = []
    for i, room in enumerate(rooms):
        remaining = rng.choice([1_800, 3_200]) if i % 6 == 1 else rng.randint(8_000, 60_000)
        if room.residents.filter(pk=users[0].pk).exists() if users else False:
            remaining = 3_650  # the demo student's room is low: the alert and the red figure show
        readings.append(services.ReadingIn(room.meter, remaining, rng.randint(400_000, 900_000), read_at))
    if readings:
        services.meter_readings(device=meter_device, readings=readings)
    if users:  # one top-up the meter system has not taken yet (shows as waiting; tomorrow's reconciliation)
        try:
            services.topup_buy(actor=ACTOR, person=users[-1], amount=500, key="demo-waiting")
        except DomainError:
            pass
    services.reconcile_day(institution=institution, day=today - dt.timedelta(days=1))


def _laundry(institution, rng, users, machines) -> None:
    if not machines or not users:
        return
    zone = clock.zone(institution.time_zone)
    today = clock.local_date(institution)
    by_dorm: dict[int, list[Machine]] = {}
    for machine in machines:
        by_dorm.setdefault(machine.dorm_id, []).append(machine)
    for n, person in enumerate(users[:24]):
        mine = [m for m in machines if Room.objects.filter(dorm_id=m.dorm_id, residents=person).exists()]
        if not mine:
            continue
        machine = mine[n % len(mine)]
        day = today - dt.timedelta(days=1 + n % 5)
        start = dt.datetime.combine(day, dt.time(8 + n % 13, 0), tzinfo=zone)
        with clock.frozen_at(start - dt.timedelta(hours=2)):
            try:
                booking = services.laundry_book(actor=ACTOR, person=person, machine=machine, starts_at=start,
                                                key=f"demo-{n}")
            except DomainError:
                continue
        if n % 8 == 3:
            services.laundry_no_shows_release(now=start + dt.timedelta(minutes=15))  # a no-show
            continue
        Booking.objects.filter(pk=booking.pk).update(state=Booking.State.STARTED, started_at=start)
        outcome = n % 8 != 5
        if outcome:
            Booking.objects.filter(pk=booking.pk).update(state=Booking.State.DONE,
                                                         ended_at=start + dt.timedelta(minutes=50))
        elif machine.device is not None:
            with clock.frozen_at(start + dt.timedelta(minutes=20)):
                services.laundry_cycle_end(device=machine.device, booking_id=booking.pk, ok=False, failure="E21 排水故障")
    first = users[0]
    mine = [m for m in machines if Room.objects.filter(dorm_id=m.dorm_id, residents=first).exists()]
    if mine:  # the demo student's next wash, this evening or tomorrow
        now = clock.institution_now(institution)
        start = (now + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
        try:
            services.laundry_book(actor=ACTOR, person=first, machine=mine[0], starts_at=start, key="demo-next")
        except DomainError:
            pass
