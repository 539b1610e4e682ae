"""The demo: two institutions with places and a few thousand people, deterministic and re-runnable.

The first is modelled on the seeds' university (campuses, "Area 1", "Area 2", "Science Park",
"Civil Building", restaurants with kiosks on their first floors, the Card Center's windows 22/23 in
the service hall); the second is a smaller college, so tenancy is visible. People are loaded through
the real roster import, so the demo exercises the same path as production.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db import transaction
from stdnum.cn import ric

from campuscard.core.actors import Actor
from campuscard.core.models import Area, Building, Campus, Institution, ServicePoint
from campuscard.demo.bulk import ISSUED_UNIT, READY_UNIT, bulk_intake
from campuscard.demo.cash_demo import cash_demo
from campuscard.demo.dorm_demo import dorm_demo
from campuscard.demo.face_demo import face_demo
from campuscard.demo.rental_health_demo import rental_health_demo
from campuscard.demo.study_demo import study_demo
from campuscard.demo.support_demo import support_demo
from campuscard.demo.transit_demo import transit_demo
from campuscard.identity.documents import IdType
from campuscard.identity.models import Person, User
from campuscard.identity.roster import roster_import
from campuscard.identity.services import person_create

SEED = 20260901
OPERATOR_PASSWORD = "Demo-pass-2026"

K = Building.Kind
SP = ServicePoint.Kind

# (code, name, name_en, time zone, hotline, campuses)
# campus: (code, name, name_en, areas); area: (code, name, name_en, buildings, service points)
# building: (code, kind, name, name_en); service point: (code, kind, name, name_en, location, location_en, hours)
HDUT = (
    "hdut", "哈尔滨示范工业大学", "Harbin Demo Institute of Technology", "0451-86413000", [
        ("main", "一校区", "Main Campus", [
            ("area1", "一区", "Area 1", [
                ("hall", K.SERVICE_HALL, "师生服务大厅", "Faculty and Student Service Hall"),
                ("xueyuan", K.CANTEEN, "学苑餐厅", "Xueyuan Restaurant"),
                ("zhengxin", K.TEACHING, "正心楼", "Zhengxin Building"),
                ("library", K.LIBRARY, "一校区图书馆", "Main Campus Library"),
                ("dorm-a01", K.DORMITORY, "学生公寓A01", "Dormitory A01"),
                ("dorm-a02", K.DORMITORY, "学生公寓A02", "Dormitory A02"),
                ("gate-main", K.GATE, "正门", "Main Gate"),
            ], [
                ("window-22", SP.WINDOW, "校园卡中心22号窗口", "Campus Card Center window 22",
                 "师生服务大厅", "Faculty and Student Service Hall", "08:30-17:00"),
                ("window-23", SP.WINDOW, "校园卡中心23号窗口", "Campus Card Center window 23",
                 "师生服务大厅", "Faculty and Student Service Hall", "08:30-17:00"),
                ("kiosk-hall", SP.KIOSK, "服务大厅自助区", "Service hall self-service area",
                 "师生服务大厅自助区", "Self-service area of the service hall", "24h"),
                ("kiosk-xueyuan", SP.KIOSK, "学苑餐厅自助机", "Xueyuan Restaurant kiosk",
                 "学苑餐厅一楼", "First floor of Xueyuan Restaurant", "06:00-22:00"),
                ("desk-library", SP.DESK, "图书馆一楼人工服务点", "Library help desk",
                 "一校区图书馆一楼", "First floor of the Main Campus Library", "08:30-21:00"),
            ]),
            ("area2", "二区", "Area 2", [
                ("info-center", K.SERVICE_HALL, "信息服务中心", "Information Service Center"),
                ("chengyi", K.TEACHING, "诚意楼", "Chengyi Building"),
                ("dorm-b01", K.DORMITORY, "学生公寓B01", "Dormitory B01"),
                ("lab-robotics", K.LABORATORY, "机器人实验室", "Robotics Laboratory"),
            ], [
                ("kiosk-info", SP.KIOSK, "信息服务中心自助机", "Information Service Center kiosk",
                 "信息服务中心", "Information Service Center", "24h"),
            ]),
            ("science-park", "科学园", "Science Park", [
                ("nanyuan", K.CANTEEN, "南苑餐厅", "Nanyuan Restaurant"),
                ("lab-materials", K.LABORATORY, "材料实验室", "Materials Laboratory"),
                ("lab-space", K.LABORATORY, "航天实验室", "Space Laboratory"),
            ], [
                ("kiosk-nanyuan", SP.KIOSK, "南苑餐厅自助机", "Nanyuan Restaurant kiosk",
                 "南苑餐厅一楼", "First floor of Nanyuan Restaurant", "06:00-22:00"),
            ]),
            ("civil", "土木楼区", "Civil Building Area", [
                ("clove", K.CANTEEN, "丁香餐厅", "Clove Restaurant"),
                ("civil-building", K.TEACHING, "土木楼", "Civil Building"),
                ("dorm-c01", K.DORMITORY, "学生公寓C01", "Dormitory C01"),
            ], [
                ("kiosk-clove", SP.KIOSK, "丁香餐厅自助机", "Clove Restaurant kiosk",
                 "丁香餐厅一楼", "First floor of Clove Restaurant", "06:00-22:00"),
            ]),
        ]),
        ("second", "二校区", "Second Campus", [
            ("center", "中心区", "Central Area", [
                ("info-center-2", K.SERVICE_HALL, "信息服务中心", "Information Service Center"),
                ("canteen-2", K.CANTEEN, "二校区食堂", "Second Campus Canteen"),
                ("library-2", K.LIBRARY, "二校区图书馆", "Second Campus Library"),
                ("teaching-2", K.TEACHING, "主楼", "Main Building"),
                ("dorm-d01", K.DORMITORY, "学生公寓D01", "Dormitory D01"),
            ], [
                ("window-info-2", SP.WINDOW, "信息服务中心窗口", "Information Service Center window",
                 "信息服务中心", "Information Service Center", "08:30-17:00"),
                ("kiosk-2", SP.KIOSK, "二校区自助机", "Second Campus kiosk",
                 "信息服务中心", "Information Service Center", "24h"),
                ("desk-library-2", SP.DESK, "图书馆一楼人工服务点", "Library help desk",
                 "二校区图书馆一楼", "First floor of the Second Campus Library", "08:30-21:00"),
            ]),
        ]),
    ])

LCDC = (
    "lcdc", "聊城示范学院", "Liaocheng Demo College", "0635-8230000", [
        ("east", "东校区", "East Campus", [
            ("east-core", "东区", "East Area", [
                ("canteen-e", K.CANTEEN, "东区餐厅", "East Canteen"),
                ("library-e", K.LIBRARY, "东区图书馆", "East Library"),
                ("teaching-e", K.TEACHING, "明德楼", "Mingde Building"),
                ("dorm-e1", K.DORMITORY, "东区公寓1号楼", "East Dormitory 1"),
                ("lab-chem", K.LABORATORY, "化学实验室", "Chemistry Laboratory"),
                ("gate-east", K.GATE, "东校区大门", "East Campus Gate"),
            ], [
                ("window-e", SP.WINDOW, "校园卡服务窗口", "Campus card window", "明德楼一楼",
                 "First floor of Mingde Building", "08:30-17:00"),
                ("kiosk-e", SP.KIOSK, "东区餐厅自助机", "East Canteen kiosk", "东区餐厅一楼",
                 "First floor of the East Canteen", "06:00-22:00"),
                ("desk-library-e", SP.DESK, "图书馆一楼人工服务点", "Library help desk", "东区图书馆一楼",
                 "First floor of the East Library", "08:30-21:00"),
            ]),
        ]),
        ("west", "西校区", "West Campus", [
            ("west-core", "西区", "West Area", [
                ("canteen-w", K.CANTEEN, "西区餐厅", "West Canteen"),
                ("teaching-w", K.TEACHING, "博学楼", "Boxue Building"),
                ("dorm-w1", K.DORMITORY, "西区公寓1号楼", "West Dormitory 1"),
            ], [
                ("kiosk-w", SP.KIOSK, "西区餐厅自助机", "West Canteen kiosk", "西区餐厅一楼",
                 "First floor of the West Canteen", "06:00-22:00"),
            ]),
        ]),
    ])

# people per institution: (undergraduate, graduate, exchange, staff, temporary)
POPULATION = {"hdut": (2400, 600, 120, 500, 60), "lcdc": (700, 100, 20, 150, 20)}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红鹏辉建玲宇浩凯晨欣怡梓涵子轩雨桐思远嘉诚一鸣子墨若曦佳琪俊杰博文天翊"
EN_FIRST = ["Liam", "Emma", "Noah", "Olivia", "Lucas", "Mia", "Ethan", "Sofia", "Kenji", "Yuna", "Arjun", "Amara",
            "Mateo", "Chloe", "Jonas", "Leila", "Ivan", "Hana", "Omar", "Zara"]
EN_LAST = ["Smith", "Müller", "Tanaka", "Kim", "Patel", "Okafor", "Rossi", "Dubois", "Silva", "Nguyen", "Kowalski",
           "Haddad", "Ivanova", "Andersson", "Chen", "Wong"]
REGIONS = ["230103", "230102", "230108", "371502", "371521", "110105", "310104", "440106", "510107", "420111",
           "330106", "370102", "210102", "610113"]
DEPARTMENTS = ["计算机学院", "机电工程学院", "材料学院", "航天学院", "土木工程学院", "经济管理学院", "外国语学院",
               "数学学院", "物理学院", "化学化工学院"]


@dataclass(frozen=True)
class DemoLogin:
    who: str
    where: str
    login: str
    password: str


class UniqueIds:
    """Deterministic document numbers that never repeat within one demo load."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def resident(self, *, year: int, want_x: bool = False) -> str:
        rng = self.rng
        while True:
            base = (f"{rng.choice(REGIONS)}{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
                    f"{rng.randint(0, 999):03d}")
            number = base + ric.calc_check_digit(base + "0")  # stdnum wants a placeholder digit
            valid = ric.is_valid(number)  # also checks the region code existed in that birth year
            if valid and (not want_x or number.endswith("X")) and number not in self.used:
                self.used.add(number)
                return number

    def other(self, prefix: str) -> str:
        while True:
            number = f"{prefix}{self.rng.randint(10_000_000, 99_999_999)}"
            if number not in self.used:
                self.used.add(number)
                return number


