"""Cash (#18 item 8): a window operator's end-of-shift report and a kiosk's cash-box emptying, both
reconciled with the ledger — the totals are the journal's, a difference is shown, a refusal changes nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.urls import reverse

from campuscard.cards.services import balance_refund, card_replace, replacement_fee_cash_at_kiosk
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.core.money import format_fen
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.ledger.models import Account, Transfer
from campuscard.payments.cash import (
    cash_box_empty,
    cash_box_report,
    cash_shift_close,
    cash_shift_open,
    cash_shift_report,
)
from campuscard.payments.models import CashBoxEmptying, CashShift
from campuscard.payments.services import recharge_cash

START = dt.datetime(2026, 11, 30, 0, 30, tzinfo=dt.UTC)  # 08:30 in Shanghai


def at(hours: float):
    return frozen_at(START + dt.timedelta(hours=hours))


def cash_account(institution, kind) -> Account:
    return Account.objects.get(institution=institution, code=f"sys:{kind}")


def ledger_net(account: Account, start, end) -> int:
    """Into the account's cash minus out of it, over (start, end], straight from the journal."""
    rows = Transfer.objects.filter(created_at__gt=start, created_at__lte=end)
    into = rows.filter(debit=account).aggregate(t=Sum("amount"))["t"] or 0
    out = rows.filter(credit=account).aggregate(t=Sum("amount"))["t"] or 0
    return into - out


@pytest.fixture
def operators(institution, make_operator):
    return make_operator(institution, "card_center_operator", "window-22"), \
        make_operator(institution, "card_center_operator", "window-23")


@pytest.fixture
def shift_day(institution, student, card, operators):
    """An operator's shift: a float, a cash recharge, a replacement fee in cash and a balance refunded in cash;
    a colleague's recharge at the next window meanwhile."""
    mine, colleague = operators
    actor = Actor.by_user(mine)
    with at(0):
        shift = cash_shift_open(actor=actor, opening_float=20_000)
    with at(1):
        recharge_cash(channel="window", person=student, amount=5_000, key="w1", operator=mine)
    with at(2):
        recharge_cash(channel="window", person=student, amount=3_000, key="w2", operator=colleague)
    with at(3):
        new = card_replace(actor=actor, card=card, physical=False, channel="window", fee_payment="cash")
    with at(4):
        refunded = balance_refund(actor=actor, card=new, cash=True)
    return shift, refunded


