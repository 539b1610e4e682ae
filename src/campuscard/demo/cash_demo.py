"""Demo cash (#18 item 8), through the real services: yesterday's shift of the Card Center operator at a
window (a float, cash recharges, closed one yuan short, so the report shows a difference) and one emptying
of a kiosk's cash box after two cash recharges there. Run once per institution."""

from __future__ import annotations

import datetime as dt

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.models import Institution, ServicePoint
from campuscard.devices.models import Device
from campuscard.identity.models import Person, User
from campuscard.payments import cash
from campuscard.payments.models import CashShift, RechargeOrder
from campuscard.payments.services import recharge_cash


def cash_demo(institution: Institution) -> None:
    operator = User.objects.filter(username=f"{institution.code}-operator").first()
    kiosk = Device.objects.filter(institution=institution, kind=Device.Kind.KIOSK).order_by("code").first()
    holder = (Person.objects.filter(institution=institution, kind__in=Person.STUDENT_KINDS, cards__state="active")
              .order_by("number").first())
    if operator is None or kiosk is None or holder is None or CashShift.objects.filter(
            institution=institution).exists():
        return
    window = ServicePoint.objects.filter(area__campus__institution=institution,
                                         kind=ServicePoint.Kind.WINDOW).order_by("code").first()
    zone = clock.zone(institution.time_zone)
    day = clock.local_date(institution) - dt.timedelta(days=1)
    actor = Actor.by_user(operator)

    def at(hour: int, minute: int = 0):
        return clock.frozen_at(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone))

    with at(8, 30):
        shift = cash.cash_shift_open(actor=actor, service_point=window, opening_float=50_000)
    for i, amount in enumerate((10_000, 5_000)):
        with at(10 + i):
            recharge_cash(channel=RechargeOrder.Channel.WINDOW, person=holder, amount=amount,
                          key=f"demo-cash-window-{i}", operator=operator, note="demo")
    for i, amount in enumerate((2_000, 5_000)):
        with at(12 + i):
            recharge_cash(channel=RechargeOrder.Channel.KIOSK, person=holder, amount=amount,
                          key=f"{kiosk.code}:demo-cash-kiosk-{i}", device=kiosk, note="demo")
    with at(17, 30):
        cash.cash_shift_close(actor=actor, shift=shift, counted=50_000 + 15_000 - 100, note="¥1 short (demo)")
        cash.cash_box_empty(actor=actor, device=kiosk, counted=7_000)