def chinese_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _places(institution: Institution, campuses) -> None:
    for c_code, c_name, c_en, areas in campuses:
        campus, _ = Campus.objects.get_or_create(institution=institution, code=c_code,
                                                 defaults={"name": c_name, "name_en": c_en})
        for a_code, a_name, a_en, buildings, points in areas:
            area, _ = Area.objects.get_or_create(campus=campus, code=a_code, defaults={"name": a_name, "name_en": a_en})
            for b_code, kind, b_name, b_en in buildings:
                Building.objects.get_or_create(area=area, code=b_code,
                                               defaults={"kind": kind, "name": b_name, "name_en": b_en})
            for p_code, kind, p_name, p_en, loc, loc_en, hours in points:
                ServicePoint.objects.get_or_create(area=area, code=p_code, defaults={
                    "kind": kind, "name": p_name, "name_en": p_en, "location": loc, "location_en": loc_en,
                    "hours": hours, "phone": institution.hotline})


def _rosters(institution: Institution, campuses: list[str], rng: random.Random) -> tuple[bytes, bytes, list[dict]]:
    ids = UniqueIds(rng)
    undergrad, graduate, exchange, staff, temporary = POPULATION[institution.code]
    registrar = io.StringIO()
    writer = csv.writer(registrar)
    writer.writerow(["number", "name", "category", "status", "id_type", "id_number", "campus", "department",
                     "enrollment_year", "phone", "email"])
    serial = 0

    def student(category: str, count: int, code: str) -> None:
        nonlocal serial
        for i in range(count):
            serial += 1
            year = 2022 + (i % 4)
            number = f"{year}{code}{serial:05d}"
            first = serial == 1
            if category == "exchange" and i % 3 == 0:
                id_type, id_number = IdType.PASSPORT.value, ids.other("E")
                name = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
            elif category == "exchange" and i % 3 == 1:
                id_type, id_number = IdType.HKMO_PERMIT.value, ids.other("H")
                name = chinese_name(rng)
            else:
                id_type = IdType.RESIDENT.value
                id_number = ids.resident(year=year - 18 - rng.randint(0, 3), want_x=first)
                name = "张晓雪" if first else chinese_name(rng)
            status = "full_time" if category != "graduate" or i % 10 else "part_time"
            writer.writerow([number, name, category, status, id_type, id_number, rng.choice(campuses),
                             rng.choice(DEPARTMENTS), year, f"13{rng.randint(100_000_000, 999_999_999)}",
                             f"{number}@stu.{institution.code}.edu.cn"])

    student("undergraduate", undergrad, "01")
    student("graduate", graduate, "02")
    student("exchange", exchange, "03")

    hr = io.StringIO()
    writer_hr = csv.writer(hr)
    writer_hr.writerow(["number", "name", "id_type", "id_number", "campus", "department", "title", "phone", "email"])
    for i in range(1, staff + 1):
        number = f"T{i:05d}"
        writer_hr.writerow([number, "李建国" if i == 1 else chinese_name(rng), "resident",
                            ids.resident(year=1960 + rng.randint(0, 35)), rng.choice(campuses),
                            rng.choice(DEPARTMENTS), rng.choice(["教授", "副教授", "讲师", "工程师", "行政人员"]),
                            f"139{rng.randint(10_000_000, 99_999_999)}", f"{number.lower()}@{institution.code}.edu.cn"])
    temporaries = [{"number": f"L{2026}{i:04d}", "name": chinese_name(rng), "campus": rng.choice(campuses),
                    "id_number": ids.resident(year=1970 + rng.randint(0, 30)),
                    "department": rng.choice(["后勤集团", "物业中心", "基建处"])} for i in range(1, temporary + 1)]
    return registrar.getvalue().encode(), hr.getvalue().encode(), temporaries


