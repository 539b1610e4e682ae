"""#17 item 7: one pickup place per card — the one the holder chose at application or replacement — named the
same by the production queue, the notification, the portal and the kiosk, and honoured by the kiosk.
#17 item 10: a lost card holding less than the replacement fee is replaced all the same: the fee in cash at the
window or a kiosk (its acceptor, a signed device request), or from the new card's first recharge — through the
ledger, idempotent, audited (CARD-5, CARD-6, LED-4, TOP-1)."""

from __future__ import annotations

import json

import pytest
from django.core.signing import get_cookie_signer
from django.test import Client

from campuscard.cards import selectors, services
from campuscard.cards.models import Card, Production, ReplacementFee
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Area, AuditLog, ServicePoint
from campuscard.core.money import yuan
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.devices.signing import sign_headers
from campuscard.ledger.models import Account, Transfer
from campuscard.payments.models import RechargeOrder, SandboxPayment
from campuscard.payments.services import recharge_cash
from campuscard.support.models import Notification
from campuscard.terminals.web import COOKIE, SALT
from tests.cards.conftest import balance, fund
from tests.conftest import ID_ALICE

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


@pytest.fixture
def sites(institution):
    """Two kiosks at two sites and a window, as on a real campus."""
    area = Area.objects.get(campus__institution=institution, code="area1")
    library = ServicePoint.objects.create(area=area, code="k-lib", kind="kiosk", name="图书馆自助机",
                                          location="图书馆一楼")
    canteen = ServicePoint.objects.create(area=area, code="k-can", kind="kiosk", name="学苑餐厅自助机",
                                          location="学苑餐厅一楼")
    window = ServicePoint.objects.create(area=area, code="w22", kind="window", name="卡务中心22号窗口",
                                         location="行政楼一楼")
    return library, canteen, window


def _kiosk(institution, point, code):
    device, secret = device_register(actor=SYSTEM, institution=institution, kind=Device.Kind.KIOSK, code=code,
                                     name=point.name if point else "kiosk", service_point=point)
    return device, secret


def _at_kiosk(device) -> Client:
    """A browser on that kiosk, the holder identified with the ID number and the query password."""
    client = Client()
    client.cookies[COOKIE] = get_cookie_signer(salt=COOKIE + SALT).sign(str(device.pk))
    client.post("/devices/kiosk/identify/", {"id_number": ID_ALICE, "query_password": ID_ALICE[-6:]})
    return client


def _ready(card) -> Production:
    production = Production.objects.get(card=card)
    for target in (Production.State.PRINTED, Production.State.AT_KIOSK):
        production = services.production_advance(actor=SYSTEM, production=production, target=target)
    return production


# --- item 7 ----------------------------------------------------------------------------------------------------

def test_a_physical_replacement_waits_where_the_holder_chose(student, sites, approve_photo):
    library, canteen, window = sites
    approve_photo(student)
    first = services.card_issue(actor=SYSTEM, person=student, physical=True, collect_point=window)
    fund(first, yuan(50))
    # no place named: where the holder chose for the card it replaces (not "a kiosk of the campus")
    assert selectors.replacement_preview(card=first, fee=2000).collect_point == window
    second = services.card_replace(actor=SYSTEM, card=first, physical=True, channel="window")
    assert Production.objects.get(card=second).collect_point == window
    # a place named at the replacement is the one
    third = services.card_replace(actor=SYSTEM, card=second, physical=True, channel="portal", collect_point=canteen,
                                  fee=0)
    production = _ready(third)
    assert production.collect_point == canteen
    # … and every reader names it alike: the notification, the production queue, the holder's card page
    ready = Notification.objects.filter(person=student, kind=Notification.Kind.CARD_READY).latest("pk")
    assert production.collect_where == "学苑餐厅自助机 · 学苑餐厅一楼" and production.collect_where in ready.body
    theirs = ServicePoint.objects.create(area=Area.objects.create(campus=library.area.campus, code="x", name="x"),
                                         code="desk", kind="desk", name="服务台")
    with pytest.raises(DomainError) as refused:
        services.card_replace(actor=SYSTEM, card=third, physical=True, channel="portal", collect_point=theirs, fee=0)
    assert refused.value.code == "collect_place_invalid"
    assert Card.objects.get(pk=third.pk).state == Card.State.ACTIVE  # refused: nothing changed


def test_a_kiosk_replacement_waits_at_that_kiosk(student, sites, approve_photo, card):
    library, canteen, _window = sites
    approve_photo(student)
    fund(card, yuan(50))
    device, _ = _kiosk(student.institution, canteen, "k-can-1")
    page = _at_kiosk(device).post("/devices/kiosk/action/", {"action": "replace", "card": card.number,
                                                             "form": "physical", "fee_payment": "balance"},
                                  follow=True)
    assert page.status_code == 200
    new = Card.objects.get(replaces=card)
    assert Production.objects.get(card=new).collect_point == canteen


