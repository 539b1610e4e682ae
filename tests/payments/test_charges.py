"""Service charges (payments.charges): the one wallet-charge entry of campus services — same rules as the
POS (PAY-2, PAY-3, LED-3), idempotent by the caller's key (LED-4), in the settlement (PAY-5), refundable
and appealable (PAY-4); deposit holds captured or released."""

import datetime as dt
import threading

import pytest
from django.db import IntegrityError, connection

from campuscard.cards.services import card_report_lost
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity.services import holder_user_ensure, payment_password_set
from campuscard.ledger.checks import ledger_check
from campuscard.payments import charges, pos, settlement
from campuscard.payments.models import DailyUsage, Hold, Payment, Refund
from campuscard.payments.selectors import wallet_summary
from campuscard.payments.services import recharge_cash
from tests.conftest import ID_ALICE

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")


@pytest.fixture
def laundry(institution):
    return pos.merchant_open(actor=ACTOR, institution=institution, code="laundry-1", name="1号楼洗衣房",
                             category="laundry")


@pytest.fixture
def wallet(student, card):
    recharge_cash(channel="window", person=student, amount=50_000, key="fund")
    return card


def set_password(person) -> None:
    payment_password_set(user=holder_user_ensure(person=person), login_password=ID_ALICE[-6:],
                         new_payment_password="135790")


def available(person) -> int:
    return wallet_summary(person).balances.available


def charge(merchant, person, key, amount, **kw):
    return charges.charge_wallet(actor=ACTOR, merchant=merchant, person=person, key=key, amount=amount, **kw)


def test_a_charge_is_a_payment_without_terminal_and_a_retry_charges_once(laundry, student, wallet):
    first = charge(laundry, student, "wash-1", 400)
    assert not first.replayed and first.balance_after == 49_600
    again = charge(laundry, student, "wash-1", 400)
    assert again.replayed and again.payment_id == first.payment_id and again.balance_after == 49_600
    payment = Payment.objects.get()
    assert payment.terminal is None and payment.method == Payment.Method.IN_APP and payment.txn_id == "wash-1"
    assert available(student) == 49_600
    assert DailyUsage.objects.get(person=student).spent == 400  # counted once against the daily limit
    with pytest.raises(DomainError) as other:
        charge(laundry, student, "wash-1", 500)
    assert other.value.code == "payment_txn_reused"
    assert available(student) == 49_600 and Payment.objects.count() == 1
    assert ledger_check().ok


def test_the_same_key_from_another_holder_is_refused(laundry, student, wallet, staff_member):
    charge(laundry, student, "k1", 100)
    with pytest.raises(DomainError) as refused:
        charge(laundry, staff_member, "k1", 100)
    assert refused.value.code == "payment_txn_reused"


@pytest.mark.parametrize("amount, key, code", [(0, "k", "payment_amount_invalid"), (-5, "k", "payment_amount_invalid"),
                                               (10, "", "idempotency_key_required"), (10, "a b", "txn_id_invalid")])
def test_bad_input_changes_nothing(laundry, student, wallet, amount, key, code):
    with pytest.raises(DomainError) as refused:
        charge(laundry, student, key, amount)
    assert refused.value.code == code
    assert Payment.objects.count() == 0 and available(student) == 50_000


def test_the_payment_rules_decide_limit_funds_card_state(laundry, student, wallet):
    with pytest.raises(DomainError) as over:
        charge(laundry, student, "big", 20_001)  # PAY-2: ¥200 a day by default (password asked first)
    assert over.value.code == "payment_password_unset"
    charge(laundry, student, "a", 5_000)
    set_password(student)
    with pytest.raises(DomainError) as limit:
        charge(laundry, student, "b", 16_000, password="135790")
    assert limit.value.code == "daily_limit_exceeded" and limit.value.params["remaining"] == "¥150.00"
    card_report_lost(actor=ACTOR, card=wallet, channel="portal")
    with pytest.raises(DomainError) as lost:
        charge(laundry, student, "c", 100)
    assert lost.value.code in {"card_missing", "card_lost"}
    assert Payment.objects.count() == 1 and available(student) == 45_000