def _operators(institution: Institution) -> list[DemoLogin]:
    logins = []
    for role, label in (("institution_admin", "admin"), ("card_center_operator", "operator"),
                        ("zone_manager", "zones"), ("auditor", "auditor")):
        username = f"{institution.code}-{label}"
        user, created = User.objects.get_or_create(username=username, defaults={
            "institution": institution, "is_staff": True, "first_name": label})
        if created:
            user.set_password(OPERATOR_PASSWORD)
            user.save()
        user.groups.add(Group.objects.get(name=role))
        logins.append(DemoLogin(f"{role}", institution.code, username, OPERATOR_PASSWORD))
    return logins


def _merchants(institution: Institution) -> list:
    """A merchant with one POS terminal per canteen, shop and laundry building (PAY-1)."""
    import hashlib

    from campuscard.devices.models import Device
    from campuscard.payments import pos
    from campuscard.payments.models import Merchant, Terminal

    category = {Building.Kind.CANTEEN: "canteen", Building.Kind.SHOP: "supermarket"}
    terminals = []
    for building in Building.objects.filter(area__campus__institution=institution, kind__in=list(category)):
        merchant = Merchant.objects.filter(institution=institution, code=building.code).first() or pos.merchant_open(
            actor=Actor.system("demo"), institution=institution, code=building.code, name=building.name,
            name_en=building.name_en, category=category[building.kind], building=building)
        code = f"{institution.code}-pos-{building.code}"
        device, _created = Device.objects.get_or_create(code=code, defaults={
            "institution": institution, "kind": Device.Kind.POS, "name": f"{building.name} 1号窗口",
            "secret": hashlib.sha256(f"{SEED}:{code}".encode()).hexdigest()[:32]})
        terminal, _created = Terminal.objects.get_or_create(device=device, defaults={"merchant": merchant,
                                                                                    "counter": "1号窗口"})
        terminals.append(terminal)
    return terminals