def test_a_kiosk_at_another_site_refuses_with_a_coded_error_naming_the_place(student, sites, approve_photo):
    library, canteen, _window = sites
    approve_photo(student)
    card = services.card_issue(actor=SYSTEM, person=student, physical=True, collect_point=library)
    production = _ready(card)
    elsewhere, _ = _kiosk(student.institution, canteen, "k-can-1")
    unplaced, _ = _kiosk(student.institution, None, "k-nowhere")
    for device in (elsewhere, unplaced):
        client = _at_kiosk(device)
        home = client.get("/devices/kiosk/").content.decode()
        assert f'id="kiosk-elsewhere-{card.number}"' in home and 'id="kiosk-collect"' not in home
        refused = client.post("/devices/kiosk/action/", {"action": "collect", "card": card.number},
                              follow=True).content.decode()
        assert 'data-code="collect_elsewhere"' in refused and production.collect_where in refused
        assert Production.objects.get(pk=production.pk).state == Production.State.AT_KIOSK  # not handed out
    here, _ = _kiosk(student.institution, library, "k-lib-1")
    client = _at_kiosk(here)
    assert 'id="kiosk-collect"' in client.get("/devices/kiosk/").content.decode()
    client.post("/devices/kiosk/action/", {"action": "collect", "card": card.number})
    assert Production.objects.get(pk=production.pk).state == Production.State.COLLECTED


# --- item 10 ---------------------------------------------------------------------------------------------------

def _lost_with(card, amount):
    if amount:
        fund(card, amount)
    return services.card_report_lost(actor=SYSTEM, card=card, channel="portal")


def test_a_short_balance_is_refused_from_the_balance_and_says_how_else(student, card):
    lost = _lost_with(card, yuan(5))
    preview = selectors.replacement_preview(card=lost, fee=yuan(20), channel="portal")
    assert (preview.fee_paid, preview.fee_payments, preview.moves_now) == ("first_recharge", ("first_recharge",),
                                                                           yuan(5))
    window = selectors.replacement_preview(card=lost, fee=yuan(20), channel="window")
    assert window.fee_payments == ("cash", "first_recharge")
    with pytest.raises(DomainError) as refused:
        services.card_replace(actor=SYSTEM, card=lost, physical=False, channel="portal")
    assert refused.value.code == "card_fee_unpaid"
    with pytest.raises(DomainError) as refused:  # cash needs someone to take it: not in the portal
        services.card_replace(actor=SYSTEM, card=lost, physical=False, channel="portal", fee_payment="cash")
    assert refused.value.code == "card_fee_payment_invalid"
    assert Card.objects.get(pk=lost.pk).state == Card.State.LOST and not ReplacementFee.objects.exists()
    assert balance(lost) == yuan(5)


def test_the_fee_from_the_new_cards_first_recharge(student, card, institution):
    lost = _lost_with(card, yuan(5))
    new = services.card_replace(actor=SYSTEM, card=lost, physical=False, channel="portal",
                                fee_payment="first_recharge")
    fee = ReplacementFee.objects.get(old_card=lost)
    assert (fee.state, fee.method, fee.new_card, fee.amount) == ("due", "first_recharge", new, yuan(20))
    assert balance(new) == yuan(5)  # the whole lost balance moved: the holder can eat at once
    assert [f.pk for f in selectors.fees_due(person=student)] == [fee.pk]
    recharge_cash(channel=RechargeOrder.Channel.WINDOW, person=student, amount=yuan(10), key="r1")
    fee.refresh_from_db()
    assert fee.state == "due" and balance(new) == yuan(15)  # ¥15 does not cover ¥20: nothing taken yet
    recharge_cash(channel=RechargeOrder.Channel.WINDOW, person=student, amount=yuan(50), key="r2")
    recharge_cash(channel=RechargeOrder.Channel.WINDOW, person=student, amount=yuan(50), key="r2")  # a retry
    fee.refresh_from_db()
    assert fee.state == "paid" and fee.paid_at is not None and balance(new) == yuan(45)
    taken = Transfer.objects.get(key=f"card:{lost.pk}:replacement-fee")
    assert (taken.amount, taken.debit_id, taken.kind) == (yuan(20), new.wallet_account_id, "fee")
    recharge_cash(channel=RechargeOrder.Channel.WINDOW, person=student, amount=yuan(10), key="r3")
    assert balance(new) == yuan(55)  # taken once
    assert AuditLog.objects.filter(action="replacement_fee_due").count() == 1
    assert AuditLog.objects.filter(action="replacement_fee_paid").count() == 1
    told = Notification.objects.filter(person=student).latest("pk")  # the holder learns where the ¥20 went
    assert "20.00" in told.body and new.number in told.body


