"""Canteen crowding (issue 5, item 6): levels from synthetic payments made at frozen moments."""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest

from campuscard.cards.services import nfc_bind
from campuscard.cards.workdays import is_working_day
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.payments import crowding, pos
from campuscard.payments.crowding import Level, level_of
from campuscard.payments.models import Terminal
from campuscard.payments.services import recharge_cash

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 10, 12, 10, tzinfo=SHANGHAI)  # a Wednesday; the 4 weeks before hold no holiday
UID = "04:C0:FF:EE"


def at(day: dt.date, hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SHANGHAI)


def days_ago(n: int) -> dt.date:
    return NOW.date() - dt.timedelta(days=n)


@pytest.fixture
def holder_card(student, card):
    with clock.frozen_at(at(days_ago(40), 8, 0)):
        recharge_cash(channel="window", person=student, amount=100_000, key="crowd-fund")
        nfc_bind(actor=Actor.system("t"), card=card, uid=UID)
    return card


@pytest.fixture
def open_canteen(institution):
    def make(code: str, category: str = "canteen", inst=None) -> Terminal:
        inst = inst or institution
        merchant = pos.merchant_open(actor=Actor.system("t"), institution=inst, code=code, name=f"餐厅{code}", category=category)
        device, _secret = device_register(actor=Actor.system("t"), institution=inst, kind=Device.Kind.POS, code=f"pos-{code}",
                                          name=code)
        return Terminal.objects.create(device=device, merchant=merchant)

    return make


def pay(terminal: Terminal, moments: list[dt.datetime]) -> None:
    for moment in moments:
        with clock.frozen_at(moment):
            pos.payment_authorize(terminal=terminal, txn_id=uuid.uuid4().hex, amount=100, nfc_uid=UID)


def spread(start: dt.datetime, count: int, every: int = 50) -> list[dt.datetime]:
    return [start + dt.timedelta(seconds=every * i) for i in range(count)]


def test_levels_compare_the_last_ten_minutes_with_usual_days(holder_card, open_canteen, other_institution,
                                                             django_assert_max_num_queries):
    assert all(is_working_day("CN", days_ago(n)) == (days_ago(n).weekday() < 5) for n in range(1, 29))
    a, b, c, d = (open_canteen(code) for code in "abcd")
    shop = open_canteen("shop", category="supermarket")
    open_canteen("far", inst=other_institution)

    # a: usually 4 at 12:00–12:10 on working days (two days with payments: the mean over those two)
    pay(a, spread(at(days_ago(7), 12, 0, 30), 3) + spread(at(days_ago(1), 12, 1), 5))
    pay(a, spread(at(days_ago(4), 12, 2), 5))  # Saturday: not a usual day for a Wednesday
    pay(a, spread(at(days_ago(35), 12, 2), 5))  # five weeks ago: out of the window
    pay(a, spread(at(NOW.date(), 12, 0, 30), 9, every=60))  # now: 9 — very busy
    # b: usually 6, now 6 (and one earlier) — normal
    pay(b, spread(at(days_ago(1), 12, 3), 6))
    pay(b, [at(NOW.date(), 11, 55)] + spread(at(NOW.date(), 12, 1), 6))
    # c: usually 10, now 2 — quiet
    pay(c, spread(at(days_ago(2), 12, 0), 10, every=55))
    pay(c, spread(at(NOW.date(), 12, 5), 2))
    # d: usually 4, now 6 — busy
    pay(d, spread(at(days_ago(6), 12, 4), 4))
    pay(d, spread(at(NOW.date(), 12, 2), 6))
    pay(shop, spread(at(NOW.date(), 12, 2), 3))

    institution = holder_card.institution
    with django_assert_max_num_queries(3):  # canteens, today, history
        result = crowding.canteens_crowding(institution, at=NOW)
    by_code = {row.merchant.code: row for row in result}
    assert [row.merchant.code for row in result] == ["c", "b", "d", "a"]  # quietest first
    assert {code: (row.now, row.usual, row.level) for code, row in by_code.items()} == {
        "a": (9, pytest.approx(4.0), Level.VERY_BUSY), "b": (6, pytest.approx(6.0), Level.NORMAL),
        "c": (2, pytest.approx(10.0), Level.QUIET), "d": (6, pytest.approx(4.0), Level.BUSY)}

    bars = {bar.start: bar for bar in by_code["b"].bars}
    assert bars[dt.time(6, 0)] == bars[min(bars)] and len(bars) == 16 * 6
    assert bars[dt.time(11, 50)].today == 1 and bars[dt.time(12, 0)].today == 6
    assert bars[dt.time(12, 10)].current and bars[dt.time(12, 10)].today == 0
    assert bars[dt.time(12, 20)].today is None  # later today
    assert bars[dt.time(12, 0)].usual == pytest.approx(6.0) and bars[dt.time(12, 0)].today_percent == 100

    with django_assert_max_num_queries(2):  # the usual profile is cached for the day
        again = crowding.canteens_crowding(institution, at=NOW + dt.timedelta(minutes=5))
    # (12:05, 12:15]: half of the 12:00 slot and half of the 12:10 slot on usual days
    assert {row.merchant.code: row.usual for row in again}["a"] == pytest.approx(2.0)