def _wallet_history(institution: Institution, rng: random.Random, holders: int = 150) -> int:
    """Recharges and canteen payments over the last weeks, through the real services: each meal is a
    QR payment authorised at a canteen's POS terminal (so settlement, crowding and the holder's
    statement all have data). Transaction ids are deterministic, so a second run replays (LED-4)."""
    import datetime as dt

    from campuscard.cards import codes
    from campuscard.cards.selectors import qr_credential
    from campuscard.core import clock
    from campuscard.payments import pos
    from campuscard.payments.models import Payment, RechargeOrder
    from campuscard.payments.services import recharge_cash

    terminals = [t for t in _merchants(institution) if t.merchant.category == "canteen"]
    people = list(Person.objects.filter(institution=institution, kind__in=Person.STUDENT_KINDS)
                  .order_by("number")[:holders])
    zone = clock.zone(institution.time_zone)
    started = clock.now()  # the demo's history ends here: nothing in it lies ahead of the clock that runs it
    today = clock.local_date(institution, started)
    done = set(Payment.objects.filter(institution=institution, txn_id__endswith="-0", txn_id__startswith="demo-")
               .values_list("person_id", flat=True))
    count = 0
    for person in people:
        card = person.cards.filter(state="active").first()
        if person.pk in done or card is None:
            continue  # history already made (or the holder's card is lost): re-runs change nothing
        for i in range(2):
            day = today - dt.timedelta(days=40 - 10 * i)
            with clock.frozen_at(dt.datetime.combine(day, dt.time(rng.randint(9, 17)), tzinfo=zone)):
                recharge_cash(channel=rng.choice([RechargeOrder.Channel.WINDOW, RechargeOrder.Channel.KIOSK]),
                              person=person, amount=rng.choice([200, 300]) * 100,
                              key=f"demo:{person.pk}:recharge:{i}", note="demo")
        meals = sorted((today - dt.timedelta(days=rng.randint(0, 29)), rng.choice([(7, 20), (12, 5), (12, 30),
                                                                                   (18, 0)]), rng.random())
                       for _ in range(12))
        moments = [dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone) + dt.timedelta(
            seconds=int(jitter * 1200) + i * 31) for i, (day, (hour, minute), jitter) in enumerate(meals)]
        # (a new 30-second code step for every meal); today's dinner has not happened yet at lunchtime: it
        # was yesterday's — nothing in the demo lies ahead of the clock that runs it (#17 item 9)
        moments = sorted(moment - dt.timedelta(days=1) if moment > started else moment for moment in moments)
        for i, moment in enumerate(moments):
            with clock.frozen_at(moment):
                pos.payment_authorize(terminal=rng.choice(terminals), txn_id=f"demo-{person.pk}-{i}",
                                      amount=rng.choice([650, 800, 1200, 1550, 2200]),
                                      code=codes.current_code(qr_credential(card)))
            count += 1
    return count