def test_the_fee_from_an_online_first_recharge(student, card):
    from campuscard.payments.gateways import sandbox
    from campuscard.payments.services import gateway_notification_receive, recharge_online_start

    lost = _lost_with(card, 0)
    new = services.card_replace(actor=SYSTEM, card=lost, physical=False, channel="portal",
                                fee_payment="first_recharge")
    order, _url = recharge_online_start(person=student, amount=yuan(50), key="o1")
    assert ReplacementFee.objects.get(old_card=lost).state == "due"  # only pending so far
    payment = SandboxPayment.objects.get(order_no=order.order_no)
    payment.status = "paid"
    body = sandbox.notification_body(payment)
    for _delivery in range(2):  # the gateway resends
        gateway_notification_receive(provider="sandbox", body=body, headers={sandbox.HEADER: sandbox.sign(body)})
    assert ReplacementFee.objects.get(old_card=lost).state == "paid" and balance(new) == yuan(30)


def test_the_fee_in_cash_at_the_window(student, card, institution):
    lost = _lost_with(card, yuan(5))
    before = Transfer.objects.filter(kind="fee").count()
    new = services.card_replace(actor=SYSTEM, card=lost, physical=False, channel="window", fee_payment="cash")
    fee = ReplacementFee.objects.get(old_card=lost)
    assert (fee.state, fee.method, fee.new_card) == ("paid", "cash_window", new)
    taken = Transfer.objects.get(key=f"card:{lost.pk}:replacement-fee")
    cash = Account.objects.get(pk=taken.debit_id)
    assert cash.kind == Account.Kind.CASH_WINDOW and taken.amount == yuan(20)
    assert balance(new) == yuan(5) and Transfer.objects.filter(kind="fee").count() == before + 1


def _fee_post(client, device, secret, body, key):
    raw = json.dumps(body).encode()
    path = "/api/v1/devices/kiosk/replacement-fees"
    headers = {**sign_headers(device_code=device.code, secret=secret, method="POST", path=path, body=raw),
               "Idempotency-Key": key}
    return client.post(path, data=raw, content_type="application/json", headers=headers)


def test_the_fee_in_cash_at_a_kiosk(student, card, sites):
    library, *_ = sites
    lost = _lost_with(card, yuan(5))
    device, secret = _kiosk(student.institution, library, "k-lib-1")
    kiosk = _at_kiosk(device)
    # before the cash: the page offers the cash acceptor and the first recharge; "cash" alone is refused
    home = kiosk.get("/devices/kiosk/").content.decode()
    assert f'id="kiosk-fee-{lost.number}" data-fee-paid="cash"' in home
    refused = kiosk.post("/devices/kiosk/action/", {"action": "replace", "card": lost.number, "form": "virtual",
                                                    "fee_payment": "cash"}, follow=True).content.decode()
    assert 'data-code="card_fee_cash_first"' in refused and Card.objects.get(pk=lost.pk).state == "lost"
    api = Client()
    wrong = _fee_post(api, device, secret, {"card": lost.number, "amount": yuan(10)}, key="a1")
    assert wrong.status_code == 422 and wrong.json()["code"] == "card_fee_cash_amount"
    paid = _fee_post(api, device, secret, {"card": lost.number, "amount": yuan(20)}, key="a2")
    again = _fee_post(api, device, secret, {"card": lost.number, "amount": yuan(20)}, key="a2")  # a retry
    twice = _fee_post(api, device, secret, {"card": lost.number, "amount": yuan(20)}, key="a3")  # new notes
    assert (paid.status_code, again.status_code) == (201, 201) and paid.json()["method"] == "cash_kiosk"
    assert twice.status_code == 409 and twice.json()["code"] == "card_fee_already_paid"
    assert Transfer.objects.filter(key=f"card:{lost.pk}:replacement-fee").count() == 1
    home = kiosk.get("/devices/kiosk/").content.decode()
    assert f'id="kiosk-fee-{lost.number}" data-fee-paid="paid"' in home
    kiosk.post("/devices/kiosk/action/", {"action": "replace", "card": lost.number, "form": "virtual",
                                         "fee_payment": "paid"})
    new = Card.objects.get(replaces=lost)
    fee = ReplacementFee.objects.get(old_card=lost)
    assert (fee.method, fee.new_card, balance(new)) == ("cash_kiosk", new, yuan(5))
    pos, pos_secret = device_register(actor=SYSTEM, institution=student.institution, kind=Device.Kind.POS,
                                      code="pos-1", name="POS")
    assert _fee_post(api, pos, pos_secret, {"card": lost.number, "amount": yuan(20)},
                     key="b1").json()["code"] == "device_wrong_kind"
