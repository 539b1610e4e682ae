"""Demo data of equipment rental and health records (SVC-4, SVC-6), through the real services.

Rental: a sports equipment room and a lab equipment office (merchants) with a dozen items, an equipment-desk
login, two weeks of check-outs and returns at past moments (deposits held and released, rates charged, so
the usage charts and the rooms' settlements have figures), a few items out now and one overdue (flagged
and notified). Health: a clinician and the hospital's feed; examinations and vaccinations of the first
holders received through the feed; the demo student's records read twice by the clinician, so "who read
my data" has rows to show.
"""

from __future__ import annotations

import datetime as dt
import random

from django.contrib.auth.models import Group

from campuscard.cards.models import Card
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution
from campuscard.health import services as health
from campuscard.health.models import Examination, RecordRead
from campuscard.identity.models import Person, User
from campuscard.payments import pos
from campuscard.payments.models import Merchant
from campuscard.rental import services as rental
from campuscard.rental.models import Item

# (merchant code, merchant name, [(item code, name, category, deposit fen, rate fen/hour, loan hours)])
ROOMS = [
    ("sports-room", "体育器材室", [
        ("bball-01", "篮球", "sports", 5000, 0, 4), ("bball-02", "篮球", "sports", 5000, 0, 4),
        ("racket-01", "羽毛球拍（一对）", "sports", 3000, 0, 4), ("racket-02", "羽毛球拍（一对）", "sports", 3000, 0, 4),
        ("tt-01", "乒乓球拍（一对）", "sports", 2000, 0, 3), ("tent-01", "野营帐篷", "sports", 4000, 200, 48),
    ]),
    ("lab-equipment", "实验设备处", [
        ("scope-01", "光学显微镜", "lab", 0, 500, 24), ("scope-02", "光学显微镜", "lab", 0, 500, 24),
        ("osc-01", "示波器", "lab", 4000, 300, 24), ("cam-01", "高速摄像机", "lab", 4500, 800, 8),
        ("printer3d-01", "3D 打印机（工时）", "lab", 0, 1000, 6), ("multimeter-01", "万用表", "lab", 1000, 0, 24),
    ]),
]
VACCINES = ("乙肝疫苗", "流感疫苗", "麻疹疫苗", "新冠疫苗", "HPV 疫苗")


def _user(institution: Institution, label: str, role: str, password: str, name: str = "") -> User:
    user, created = User.objects.get_or_create(username=f"{institution.code}-{label}", defaults={
        "institution": institution, "is_staff": True, "first_name": name or label})
    if created:
        user.set_password(password)
        user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def rental_health_demo(institution: Institution, rng: random.Random, login, password: str) -> list:
    if Item.objects.filter(institution=institution).exists():
        return []
    logins = []
    holders = list(Person.objects.filter(institution=institution, kind=Person.Kind.UNDERGRADUATE,
                                         cards__state=Card.State.ACTIVE).order_by("number").distinct()[:40])
    logins += _health(institution, rng, login, password, holders)
    logins += _rental(institution, rng, login, password, holders)
    return logins