def test_the_last_ten_minutes_reach_back_over_a_slot_boundary(holder_card, open_canteen):
    a = open_canteen("a")
    pay(a, [at(NOW.date(), 12, 4)])
    pay(a, spread(at(NOW.date(), 12, 11), 3))
    [row] = crowding.canteens_crowding(holder_card.institution, at=at(NOW.date(), 12, 13))
    assert row.now == 4 and row.usual is None and row.level == Level.NORMAL  # a new canteen: nothing to compare
    [row] = crowding.canteens_crowding(holder_card.institution, at=at(NOW.date(), 12, 15))
    assert row.now == 3


def test_today_counts_the_whole_day_and_never_less_than_the_last_ten_minutes(holder_card, open_canteen):
    """#17 item 11: "last 10 minutes 1" beside "today 0". Today was the sum of the 06:00–22:00 bars, so a
    payment before 06:00 or after 22:00 was in the window but not in today; and just after midnight the
    window reached into yesterday. Today now counts the whole local day, and the window stops at midnight."""
    a = open_canteen("a")
    day = NOW.date()
    pay(a, [at(day, 5, 40), at(day, 12, 3), at(day, 22, 31)])
    [row] = crowding.canteens_crowding(holder_card.institution, at=at(day, 22, 35))
    assert row.now == 1 and row.today_total == 3  # the early breakfast and the late snack count today
    assert sum(bar.today or 0 for bar in row.bars) == 1  # the bars still show 06:00–22:00
    [row] = crowding.canteens_crowding(holder_card.institution, at=at(day, 5, 45))
    assert row.now == 1 and row.today_total == 1
    tomorrow = day + dt.timedelta(days=1)
    pay(a, [at(day, 23, 58)])
    [row] = crowding.canteens_crowding(holder_card.institution, at=at(tomorrow, 0, 3))
    assert row.now == 0 and row.today_total == 0  # yesterday's 23:58 is neither today nor "now"
    pay(a, [at(tomorrow, 0, 1)])
    [row] = crowding.canteens_crowding(holder_card.institution, at=at(tomorrow, 0, 4))
    assert row.now == 1 and row.today_total == 1


def test_rest_days_compare_with_rest_days(holder_card, open_canteen):
    a = open_canteen("a")
    saturday = dt.datetime(2026, 6, 20, 12, 10, tzinfo=SHANGHAI)
    holiday = dt.date(2026, 6, 19)  # Dragon Boat Festival, a Friday: a rest day like a weekend
    assert not is_working_day("CN", holiday)
    pay(a, spread(at(holiday, 12, 0), 4))
    pay(a, spread(at(dt.date(2026, 6, 18), 12, 0), 8))  # Thursday: a working day
    pay(a, [at(saturday.date(), 12, 1)])
    [row] = crowding.canteens_crowding(holder_card.institution, at=saturday)
    assert row.usual == pytest.approx(4.0) and row.now == 1 and row.level == Level.QUIET


def test_no_canteen_no_rows(institution):
    assert crowding.canteens_crowding(institution, at=NOW) == []


@pytest.mark.parametrize(("now", "usual", "level"), [
    (0, None, Level.QUIET), (0, 30.0, Level.QUIET), (3, None, Level.NORMAL), (1, 0.2, Level.NORMAL),
    (4, 10.0, Level.QUIET), (5, 10.0, Level.NORMAL), (12, 10.0, Level.NORMAL), (13, 10.0, Level.BUSY),
    (19, 10.0, Level.BUSY), (20, 10.0, Level.VERY_BUSY), (2, 0.0, Level.VERY_BUSY),
])
def test_level_thresholds(now, usual, level):
    assert level_of(now, usual) == level
