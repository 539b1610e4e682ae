"""Recharge (TOP-1) at the window, at a kiosk and online through the sandbox gateway."""

import json
import time

import pytest
from django.test import Client

from campuscard.core.actors import Actor
from campuscard.core.money import yuan
from campuscard.devices.models import Device
from campuscard.devices.services import device_register, device_revoke
from campuscard.devices.signing import sign_headers
from campuscard.ledger.checks import ledger_check
from campuscard.ledger.models import Transfer
from campuscard.payments import selectors, services
from campuscard.payments.gateways import sandbox
from campuscard.payments.models import GatewayNotification, RechargeOrder, SandboxPayment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("card")]


def balances(person):
    return selectors.wallet_summary(person).balances


def window_post(client, code, body, key="k1"):
    return client.post(f"/api/v1/institutions/{code}/recharges/window", data=json.dumps(body),
                       content_type="application/json", headers={"Idempotency-Key": key})


def test_window_recharge_credits_once_per_key(client, institution, student, make_operator):
    client.force_login(make_operator(institution, "card_center_operator"))
    first = window_post(client, "uni", {"number": student.number, "amount": yuan(50)})
    assert first.status_code == 201, first.content
    again = window_post(client, "uni", {"number": student.number, "amount": yuan(50)})
    assert again.json()["order_no"] == first.json()["order_no"]
    assert balances(student).available == yuan(50)
    conflict = window_post(client, "uni", {"number": student.number, "amount": yuan(60)})
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_key_reused"
    assert RechargeOrder.objects.count() == 1 and Transfer.objects.count() == 1
    assert ledger_check().ok


@pytest.mark.parametrize("amount", [0, 1, yuan(100_000)])
def test_window_recharge_refuses_bad_amounts(client, institution, student, make_operator, amount):
    client.force_login(make_operator(institution, "card_center_operator"))
    response = window_post(client, "uni", {"number": student.number, "amount": amount})
    assert response.status_code == 422
    assert response.json()["code"] in {"recharge_amount_invalid", "validation_error"}
    assert RechargeOrder.objects.count() == 0


def test_window_recharge_authorization(client, institution, other_institution, student, make_operator):
    cases = [(None, 401), (make_operator(institution, "auditor"), 403),
             (make_operator(other_institution, "card_center_operator", "other-op"), 403)]
    for user, status in cases:
        c = Client()
        if user:
            c.force_login(user)
        response = window_post(c, "uni", {"number": student.number, "amount": yuan(10)}, key=f"k-{status}")
        assert response.status_code == status
    assert RechargeOrder.objects.count() == 0 and Transfer.objects.count() == 0


def kiosk_post(client, device, secret, body, key="kk1", **sign):
    raw = json.dumps(body).encode()
    path = "/api/v1/devices/kiosk/recharges"
    headers = {**sign_headers(device_code=device.code, secret=secret, method="POST", path=path, body=raw, **sign),
               "Idempotency-Key": key}
    return client.post(path, data=raw, content_type="application/json", headers=headers)


def test_kiosk_recharge_with_signed_request(client, institution, student, kiosk):
    device, secret = kiosk
    response = kiosk_post(client, device, secret, {"number": student.number, "amount": yuan(20)})
    assert response.status_code == 201, response.content
    assert balances(student).available == yuan(20)
    order = RechargeOrder.objects.get()
    assert order.channel == "kiosk" and order.device == device


def test_kiosk_refusals_change_nothing(client, institution, student, kiosk):
    device, secret = kiosk
    body = {"number": student.number, "amount": yuan(20)}
    bad_sig = kiosk_post(client, device, "0" * 64, body, key="a")
    old = kiosk_post(client, device, secret, body, key="b", timestamp=int(time.time()) - 3600)
    replay_headers = {"nonce": "n" * 20}
    first = kiosk_post(client, device, secret, body, key="c", **replay_headers)
    replay = kiosk_post(client, device, secret, body, key="c", **replay_headers)
    assert (bad_sig.json()["code"], old.json()["code"]) == ("device_auth_failed", "device_request_expired")
    assert first.status_code == 201 and replay.json()["code"] == "device_request_replayed"
    device_revoke(actor=Actor.system("test"), device=device)
    revoked = kiosk_post(client, device, secret, body, key="d")
    assert revoked.status_code == 401 and revoked.json()["code"] == "device_revoked"
    pos, pos_secret = device_register(actor=Actor.system("test"), institution=institution, kind=Device.Kind.POS, code="pos-1",
                                      name="POS")
    assert kiosk_post(client, pos, pos_secret, body, key="e").json()["code"] == "device_wrong_kind"
    assert RechargeOrder.objects.count() == 1 and balances(student).available == yuan(20)


def start_online(student, amount=3_000, key="o1"):
    order, url = services.recharge_online_start(person=student, amount=amount, key=key)
    return order, url


def notify(payment, status=None, *, tamper=False, timestamp=None, secret_ok=True):
    if status:
        payment.status = status
    body = sandbox.notification_body(payment)
    header = sandbox.sign(body, timestamp) if secret_ok else "t=1,v1=" + "0" * 64
    if tamper:
        body = body.replace(b'"amount":', b'"amount":9')
    return Client().post("/api/v1/payments/gateways/sandbox/notify", data=body, content_type="application/json",
                         headers={sandbox.HEADER: header})