def _photo_png(rng: random.Random) -> bytes:
    """A plain silhouette on a coloured background: demo people need approved photos for physical cards."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (240, 320), rng.choice([(214, 228, 245), (226, 238, 226), (240, 232, 220)]))
    draw = ImageDraw.Draw(image)
    draw.ellipse((75, 60, 165, 165), fill=(120, 130, 150))
    draw.ellipse((35, 175, 205, 380), fill=(90, 100, 125))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _cards(institution: Institution, rng: random.Random) -> int:
    """Every holder gets a virtual card; the first students also an approved photo and a physical card
    in production, and an old meal-card balance to migrate (CARD-7)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from campuscard.cards.models import Card, LegacyMealCard, Photo
    from campuscard.cards.services import card_issue, photo_review

    has_card = set(Card.objects.filter(institution=institution).values_list("person_id", flat=True))
    people = list(Person.objects.filter(institution=institution).exclude(pk__in=has_card)
                  .exclude(number__in=NEW_INTAKE)  # the new intake applies (APP-1)
                  .exclude(department__in=[READY_UNIT, ISSUED_UNIT])  # the bulk-issuing slice (APP-7)
                  .order_by("number"))
    operator = User.objects.filter(username=f"{institution.code}-operator").first() or "demo"
    showcase = set(Person.objects.filter(institution=institution, kind=Person.Kind.UNDERGRADUATE)
                   .order_by("number").values_list("pk", flat=True)[:20])
    for person in people:
        physical = person.pk in showcase
        if physical and not Photo.objects.filter(person=person).exists():
            photo = Photo.objects.create(person=person, uploaded_at=clock_now(), image=SimpleUploadedFile(
                f"{person.number}.png", _photo_png(rng), content_type="image/png"))
            photo_review(actor=Actor.by_user(operator), photo=photo, approve=True)
        card_issue(actor=Actor.system("demo"), person=person, physical=physical)
        if physical:
            LegacyMealCard.objects.get_or_create(institution=institution, old_number=f"M{person.number}", defaults={
                "person": person, "balance": rng.choice([1250, 3480, 8800]), "imported_at": clock_now()})
    return len(people)


NEW_INTAKE = ("2026NEW001", "2026NEW002", "T2026NEW")  # the people _new_intake adds, without cards


def _new_intake(institution: Institution, rng: random.Random) -> list[DemoLogin]:
    """The 2026 intake without cards (APP-1): a mainland undergraduate and an international student who
    apply under /apply/, and a new staff member the portal sends to the HR path. Created after the
    cards are issued, so they have none."""
    from campuscard.identity.documents import initial_secret

    ids = UniqueIds(rng)
    campus = institution.campuses.order_by("code").first()
    intake = [
        ("new undergraduate — apply for a card at /apply/", "2026NEW001", "陈思远", Person.Kind.UNDERGRADUATE,
         IdType.RESIDENT, ids.resident(year=2007), Person.Status.FULL_TIME, Person.Source.REGISTRAR),
        ("new international student — apply at /apply/ (passport: uploads 3 documents)", "2026NEW002",
         "Amara Okafor", Person.Kind.UNDERGRADUATE, IdType.PASSPORT, ids.other("P"), Person.Status.FULL_TIME,
         Person.Source.REGISTRAR),
        ("new staff member — /apply/ routes to the HR path", "T2026NEW", "周明", Person.Kind.STAFF, IdType.RESIDENT,
         ids.resident(year=1990), Person.Status.ACTIVE, Person.Source.HR),
    ]
    logins = []
    for who, number, name, kind, id_type, id_number, status, source in intake:
        person = Person.objects.filter(institution=institution, number=number).first()
        if person is None:
            person = person_create(actor=Actor.system("demo"), institution=institution, number=number, name=name,
                                   kind=kind, id_type=id_type, id_number=id_number, campus=campus, status=status,
                                   department=DEPARTMENTS[0], source=source)
            if kind != Person.Kind.STAFF:
                Person.objects.filter(pk=person.pk).update(enrollment_year=2026)
        logins.append(DemoLogin(f"{who} (first login: initial password)", institution.code, person.number,
                                initial_secret(person.id_number)))
    return logins