def test_a_wrong_password_is_counted_and_changes_no_money(laundry, student, wallet):
    set_password(student)
    with pytest.raises(DomainError) as wrong:
        charge(laundry, student, "p1", 6_000, password="000000")
    assert wrong.value.code == "payment_password_incorrect" and wrong.value.params["left"] == 4
    assert DailyUsage.objects.get(person=student).wrong_passwords == 1 and available(student) == 50_000
    ok = charge(laundry, student, "p1", 6_000, password="135790")
    assert ok.balance_after == 44_000 and DailyUsage.objects.get(person=student).wrong_passwords == 0


def test_insufficient_funds_names_what_is_available(laundry, student, card):
    recharge_cash(channel="window", person=student, amount=300, key="fund-small")
    with pytest.raises(DomainError) as short:
        charge(laundry, student, "x", 400)
    assert short.value.code == "insufficient_funds" and short.value.params["available"] == "¥3.00"


def test_then_runs_in_the_same_transaction_and_its_refusal_rolls_the_money_back(laundry, student, wallet):
    seen = []

    def record(result):
        seen.append(result.payment_id)
        raise DomainError("validation_error")

    with pytest.raises(DomainError):
        charge(laundry, student, "t1", 300, then=record)
    assert len(seen) == 1 and Payment.objects.count() == 0 and available(student) == 50_000
    assert not DailyUsage.objects.filter(person=student, spent__gt=0).exists()
    charge(laundry, student, "t1", 300, then=seen.append)
    charge(laundry, student, "t1", 300, then=seen.append)  # a replay does not record twice
    assert len(seen) == 2


def test_refund_any_day_idempotent_and_in_the_settlement(laundry, student, wallet, make_operator, institution):
    first = charge(laundry, student, "w1", 800)
    payment = Payment.objects.get(pk=first.payment_id)
    with clock.frozen_at(clock.now() + dt.timedelta(days=2)):  # a till refunds the same day only; a service not
        refund = charges.charge_refund(actor=ACTOR, payment=payment, key="cancel", amount=300, reason="cancelled")
        again = charges.charge_refund(actor=ACTOR, payment=payment, key="cancel", amount=300)
        assert again.pk == refund.pk
        charges.charge_refund(actor=ACTOR, payment=payment, key="rest")
        with pytest.raises(DomainError) as more:
            charges.charge_refund(actor=ACTOR, payment=payment, key="more", amount=1)
        assert more.value.code == "refund_exceeds_payment"
    assert available(student) == 50_000 and Refund.objects.count() == 2
    admin = make_operator(institution, "institution_admin")
    report = settlement.settlement_report(user=admin, period=settlement.Period(
        institution, clock.local_date(institution, payment.created_at),
        clock.local_date(institution, payment.created_at) + dt.timedelta(days=2)))
    line = next(ln for ln in report.by_merchant if ln.merchant.pk == laundry.pk)
    assert (line.count, line.takings, line.refunds) == (1, 800, 800)
    assert ledger_check().ok


def test_a_service_charge_can_be_appealed(laundry, student, wallet):
    payment = Payment.objects.get(pk=charge(laundry, student, "w2", 500).payment_id)
    appeal = pos.appeal_open(actor=ACTOR, person=student, payment=payment, reason="machine never started")
    pos.appeal_decide(actor=ACTOR, appeal=appeal, accept=True)
    assert available(student) == 50_000


def test_a_till_payment_is_not_refunded_as_a_service_charge(terminal, funded):
    term, _secret = terminal
    receipt = pos.payment_authorize(terminal=term, txn_id="t1", amount=500, nfc_uid="04A1B2C3")
    with pytest.raises(DomainError) as refused:
        charges.charge_refund(actor=ACTOR, payment=Payment.objects.get(pk=receipt.payment_id), key="r")
    assert refused.value.code == "payment_not_found" and not Refund.objects.exists()


