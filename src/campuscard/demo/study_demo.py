"""Demo data of the study services and the library (SVC-1 … SVC-3): two study rooms with seats and a day of
use (so the free seats, the QR sheet and the occupancy chart have something to show), an exam whose
check-in is open when the demo is loaded (rooms A101/A102, an invigilator named for both), and library
loans fed as the library system would, one due in three days (reminded at load)."""

from __future__ import annotations

import datetime as dt
import random

from django.contrib.auth.models import Group

from campuscard.cards.models import Card
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.models import Institution
from campuscard.identity.models import Person, User
from campuscard.library.services import loan_feed_apply, loan_reminders_send
from campuscard.study import services
from campuscard.study.models import ExamEntry, ExamRoom, ExamSession, SeatBooking, StudyRoom

ROOMS = (("reading-1", "图书馆三楼阅览室", "图书馆 3F", 24), ("reading-2", "第一教学楼自习室 101", "第一教学楼 1F", 12))
BOOKS = ("三体", "高等数学（第七版）", "算法导论", "百年孤独", "深入理解计算机系统", "红楼梦", "线性代数", "活着")


def _user(institution: Institution, label: str, role: str, password: str) -> User:
    user, created = User.objects.get_or_create(username=f"{institution.code}-{label}", defaults={
        "institution": institution, "is_staff": True, "first_name": label})
    if created:
        user.set_password(password)
        user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


def study_demo(institution: Institution, rng: random.Random, login, password: str) -> list:
    if StudyRoom.objects.filter(institution=institution).exists():
        return []
    logins = []
    system = Actor.system("demo")
    carded = list(Person.objects.filter(institution=institution, kind=Person.Kind.UNDERGRADUATE,
                                        cards__state=Card.State.ACTIVE).order_by("number").distinct()[:60])
    zone = clock.zone(institution.time_zone)
    now = clock.now()
    today = clock.local_date(institution, now)
    # study rooms, and a morning of use: walk-ins scanned at past moments, bookings not taken up
    for code, name, location, count in ROOMS:
        room = StudyRoom.objects.create(institution=institution, code=code, name=name, location=location)
        services.study_room_seats_add(actor=Actor.by_user(_user(institution, "study", "study_admin", password)),
                                      room=room, labels=[f"{code[-1]}-{n:02d}" if code != "reading-1" else f"A{n}"
                                                         for n in range(1, count + 1)])
    seats = list(StudyRoom.objects.get(institution=institution, code="reading-1").seats.order_by("pk"))
    users = iter(carded[10:])
    for hour in range(8, 21):
        moment = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(hour, rng.randint(0, 40)), tzinfo=zone)
        for seat in rng.sample(seats, rng.randint(2, 9) if 9 <= hour <= 17 else rng.randint(0, 3)):
            person = next(users, None)
            if person is None:
                users = iter(carded[10:])
                continue
            with clock.frozen_at(moment):
                try:
                    booking = services.seat_scan(actor=system, person=person, token=seat.token)
                except Exception:  # noqa: BLE001 (a seat or holder still busy at that moment: skip it)
                    continue
            SeatBooking.objects.filter(pk=booking.pk).update(state=SeatBooking.State.ENDED,
                                                             closed_at=booking.ends_at)
    for n, person in enumerate(carded[1:4]):
        with clock.frozen_at(dt.datetime.combine(today - dt.timedelta(days=2), dt.time(20), tzinfo=zone)):
            start = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(14 + n), tzinfo=zone)
            services.seat_book(actor=system, person=person, seat=seats[-1 - n], starts_at=start,
                               ends_at=start + dt.timedelta(hours=2))
    services.seat_bookings_release(now=now)
    for person, seat in zip(carded[4:10], seats[:6], strict=False):  # in use now
        services.seat_scan(actor=system, person=person, token=seat.token)
    # an exam whose check-in is open now
    invigilator = _user(institution, "invigilator", "invigilator", password)
    start = now + dt.timedelta(minutes=40)
    session = ExamSession.objects.create(institution=institution, code="calc-final", title="高等数学（上）期末考试",
                                         starts_at=start, ends_at=start + dt.timedelta(hours=2))
    rooms = [ExamRoom.objects.create(session=session, code=code) for code in ("A101", "A102")]
    for room in rooms:
        room.invigilators.add(invigilator)
    ExamEntry.objects.bulk_create([ExamEntry(session=session, room=rooms[n % 2], person=person, seat=str(n // 2 + 1))
                                   for n, person in enumerate(carded[:40])])
    logins.append(login("invigilator: /devices/exam/ (A101, A102)", institution.code, invigilator.username, password))
    logins.append(login("study services administrator", institution.code, f"{institution.code}-study", password))
    # library loans from the library system's feed; one due in three days is reminded now
    library = _user(institution, "library", "library_system", password)
    events = []
    for n, person in enumerate(carded[:30]):
        for k in range(1 + n % 3):
            due = today + dt.timedelta(days=(3 if n == 0 and k == 0 else rng.randint(-3, 28)))
            events.append({"event": "loan", "loan_id": f"{institution.code}-{n}-{k}", "number": person.number,
                           "barcode": f"TSG{n:04d}{k}", "title": BOOKS[(n + k) % len(BOOKS)],
                           "at": (now - dt.timedelta(days=20)).isoformat(), "due": due.isoformat()})
    if len(carded) > 1:
        events.append({"event": "return", "loan_id": f"{institution.code}-1-1", "at": now.isoformat()})
    loan_feed_apply(actor=Actor.by_user(library), institution=institution,
                    events=list(enumerate(events, start=1)))
    loan_reminders_send(institution=institution)
    logins.append(login("library system (loan feed, back office)", institution.code, library.username, password))
    return logins