def _channels(institution: Institution) -> list[DemoLogin]:
    """ID-6: the demo student's card bound to the campus mini-program (ID number + default query
    password), with a token for balance, transactions and notifications, and an older app binding the
    student revoked — both on the portal's Security page and in the back office."""
    from campuscard.cards.channels import channel_bind, channel_binding_revoke
    from campuscard.identity.models import ChannelBinding

    student = (Person.objects.filter(institution=institution, kind=Person.Kind.UNDERGRADUATE)
               .order_by("number").first())
    if student is None:
        return []
    if ChannelBinding.objects.filter(person=student).exists():
        return [DemoLogin("mini-program channel token: bound at the first demo load (shown once)", institution.code,
                          "—", "—")]
    from campuscard.identity.documents import initial_secret

    old, _token = channel_bind(actor=Actor.system("channel:旧版校园 App"), institution=institution,
                               id_number=student.id_number, query_password=initial_secret(student.id_number),
                               channel="旧版校园 App", scopes=["balance"], client_address="127.0.0.1")
    student.refresh_from_db()
    channel_binding_revoke(actor=Actor.by_user(student.user), binding=old)
    _binding, token = channel_bind(
        actor=Actor.system("channel:校园卡小程序"), institution=institution, id_number=student.id_number,
        query_password=initial_secret(student.id_number), channel="校园卡小程序",
        scopes=["balance", "transactions", "notifications"], client_address="127.0.0.1")
    return [DemoLogin("mini-program channel token (Authorization: Bearer; GET /api/v1/wallet)", institution.code,
                      token, "—")]


def clock_now():
    from campuscard.core import clock

    return clock.now()


def _kiosk_devices(institution: Institution) -> list[DemoLogin]:
    """One registered device per kiosk, with a demo-only secret derived from the seed."""
    import hashlib

    from campuscard.devices.models import Device

    logins = []
    pos_device = Device.objects.filter(institution=institution, kind=Device.Kind.POS).order_by("code").first()
    if pos_device is not None:
        logins.append(DemoLogin("POS terminal (enrol at /devices/pos/)", institution.code, pos_device.code,
                                pos_device.secret))
    for point in ServicePoint.objects.filter(area__campus__institution=institution, kind=ServicePoint.Kind.KIOSK):
        code = f"{institution.code}-{point.code}"
        secret = hashlib.sha256(f"{SEED}:{code}".encode()).hexdigest()[:32]
        Device.objects.get_or_create(code=code, defaults={
            "institution": institution, "kind": Device.Kind.KIOSK, "name": point.name, "service_point": point,
            "secret": secret})
        if not any(login.who.startswith("kiosk") for login in logins):
            logins.append(DemoLogin("kiosk device (enrol at /devices/kiosk/)", institution.code, code, secret))
    return logins


def _card_to_tap(institution: Institution) -> list[DemoLogin]:
    from campuscard.cards.models import Credential

    first = Credential.objects.filter(card__institution=institution, kind="nfc", active=True).order_by("uid").first()
    return [DemoLogin("card UID to type at the gate page", institution.code, first.uid, "—")] if first else []


ZONE_LEVELS = {K.GATE: "campus_gate", K.TEACHING: "teaching", K.DORMITORY: "dormitory", K.LABORATORY: "laboratory",
               K.LIBRARY: "library"}