def _health(institution, rng, login, password, holders) -> list:
    clinician = _user(institution, "clinician", "clinician", password, "王医生")
    _user(institution, "hospital", "hospital_feed", password, "校医院接口")
    feed = Actor.by_user(clinician)
    today = clock.local_date(institution)
    year = today.year
    exams, vaccinations = [], []
    for n, person in enumerate(holders):
        height = rng.randint(1550, 1900)
        exams.append((n + 2, {
            "number": person.number, "external_id": f"TJ{year}-{n + 1:05d}", "examined_on": (today - dt.timedelta(days=20 + n % 5)).isoformat(),
            "height_cm": f"{height / 10:.1f}", "weight_kg": f"{rng.randint(450, 850) / 10:.1f}",
            "systolic": str(rng.randint(100, 130)), "diastolic": str(rng.randint(62, 85)),
            "heart_rate": str(rng.randint(58, 92)), "vision_left": f"{rng.randint(42, 52) / 10:.1f}",
            "vision_right": f"{rng.randint(42, 52) / 10:.1f}", "conclusion": rng.choice(["合格", "合格", "合格，建议矫正视力"])}))
        for dose, vaccine in enumerate(rng.sample(VACCINES, 2), start=1):
            vaccinations.append((len(vaccinations) + 2, {
                "number": person.number, "external_id": f"YM{year}-{n + 1:05d}-{dose}", "vaccine": vaccine,
                "dose": "1", "given_on": (today - dt.timedelta(days=rng.randint(30, 1200))).isoformat()}))
    if exams:
        health.records_receive(actor=feed, institution=institution, kind="examinations", rows=exams)
        health.records_receive(actor=feed, institution=institution, kind="vaccinations", rows=vaccinations)
    first = Person.objects.filter(institution=institution, kind=Person.Kind.UNDERGRADUATE).order_by("number").first()
    if first is not None and Examination.objects.filter(person=first).exists() and not RecordRead.objects.filter(
            person=first).exists():
        for days, purpose in ((9, "入学体检复核"), (2, "校医院门诊")):
            with clock.frozen_at(clock.now() - dt.timedelta(days=days, hours=rng.randint(1, 5))):
                health.health_records_read(reader=clinician, person=first, purpose=purpose)
    return [login("clinician (health records, every read shown to the holder)", institution.code,
                  clinician.username, password)]


def _rental(institution, rng, login, password, holders) -> list:
    desk_user = _user(institution, "desk", "equipment_desk", password, "器材室前台")
    desk = Actor.by_user(desk_user)
    items = []
    for code, name, rows in ROOMS:
        merchant = Merchant.objects.filter(institution=institution, code=code).first() or pos.merchant_open(
            actor=Actor.system("demo"), institution=institution, code=code, name=name, category="other")
        for item_code, item_name, category, deposit, rate, hours in rows:
            items.append(Item.objects.create(institution=institution, code=item_code, name=item_name,
                                             category=category, merchant=merchant, deposit=deposit,
                                             rate_per_hour=rate, loan_hours=hours))
    cards = [c for c in (Card.objects.filter(person=p, state=Card.State.ACTIVE).first() for p in holders[:30]) if c]
    if not cards:
        return [login("equipment desk", institution.code, desk_user.username, password)]
    zone = clock.zone(institution.time_zone)
    today = clock.local_date(institution)
    count = 0
    # two weeks of use, each check-out returned 20 min – 5 h later, all before now
    for days_ago in range(14, 0, -1):
        day = today - dt.timedelta(days=days_ago)
        for _ in range(rng.randint(3, 8)):
            out = dt.datetime.combine(day, dt.time(rng.randint(8, 18), rng.randint(0, 59)), tzinfo=zone)
            count += _lend(desk, rng.choice(cards), rng.choice(items), f"demo-{day:%m%d}-{count}", out,
                           out + dt.timedelta(minutes=rng.randint(20, 300)))
    # out now: two items, one of them overdue (flagged, its holder notified)
    now = clock.now()
    for item_code, due_in_hours, card in (("bball-01", 1, cards[0]), ("cam-01", -3, cards[min(1, len(cards) - 1)])):
        item = next(i for i in items if i.code == item_code)
        _lend(desk, card, item, f"demo-now-{item_code}", now - dt.timedelta(hours=item.loan_hours - due_in_hours), None)
    rental.overdue_flag()
    logins = [login("equipment desk (/devices/desk/)", institution.code, desk_user.username, password)]
    return logins


def _lend(desk: Actor, card: Card, item: Item, key: str, out: dt.datetime, back: dt.datetime | None) -> int:
    try:
        with clock.frozen_at(out):
            made = rental.rental_checkout(actor=desk, card=card, item_code=item.code, key=key)
        if back is not None:
            with clock.frozen_at(back):
                rental.rental_return(actor=desk, rental=made)
    except DomainError:  # a poor wallet, a daily limit reached, the item still out: the desk says no
        return 0
    return 1