def test_online_recharge_is_pending_until_the_signed_notification(client, institution, student):
    order, url = start_online(student)
    assert url == f"/sandbox-gateway/pay/{order.order_no}/"
    b = balances(student)
    assert (b.available, b.pending_credits) == (0, yuan(30))
    payment = SandboxPayment.objects.get(order_no=order.order_no)
    first, second = notify(payment, "paid"), notify(payment, "paid")  # the gateway resends
    assert first.status_code == second.status_code == 200 and first.content == b"success"
    assert balances(student).available == yuan(30)
    assert list(GatewayNotification.objects.order_by("id").values_list("outcome", flat=True)) == [
        "credited", "duplicate"]
    late_failure = notify(payment, "failed")  # out of order: paid is final
    assert late_failure.status_code == 200 and balances(student).available == yuan(30)
    order.refresh_from_db()
    assert order.state == "paid" and ledger_check().ok


def test_forged_or_stale_notifications_change_nothing(institution, student):
    order, _url = start_online(student)
    payment = SandboxPayment.objects.get(order_no=order.order_no)
    payment.status = "paid"
    for kwargs, code in [({"secret_ok": False}, "gateway_signature_invalid"),
                         ({"tamper": True}, "gateway_signature_invalid"),
                         ({"timestamp": int(time.time()) - 3600}, "gateway_timestamp_invalid")]:
        response = notify(payment, **kwargs)
        assert response.status_code == 401 and response.json()["code"] == code
    assert balances(student).available == 0
    assert not GatewayNotification.objects.filter(signature_ok=True).exists()
    assert GatewayNotification.objects.filter(signature_ok=False).count() == 3


def test_failed_payment_voids_the_hold(institution, student):
    order, _url = start_online(student)
    notify(SandboxPayment.objects.get(order_no=order.order_no), "failed")
    order.refresh_from_db()
    b = balances(student)
    assert order.state == "failed" and (b.available, b.pending_credits) == (0, 0)


def test_payment_after_expiry_is_still_credited_exactly_once(institution, student, settings):
    from datetime import timedelta

    from campuscard.core import clock

    order, _url = start_online(student)
    with clock.frozen_at(clock.now() + timedelta(hours=2)):
        assert services.recharges_expire() == 1
    order.refresh_from_db()
    assert order.state == "expired" and balances(student).pending_credits == 0
    payment = SandboxPayment.objects.get(order_no=order.order_no)
    notify(payment, "paid"), notify(payment, "paid")
    order.refresh_from_db()
    assert order.state == "paid" and balances(student).available == yuan(30)
    assert ledger_check().ok


def test_amount_mismatch_goes_to_review(institution, student):
    order, _url = start_online(student)
    payment = SandboxPayment.objects.get(order_no=order.order_no)
    payment.amount = yuan(1)
    notify(payment, "paid")
    order.refresh_from_db()
    assert order.state == "review" and balances(student).available == 0


def test_sandbox_pay_page_delivers_and_portal_shows_credit(client, institution, student):
    from campuscard.identity.services import holder_user_ensure

    user = holder_user_ensure(person=student)
    user.must_change_password = False
    user.save()
    client.force_login(user)
    response = client.post("/wallet/recharge/", {"amount": "88.50", "key": "portal-1"})
    assert response.status_code == 302 and "/sandbox-gateway/pay/" in response["Location"]
    paid = client.post(response["Location"], {"decision": "pay"})
    assert paid.status_code == 302 and "/wallet/recharge/" in paid["Location"]
    assert balances(student).available == 8_850
    page = client.get(paid["Location"])
    assert 'data-state="paid"' in page.content.decode()
    assert page.context["balance"] == 8_850 and "¥88.50" in page.content.decode()  # the new balance (#17 item 11)
    wallet = client.get("/wallet/").content.decode()
    assert "¥88.50" in wallet
    csv = client.get("/wallet/statement/?format=csv")
    text = csv.content.decode("utf-8")
    assert text.startswith("\ufeff") and "88.50" in text
    assert client.get("/wallet/spending/").status_code == 200
    assert client.get("/wallet/statement/").status_code == 200
    api = client.get("/api/v1/wallet").json()
    assert api == {"available": 8_850, "posted": 8_850, "pending_in": 0, "held": 0}


def test_ledger_hold_expiry_first_then_order_expiry_and_late_payment(institution, student):
    """If the ledger's hold expiry releases the hold before the recharge job runs, nothing jams and a
    late 'paid' still credits exactly once."""
    from datetime import timedelta

    from campuscard.core import clock
    from campuscard.ledger.tasks import holds_expire

    order, _url = start_online(student)
    with clock.frozen_at(clock.now() + timedelta(hours=3)):
        assert holds_expire.call_local() == 1
        assert services.recharges_expire() == 1
    order.refresh_from_db()
    assert order.state == "expired"
    payment = SandboxPayment.objects.get(order_no=order.order_no)
    notify(payment, "paid"), notify(payment, "paid")
    order.refresh_from_db()
    assert order.state == "paid" and balances(student).available == 3_000 and ledger_check().ok


def test_the_recharge_result_shows_the_new_balance_only_once_credited(client, institution, student):
    """#17 item 11: while the gateway has not confirmed, no balance; once credited, the new balance."""
    from campuscard.identity.services import holder_user_ensure

    services.recharge_cash(channel="window", person=student, amount=1_000, key="before")
    user = holder_user_ensure(person=student)
    user.must_change_password = False
    user.save()
    client.force_login(user)
    order, _url = start_online(student, amount=2_000, key="shown")
    pending = client.get(f"/wallet/recharge/{order.order_no}/", HTTP_HX_REQUEST="true")
    assert 'data-state="pending"' in pending.content.decode() and 'id="recharge-balance"' not in pending.content.decode()
    notify(SandboxPayment.objects.get(order_no=order.order_no), "paid")
    paid = client.get(f"/wallet/recharge/{order.order_no}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="recharge-balance"' in paid and "¥30.00" in paid