def _access(institution: Institution, rng: random.Random, decisions: int = 400) -> tuple[int, list[DemoLogin]]:
    """A zone with a turnstile for every gate, teaching, dormitory, laboratory and library building;
    dormitory residents, campus-entry approvals, lab add-ons and permits; and a day of real decisions
    at those gates (``services.gate_decide`` at past moments, so the log, the charts and the holders'
    entries have something to show). Returns the decisions made and the first gate's login."""
    import datetime as dt
    import hashlib

    from campuscard.access import services as access
    from campuscard.access.models import (
        AccessEvent,
        CampusEntryApproval,
        DormResidence,
        LabPermit,
        Zone,
    )
    from campuscard.cards.models import Card, PackageAddon
    from campuscard.cards.services import nfc_bind
    from campuscard.core import clock
    from campuscard.devices.models import Device

    zones, logins = [], []
    for building in Building.objects.filter(area__campus__institution=institution, kind__in=ZONE_LEVELS).select_related(
            "area__campus").order_by("area__campus__code", "code"):
        zone, _ = Zone.objects.get_or_create(institution=institution, code=building.code, defaults={
            "campus": building.area.campus, "building": building, "name": building.name,
            "level": ZONE_LEVELS[building.kind]})
        code = f"{institution.code}-turnstile-{building.code}"
        secret = hashlib.sha256(f"{SEED}:{code}".encode()).hexdigest()[:32]
        gate, _ = Device.objects.get_or_create(code=code, defaults={
            "institution": institution, "kind": Device.Kind.GATE, "name": f"{building.name} 闸机", "secret": secret})
        zone.gates.add(gate)
        zones.append((zone, gate))
        if not logins:
            logins.append(DemoLogin("gate device (enrol at /devices/gate/)", institution.code, code, secret))
    manager = User.objects.filter(username=f"{institution.code}-zones").first()
    for zone, _gate in zones:  # the demo's zone manager approves the laboratories' permits
        if manager and zone.level == "laboratory":
            zone.managers.add(manager)
    if not zones or AccessEvent.objects.filter(institution=institution).exists():
        return 0, logins + _card_to_tap(institution)
    now = clock.now()
    today = clock.local_date(institution, now)
    students = list(Person.objects.filter(institution=institution, kind=Person.Kind.UNDERGRADUATE).order_by("number"))
    dorms = [z.building for z, _g in zones if z.level == "dormitory"]
    labs = [z for z, _g in zones if z.level == "laboratory"]
    with transaction.atomic():
        DormResidence.objects.bulk_create([DormResidence(person=p, building=dorms[i % len(dorms)], room=f"{100 + i % 40}",
                                                         valid_from=today - dt.timedelta(days=90))
                                           for i, p in enumerate(students) if dorms and i % 3 != 2])
        CampusEntryApproval.objects.bulk_create([CampusEntryApproval(
            institution=institution, person=p, state="approved", reason="返校 / back to campus", requested_at=now,
            decided_at=now) for i, p in enumerate(students) if i % 5 != 4])
        chemists = students[1::12]
        PackageAddon.objects.bulk_create([PackageAddon(person=p, addon="lab", granted_at=now) for p in chemists])
        # a third of the chemists still wait for their lab's manager, a few students for campus entry
        LabPermit.objects.bulk_create([LabPermit(
            institution=institution, person=p, zone=labs[i % len(labs)], state="approved" if i % 3 != 2 else "requested",
            weekly_slots=[{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(5)],
            valid_from=today - dt.timedelta(days=7), valid_to=today + dt.timedelta(days=60), requested_at=now,
            decided_at=now if i % 3 != 2 else None, purpose="课程实验 / coursework") for i, p in enumerate(chemists)
            if labs])
        CampusEntryApproval.objects.bulk_create([CampusEntryApproval(
            institution=institution, person=p, state="requested", reason="走读 / day student", requested_at=now)
            for i, p in enumerate(students[:100]) if i % 5 == 4])
        # a visitor expected this afternoon, invited by the first member of staff (the portal shows the QR)
        host = Person.objects.filter(institution=institution, kind=Person.Kind.STAFF, cards__state="active").order_by(
            "number").first()
        visiting = [z for z, _g in zones if z.level in ("campus_gate", "teaching")][:2]
        if host and visiting:
            access.visitor_pass_create(actor=Actor.system("demo"), host=host, visitor_name="王访客", visitor_phone="13800000000",
                                       zones=visiting, valid_from=now, valid_to=now + dt.timedelta(hours=6))
    cards = list(Card.objects.filter(institution=institution, state="active", person__kind=Person.Kind.UNDERGRADUATE)
                 .order_by("number")[:300])
    uids = []
    for i, card in enumerate(cards):
        uid = f"D{institution.pk:02X}{i:011X}"
        nfc_bind(actor=Actor.system("demo"), card=card, uid=uid)
        uids.append(uid)
    # spread over the day so far from 06:30 (yesterday's day when it is earlier than 07:30 now)
    day = today if (now.astimezone(clock.zone(institution.time_zone)).time() >= dt.time(7, 30)) else (
        today - dt.timedelta(days=1))
    start = dt.datetime.combine(day, dt.time(6, 30), clock.zone(institution.time_zone))
    span = min((now - start).total_seconds(), 17.5 * 3600.0)
    for _ in range(decisions):
        zone, gate = rng.choice(zones)
        moment = start + dt.timedelta(seconds=span * rng.betavariate(2, 2))
        access.gate_decide(device=gate, zone_code=zone.code, nfc_uid=rng.choice(uids), moment=moment)
    return decisions, logins + _card_to_tap(institution)


def load(progress: Callable[[str], None] = print) -> list[DemoLogin]:
    from campuscard.identity.documents import initial_secret
    from campuscard.identity.roles import ensure_role_groups

    ensure_role_groups()
    rng = random.Random(SEED)
    logins: list[DemoLogin] = []
    admin, created = User.objects.get_or_create(username="platform-admin", defaults={
        "is_staff": True, "is_superuser": True, "first_name": "Platform"})
    if created:
        admin.set_password(OPERATOR_PASSWORD)
        admin.save()
    logins.append(DemoLogin("platform admin (all institutions)", "—", "platform-admin", OPERATOR_PASSWORD))
    for code, name, name_en, hotline, campuses in (HDUT, LCDC):
        progress(f"{code}: places")
        with transaction.atomic():
            institution, _ = Institution.objects.get_or_create(code=code, defaults={
                "name": name, "name_en": name_en, "hotline": hotline, "hotline_hours": "08:30-21:00"})
            _places(institution, campuses)
            support_demo(institution)  # plans, what each point does, per-campus phones, the assistant's entries
        registrar, hr, temporaries = _rosters(institution, [c[0] for c in campuses], rng)
        for source, data in (("registrar", registrar), ("hr", hr)):
            report = roster_import(institution=institution, source=source, name=f"{source}.csv",
                                   stream=io.BytesIO(data), actor=Actor.system("demo"))
            progress(f"{code}: {source} roster — {report.rows} rows, {report.created} new, "
                     f"{report.updated} updated, {report.unchanged} unchanged")
        campus_by_code = {c.code: c for c in institution.campuses.all()}
        for temp in temporaries:
            if not Person.objects.filter(institution=institution, number=temp["number"]).exists():
                person_create(actor=Actor.system("demo"), institution=institution, number=temp["number"], name=temp["name"],
                              kind=Person.Kind.TEMPORARY, id_number=temp["id_number"],
                              campus=campus_by_code[temp["campus"]], department=temp["department"])
        logins += _operators(institution)
        issued = _cards(institution, random.Random(SEED + 7 * institution.pk))
        progress(f"{code}: cards — {issued} issued")
        bulk = bulk_intake(institution, random.Random(SEED + 13 * institution.pk), photo_png=_photo_png,
                           ids=UniqueIds(random.Random(SEED + 17 * institution.pk)), name=chinese_name)
        progress(f"{code}: bulk issuing — {bulk} students of the 2026 intake (软件学院 ready, 电子信息学院 issued)")
        intake = _new_intake(institution, random.Random(SEED + 11 * institution.pk))
        progress(f"{code}: new intake — {len(intake)} people without cards (apply at /apply/)")
        logins += face_demo(institution, SEED, DemoLogin)
        progress(f"{code}: face checks — a registrar photo for 2026NEW001, a face terminal")
        meals = _wallet_history(institution, random.Random(SEED + institution.pk))
        progress(f"{code}: wallets — recharges and {meals} canteen payments for 150 students")
        logins += _kiosk_devices(institution)
        cash_demo(institution)  # yesterday's window shift and a kiosk's cash box, reconciled (#18 item 8)
        made, gate_logins = _access(institution, random.Random(SEED + 3 * institution.pk))
        logins += gate_logins
        progress(f"{code}: access — zones with turnstiles, residents, permits and {made} gate decisions")
        logins += _channels(institution)
        logins += study_demo(institution, random.Random(SEED + 19 * institution.pk), DemoLogin, OPERATOR_PASSWORD)
        progress(f"{code}: study rooms with a day of use, an exam open for check-in, library loans")
        logins += rental_health_demo(institution, random.Random(SEED + 23 * institution.pk), DemoLogin, OPERATOR_PASSWORD)
        progress(f"{code}: equipment rental — two weeks of use, items out and one overdue; health records read twice")
        logins += dorm_demo(institution, random.Random(SEED + 29 * institution.pk), DemoLogin, OPERATOR_PASSWORD)
        progress(f"{code}: dorm electricity (rooms, top-ups, meter readings, reconciliation) and laundry bookings")
        logins += transit_demo(institution, random.Random(SEED + 31 * institution.pk), DemoLogin, OPERATOR_PASSWORD)
        progress(f"{code}: city buses — an operator, two routes, validators, 40 bound cards and three days of rides")
        for person in (Person.objects.filter(institution=institution, kind=Person.Kind.UNDERGRADUATE)
                       .order_by("number")[:1]):
            logins.append(DemoLogin("student (first login: initial password)", code, person.number,
                                    initial_secret(person.id_number)))
        for person in Person.objects.filter(institution=institution, kind=Person.Kind.STAFF).order_by("number")[:1]:
            logins.append(DemoLogin("staff (first login: initial password)", code, person.number,
                                    initial_secret(person.id_number)))
        logins += intake
    return logins