# --- deposit holds -------------------------------------------------------------------------------

def hold(merchant, person, key, amount, **kw):
    return charges.hold_place(actor=ACTOR, merchant=merchant, person=person, key=key, amount=amount, **kw)


def test_hold_then_release_gives_everything_back(laundry, student, wallet):
    held = hold(laundry, student, "dep-1", 3_000)
    assert available(student) == 47_000 and wallet_summary(student).balances.posted == 50_000
    assert hold(laundry, student, "dep-1", 3_000).replayed
    assert DailyUsage.objects.get(person=student).spent == 3_000
    row = Hold.objects.get(pk=held.hold_id)
    charges.hold_release(actor=ACTOR, hold=row)
    charges.hold_release(actor=ACTOR, hold=row)  # a retry changes nothing
    assert available(student) == 50_000 and DailyUsage.objects.get(person=student).spent == 0
    with pytest.raises(DomainError) as late:
        charges.hold_capture(actor=ACTOR, hold=row)
    assert late.value.code == "hold_not_held"
    assert ledger_check().ok


def test_hold_captured_in_part_becomes_a_payment(laundry, student, wallet):
    row = Hold.objects.get(pk=hold(laundry, student, "dep-2", 3_000).hold_id)
    with pytest.raises(DomainError) as over:
        charges.hold_capture(actor=ACTOR, hold=row, amount=3_001)
    assert over.value.code == "hold_amount_invalid"
    captured = charges.hold_capture(actor=ACTOR, hold=row, amount=1_200)
    assert charges.hold_capture(actor=ACTOR, hold=row, amount=1_200).replayed
    payment = Payment.objects.get(pk=captured.payment_id)
    assert payment.amount == 1_200 and payment.terminal is None and payment.balance_after == 48_800
    assert available(student) == 48_800 and DailyUsage.objects.get(person=student).spent == 1_200
    with pytest.raises(DomainError):
        charges.hold_release(actor=ACTOR, hold=row)
    charges.charge_refund(actor=ACTOR, payment=payment, key="damage-waived")
    assert available(student) == 50_000
    assert ledger_check().ok


def test_a_hold_is_decided_by_the_rules(laundry, student, card):
    recharge_cash(channel="window", person=student, amount=1_000, key="fund-small")
    with pytest.raises(DomainError) as short:
        hold(laundry, student, "dep-3", 2_000)
    assert short.value.code == "insufficient_funds"
    assert not Hold.objects.exists() and available(student) == 1_000


# --- concurrency (PostgreSQL) ----------------------------------------------------------------------

def _run(n, work):
    out = []

    def go(i):
        try:
            out.append(work(i))
        except (DomainError, IntegrityError) as exc:
            out.append(getattr(exc, "code", "integrity"))
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_on_one_wallet_none_lost_none_doubled(laundry, student, card):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency needs PostgreSQL")
    recharge_cash(channel="window", person=student, amount=1_000, key="fund")
    # 24 threads, 16 distinct keys (8 sent twice), each ¥1.00 on a ¥10.00 wallet: exactly 10 keys charge.
    results = _run(24, lambda i: charge(laundry, student, f"c{i % 16}", 100))
    charged = {r.payment_id for r in results if isinstance(r, charges.Charge)}
    assert len(charged) == 10 and Payment.objects.count() == 10
    assert all(r == "insufficient_funds" for r in results if not isinstance(r, charges.Charge))
    assert available(student) == 0 and wallet_summary(student).balances.posted == 0
    assert DailyUsage.objects.get(person=student).spent == 1_000
    assert ledger_check().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_key_charge_once(laundry, student, card):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency needs PostgreSQL")
    recharge_cash(channel="window", person=student, amount=1_000, key="fund")
    results = _run(8, lambda i: charge(laundry, student, "same", 300))
    assert len({r.payment_id for r in results}) == 1 and Payment.objects.count() == 1
    assert available(student) == 700 and ledger_check().ok
