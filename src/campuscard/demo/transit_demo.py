"""Demo data of the city buses (TRN-1, TRN-2), through the real services: a bus operator with two routes
(one by stage) and a 30-minute transfer discount, a validator per route (the first a device login for the
browser validator page), a bus-operator login, the demo student's card bound, and a few days of rides
uploaded by the validators (so the holder's rides, the clearing page and its chart have something)."""

from __future__ import annotations

import datetime as dt
import hashlib
import random

from django.contrib.auth.models import Group

from campuscard.cards.models import Card, Credential
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.models import Institution
from campuscard.devices.models import Device
from campuscard.identity.models import Person, User
from campuscard.payments.services import recharge_cash
from campuscard.transit import services
from campuscard.transit.models import Binding, Operator, OperatorStaff, Route, Tap, Validator

SEED = 20261205
ACTOR = Actor.system("demo")


def transit_demo(institution: Institution, rng: random.Random, login, password: str) -> list:
    operator = Operator.objects.filter(institution=institution, code="citybus").first() or services.operator_create(
        actor=ACTOR, institution=institution, code="citybus", name="市公交集团", transfer_minutes=30,
        transfer_discount=50, terms="校园卡乘车：学生卡五折；车费从校园卡钱包扣除；离线刷卡最多透支一次车费。")
    routes = [Route.objects.get_or_create(operator=operator, code=code, defaults=values)[0] for code, values in (
        ("K1", {"name": "大学城—火车站", "fare": 200}),
        ("K9", {"name": "大学城—古楼 (分段)", "fare": 100, "stage_fare": 100, "max_stages": 3}))]
    logins = []
    validators = []
    for route in routes:
        code = f"{institution.code}-bus-{route.code.lower()}-01"
        secret = hashlib.sha256(f"{SEED}:{code}".encode()).hexdigest()[:32]
        device, _ = Device.objects.get_or_create(code=code, defaults={
            "institution": institution, "kind": Device.Kind.VALIDATOR, "name": f"{route.code} 车载机 01",
            "secret": secret})
        validator, _ = Validator.objects.get_or_create(device=device, defaults={"operator": operator, "route": route})
        validators.append(validator)
        if not logins:
            logins.append(login("bus validator (enrol at /devices/validator/)", institution.code, code, secret))
    username = f"{institution.code}-bus"
    user, created = User.objects.get_or_create(username=username, defaults={
        "institution": institution, "is_staff": True, "first_name": "bus"})
    if created:
        user.set_password(password)
        user.save()
    user.groups.add(Group.objects.get(name="bus_operator"))
    OperatorStaff.objects.get_or_create(user=user, defaults={"operator": operator})
    logins.append(login("bus operator (its clearing files and disputes)", institution.code, username, password))
    if Binding.objects.filter(institution=institution).exists():
        return logins
    riders = list(Card.objects.filter(institution=institution, state=Card.State.ACTIVE,
                                      person__kind=Person.Kind.UNDERGRADUATE,
                                      credentials__kind=Credential.Kind.NFC, credentials__active=True)
                  .order_by("person__number").distinct()[:40])
    for card in riders:
        recharge_cash(channel="window", person=card.person, amount=5_000, key=f"demo-transit-fund-{card.pk}")
        services.binding_create(actor=ACTOR, card=card, accept_terms=True)
    if len(riders) > 1:  # one holder paused the binding
        Binding.objects.filter(card=riders[-1]).update(state=Binding.State.SUSPENDED)
    uids = {card.pk: Credential.objects.filter(card=card, kind="nfc", active=True).values_list("uid", flat=True)[0]
            for card in (riders[:-1] if len(riders) > 1 else riders)}
    now = clock.now()
    zone = clock.zone(institution.time_zone)
    counters = {v.pk: 0 for v in validators}
    for days_ago in (2, 1, 0):
        day = (now - dt.timedelta(days=days_ago)).astimezone(zone).date()
        batches: dict[int, list] = {v.pk: [] for v in validators}
        for uid in uids.values():
            for base in (dt.time(7, 30), dt.time(17, 40)):
                moment = dt.datetime.combine(day, base, zone) + dt.timedelta(minutes=rng.randint(0, 80))
                if moment >= now:
                    continue
                v = validators[0] if rng.random() < 0.7 else validators[1]
                counters[v.pk] += 1
                batches[v.pk].append({"counter": counters[v.pk], "uid": uid, "tapped_at": moment.isoformat(),
                                      "stages": rng.randint(1, 3)})
                if v is validators[0] and rng.random() < 0.2:  # a transfer to the other route
                    w = validators[1]
                    counters[w.pk] += 1
                    batches[w.pk].append({"counter": counters[w.pk], "uid": uid,
                                          "tapped_at": (moment + dt.timedelta(minutes=rng.randint(10, 25))).isoformat()})
        for v in validators:
            ready = [t for t in batches[v.pk] if t["tapped_at"] < now.isoformat()]
            for start in range(0, len(ready), 200):
                services.taps_upload(device=v.device, taps=ready[start:start + 200])
    # one holder says a ride was not theirs: an open dispute for the operator's evidence and the Card Center
    ride = Tap.objects.filter(operator=operator, state=Tap.State.CHARGED).exclude(transfer_id=None).order_by("pk").first()
    if ride is not None and ride.person is not None:
        services.dispute_open(actor=ACTOR, person=ride.person, tap=ride, reason="那天我没有坐公交 / I did not take that bus")
    return logins