@pytest.mark.django_db
def test_the_shift_report_is_the_ledger_and_shows_the_difference(institution, shift_day, operators, client):
    shift, refunded = shift_day
    assert refunded > 0
    with at(8):
        live = cash_shift_report(shift=shift)
        assert (live.recharges, live.fees, live.refunds) == (5_000, 2_000, refunded)
        assert live.expected == 20_000 + 5_000 + 2_000 - refunded and not live.problems
        # every line is a journal row on the window's cash account, same amount
        window = cash_account(institution, "cash_window")
        for line in live.lines:
            row = Transfer.objects.get(pk=line.transfer_id)
            assert line.amount == row.amount and window.pk in (row.debit_id, row.credit_id)
        # the operator's lines and the colleague's recharge are all the window's cash moved meanwhile
        assert ledger_net(window, shift.opened_at, START + dt.timedelta(hours=8)) == \
            live.recharges + live.fees - live.refunds + 3_000
        closed = cash_shift_close(actor=Actor.by_user(operators[0]), shift=shift, counted=live.expected - 150,
                                  note="a coin missing")
    assert closed.state == CashShift.State.CLOSED and closed.closed_at == START + dt.timedelta(hours=8)
    assert (closed.recharges, closed.fees, closed.refunds, closed.expected) == (5_000, 2_000, refunded, live.expected)
    assert closed.difference == -150
    after = cash_shift_report(shift=closed)
    assert after.expected == closed.expected and not after.problems and after.difference == -150
    # a recharge after the close is the next shift's, not this one's
    with at(9):
        recharge_cash(channel="window", person=_student(institution), amount=1_000, key="late",
                      operator=operators[0])
    assert cash_shift_report(shift=closed).expected == closed.expected
    client.force_login(operators[0])
    page = client.get(reverse("admin:payments_cashshift_report", args=[closed.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert format_fen(closed.expected) in html and format_fen(-150) in html and 'id="cash-difference"' in html
    audit = AuditLog.objects.get(action="cash_shift_closed")
    assert audit.actor == operators[0] and audit.after["difference"] == -150


def _student(institution):
    from campuscard.identity.models import Person

    return Person.objects.get(institution=institution, number="2024000001")


def snapshot():
    return (tuple(CashShift.objects.order_by("pk").values_list(
        "state", "closed_at", "expected", "counted", "recharges", "fees", "refunds", "note")),
        AuditLog.objects.filter(action__startswith="cash_").count(), CashBoxEmptying.objects.count())


@pytest.mark.django_db
def test_refused_inputs_change_nothing(institution, shift_day, operators, make_operator, client):
    shift, _refunded = shift_day
    mine, colleague = operators
    before = snapshot()
    for actor, kwargs, code in [
            (Actor.by_user(mine), {"counted": -1}, "cash_amount_invalid"),
            (Actor.by_user(mine), {"counted": 12.5}, "cash_amount_invalid"),
            (Actor.by_user(mine), {"counted": "100"}, "cash_amount_invalid"),
            (Actor.by_user(colleague), {"counted": 100}, "forbidden"),  # not their drawer, no supervisor's right
            (Actor.by_user(make_operator(institution, "auditor")), {"counted": 100}, "forbidden")]:
        with pytest.raises(DomainError) as refused:
            cash_shift_close(actor=actor, shift=shift, **kwargs)
        assert refused.value.code == code
    with pytest.raises(DomainError) as twice:
        cash_shift_open(actor=Actor.by_user(mine))
    assert twice.value.code == "cash_shift_already_open"
    client.force_login(mine)
    form = client.post(reverse("admin:payments_cashshift_close", args=[shift.pk]), {"counted": "twelve"})
    assert form.status_code == 200 and snapshot() == before
    # a supervisor (the institution's administrator) closes it; a second close is refused
    supervisor = Actor.by_user(make_operator(institution, "institution_admin"))
    closed = cash_shift_close(actor=supervisor, shift=shift, counted=0)
    assert closed.closed_by.username.endswith("institution_admin") and closed.difference == -closed.expected
    frozen = snapshot()
    with pytest.raises(DomainError) as again:
        cash_shift_close(actor=supervisor, shift=shift, counted=5)
    assert again.value.code == "cash_shift_not_open" and snapshot() == frozen


@pytest.fixture
def kiosks(institution):
    return [device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.KIOSK,
                            code=f"kiosk-{n}", name=f"Kiosk {n}")[0] for n in (1, 2)]


@pytest.mark.django_db
def test_a_kiosk_box_expects_what_the_ledger_booked_to_it_since_the_last_emptying(
        institution, student, card, kiosks, operators, client):
    kiosk, other = kiosks
    actor = Actor.by_user(operators[0])
    with at(1):
        recharge_cash(channel="kiosk", person=student, amount=5_000, key="kiosk-1:a", device=kiosk)
        recharge_cash(channel="kiosk", person=student, amount=10_000, key="kiosk-2:a", device=other)
        replacement_fee_cash_at_kiosk(device=kiosk, card=card, amount=2_000, key="fee-1")
    with at(2):
        first = cash_box_empty(actor=actor, device=kiosk, counted=7_000)
    assert (first.sequence, first.recharges, first.fees, first.expected, first.difference) == (1, 5_000, 2_000, 7_000, 0)
    report = cash_box_report(emptying=first)
    assert report.expected == first.expected and not report.problems
    kiosk_cash = cash_account(institution, "cash_kiosk")
    assert {Transfer.objects.get(pk=line.transfer_id).debit_id for line in report.lines} == {kiosk_cash.pk}
    with at(3):
        recharge_cash(channel="kiosk", person=student, amount=2_000, key="kiosk-1:b", device=kiosk)
    with at(4):
        second = cash_box_empty(actor=actor, device=kiosk, counted=1_900, note="torn note kept aside")
    assert (second.sequence, second.since, second.expected, second.difference) == (2, first.emptied_at, 2_000, -100)
    assert [line.amount for line in cash_box_report(emptying=second).lines] == [2_000]
    # the two emptyings together are everything the ledger booked to this kiosk
    listed = {line.transfer_id for emptying in (first, second) for line in cash_box_report(emptying=emptying).lines}
    others = Transfer.objects.filter(debit=kiosk_cash).exclude(pk__in=listed).aggregate(t=Sum("amount"))["t"]
    assert others == 10_000  # the other kiosk's recharge: nothing of this kiosk's left out
    client.force_login(operators[0])
    blind = client.get(reverse("admin:payments_cashboxemptying_empty"))
    assert blind.status_code == 200 and format_fen(2_000) not in blind.content.decode()
    page = client.get(reverse("admin:payments_cashboxemptying_report", args=[second.pk]))
    assert page.status_code == 200 and format_fen(-100) in page.content.decode()


@pytest.mark.django_db
def test_a_refused_emptying_changes_nothing(institution, kiosks, operators, make_operator, other_institution,
                                          terminal):
    kiosk = kiosks[0]
    before = snapshot()
    foreign = device_register(actor=Actor.system("t"), institution=other_institution, kind=Device.Kind.KIOSK,
                              code="kiosk-x", name="X")[0]
    pos_device = terminal[0].device
    for actor, device, counted, code in [
            (Actor.by_user(operators[0]), kiosk, -5, "cash_amount_invalid"),
            (Actor.by_user(operators[0]), pos_device, 5, "cash_kiosk_invalid"),
            (Actor.by_user(operators[0]), foreign, 5, "forbidden"),
            (Actor.by_user(make_operator(institution, "auditor")), kiosk, 5, "forbidden")]:
        with pytest.raises(DomainError) as refused:
            cash_box_empty(actor=actor, device=device, counted=counted)
        assert refused.value.code == code
    assert snapshot() == before


@pytest.mark.django_db
def test_the_back_office_form_opens_and_closes_a_shift(institution, operators, client):
    client.force_login(operators[0])
    listing = client.get(reverse("admin:payments_cashshift_changelist"))
    assert reverse("admin:payments_cashshift_open") in listing.content.decode()
    assert client.post(reverse("admin:payments_cashshift_open"), {"opening_float": "200", "service_point": ""}
                       ).status_code == 302
    shift = CashShift.objects.get()
    assert shift.opening_float == 20_000 and shift.operator == operators[0]
    closed = client.post(reverse("admin:payments_cashshift_close", args=[shift.pk]), {"counted": "200.00"})
    assert closed.status_code == 302 and closed.url == reverse("admin:payments_cashshift_report", args=[shift.pk])
    shift.refresh_from_db()
    assert shift.state == CashShift.State.CLOSED and shift.difference == 0


@pytest.mark.django_db
def test_the_command_prints_the_report_and_fails_on_a_difference(institution, shift_day, operators, capsys):
    shift, _refunded = shift_day
    with at(8):
        expected = cash_shift_report(shift=shift).expected
        cash_shift_close(actor=Actor.by_user(operators[0]), shift=shift, counted=expected - 50)
    with pytest.raises(CommandError):
        call_command("cash_report", "shift", str(shift.pk), "--json")
    body = json.loads(capsys.readouterr().out)
    assert body["expected"] == expected and body["difference"] == -50 and body["fees"] == 2_000
    with at(9):
        exact = cash_shift_open(actor=Actor.by_user(operators[1]))
        cash_shift_close(actor=Actor.by_user(operators[1]), shift=exact, counted=0)
    call_command("cash_report", "shift", str(exact.pk))  # no difference: exit 0
    assert "expected" in capsys.readouterr().out
