"""Alerts (SUP-4): one path (preferences, then the worker's deliveries), each sent once even when its job
runs twice, low balance once per crossing from what the payment already returns, new-device logins and loss
reports always (security events cannot be switched off), channel outboxes (ID-6)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext_lazy

from campuscard.cards import codes
from campuscard.cards.channels import channel_binding_create
from campuscard.cards.selectors import qr_credential
from campuscard.cards.services import card_report_lost, nfc_bind
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.identity.services import holder_user_ensure
from campuscard.payments import charges, pos
from campuscard.payments.models import Hold, Terminal
from campuscard.payments.services import recharge_cash
from campuscard.support import alerts
from campuscard.support.delivery import deliver_notifications
from campuscard.support.models import Delivery, Notification, OutboxMessage, SeenDevice
from campuscard.support.services import notify
from tests.conftest import ID_ALICE

pytestmark = pytest.mark.django_db

LOW = Notification.Kind.LOW_BALANCE
SYSTEM = Actor.system("t")


@pytest.fixture
def terminal(institution):
    canteen = pos.merchant_open(actor=SYSTEM, institution=institution, code="c1", name="学苑餐厅", category="canteen")
    device, _secret = device_register(actor=SYSTEM, institution=institution, kind=Device.Kind.POS, code="pos-a",
                                      name="POS")
    return Terminal.objects.create(device=device, merchant=canteen)


@pytest.fixture
def tapped(student, card):
    recharge_cash(channel="window", person=student, amount=3_000, key="fund")  # ¥30, the default alert is ¥20
    nfc_bind(actor=SYSTEM, card=card, uid="04:A1:B2:C3")
    return card


@pytest.fixture
def tap(terminal, django_capture_on_commit_callbacks):
    """A tap at the POS, committed (the worker's job is enqueued after the commit; Huey runs it at once)."""
    def pay(txn_id: str, amount: int):
        with django_capture_on_commit_callbacks(execute=True):
            return pos.payment_authorize(terminal=terminal, txn_id=txn_id, amount=amount, nfc_uid="04A1B2C3")
    return pay


def test_low_balance_alerts_once_per_crossing_from_above(student, tapped, tap):
    assert tap("p1", 500).balance_after == 2_500  # above ¥20: nothing
    assert not Notification.objects.filter(kind=LOW).exists()
    crossing = tap("p2", 600)  # ¥25 → ¥19: crosses
    assert crossing.balance_after == 1_900
    assert Notification.objects.filter(person=student, kind=LOW).count() == 1
    tap("p2", 600)  # the terminal's retry: the same payment, no second alert
    tap("p3", 100)  # already below: no new crossing
    assert Notification.objects.filter(kind=LOW).count() == 1
    # the job enqueued for p2 run again (a retried worker): still one
    payment_id = crossing.payment_id
    assert alerts.low_balance_alert(person_id=student.pk, payment_id=payment_id, amount=600,
                                    balance_after=1_900).dedupe_key == f"low_balance:payment:{payment_id}"
    assert Notification.objects.filter(kind=LOW).count() == 1
    recharge_cash(channel="window", person=student, amount=1_000, key="again")  # back to ¥28
    tap("p4", 1_000)  # ¥28 → ¥18: a new crossing
    notes = list(Notification.objects.filter(kind=LOW).order_by("pk"))
    assert len(notes) == 2 and notes[1].params["balance"] == "¥18.00"


def test_service_charges_and_kept_deposits_alert_like_a_pos_payment(institution, student, tapped,
                                                                  django_capture_on_commit_callbacks):
    """Laundry, electricity and rentals charge through payments.charges: a charge crossing the threshold alerts
    once (its retry does not), and so does a deposit kept at the rental desk."""
    laundry = pos.merchant_open(actor=SYSTEM, institution=institution, code="wash", name="洗衣房", category="laundry")
    with django_capture_on_commit_callbacks(execute=True):
        charges.charge_wallet(actor=SYSTEM, merchant=laundry, person=student, key="w1", amount=500)  # ¥30 → ¥25
        charges.charge_wallet(actor=SYSTEM, merchant=laundry, person=student, key="w2", amount=600)  # → ¥19
        charges.charge_wallet(actor=SYSTEM, merchant=laundry, person=student, key="w2", amount=600)  # retry
    assert Notification.objects.filter(person=student, kind=LOW).count() == 1
    recharge_cash(channel="window", person=student, amount=1_000, key="again")  # ¥29
    with django_capture_on_commit_callbacks(execute=True):
        placed = charges.hold_place(actor=SYSTEM, merchant=laundry, person=student, key="dep", amount=1_000)
        charges.hold_capture(actor=SYSTEM, hold=Hold.objects.get(pk=placed.hold_id))  # ¥29 → ¥19: the kept deposit crosses
    assert Notification.objects.filter(person=student, kind=LOW).count() == 2


def test_the_holders_threshold_and_switch_are_respected(student, tapped, tap):
    holder_user_ensure(person=student)
    alerts.preferences_set(actor=SYSTEM, person=student, enabled=[k for k in alerts.SWITCHABLE if k != LOW],
                           low_balance_threshold=2_800)
    tap("q1", 500)  # ¥30 → ¥25 crosses ¥28, but low balance is off
    assert not Notification.objects.filter(kind=LOW).exists()
    alerts.preferences_set(actor=SYSTEM, person=student, enabled=alerts.SWITCHABLE, low_balance_threshold=2_400)
    tap("q2", 200)  # ¥25 → ¥23 crosses the holder's ¥24 (not the default ¥20)
    note = Notification.objects.get(kind=LOW)
    assert note.params["threshold"] == "¥24.00"


def test_security_events_cannot_be_switched_off(student, card):
    with pytest.raises(DomainError) as refused:
        alerts.preferences_set(actor=SYSTEM, person=student, enabled=["security"], low_balance_threshold=100)
    assert refused.value.code == "alert_kind_not_switchable"
    with pytest.raises(DomainError) as too_high:
        alerts.preferences_set(actor=SYSTEM, person=student, enabled=[], low_balance_threshold=10**9)
    assert too_high.value.code == "low_balance_threshold_invalid"
    alerts.preferences_set(actor=SYSTEM, person=student, enabled=[], low_balance_threshold=0)  # all off
    assert notify(person=student, kind=Notification.Kind.APPLICATION, title=gettext_lazy("Approved: %(what)s"),
                  params={"what": "x"}) is None
    card_report_lost(actor=SYSTEM, card=card, channel="portal")  # CARD-4: still told
    assert Notification.objects.filter(person=student, kind=Notification.Kind.SECURITY).count() == 1
    assert not Notification.objects.filter(kind=Notification.Kind.APPLICATION).exists()


def test_the_worker_sends_each_notification_once_per_channel(student, django_capture_on_commit_callbacks):
    student.email = "alice@example.edu"
    student.save()
    _binding, token = channel_binding_create(actor=Actor.by_user(holder_user_ensure(person=student)), person=student,
                                             channel="校园卡小程序", scopes=["notifications"])
    mail.outbox.clear()
    OutboxMessage.objects.all().delete()
    Delivery.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        note = notify(person=student, kind=Notification.Kind.APPEAL, title=gettext_lazy("Your appeal was decided"))
    assert len(mail.outbox) == 1 and OutboxMessage.objects.filter(notification=note).count() == 1
    deliver_notifications([note.pk])  # the job run twice
    deliver_notifications([note.pk])
    assert len(mail.outbox) == 1 and OutboxMessage.objects.filter(notification=note).count() == 1
    assert set(Delivery.objects.filter(notification=note).values_list("channel", flat=True)) == {
        "email", f"binding:{_binding.pk}"}
    # the channel polls its outbox with its token, checks the signature, acknowledges (twice: no change)
    channel = Client(headers={"Authorization": f"Bearer {token}"})
    items = channel.get("/api/v1/channels/outbox").json()
    ours = [item for item in items if item["notification_id"] == note.pk]
    assert len(ours) == 1
    signature = ours[0].pop("signature")
    key = hashlib.sha256(token.encode()).hexdigest().encode()
    canonical = json.dumps(ours[0], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert hmac.compare_digest(signature, hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest())
    for _ in range(2):
        assert channel.post("/api/v1/channels/outbox/ack", {"ids": [ours[0]["id"]]},
                            content_type="application/json").json() == {"acked": 1}
    assert not [item for item in channel.get("/api/v1/channels/outbox").json() if item["notification_id"] == note.pk]


def test_payment_password_due_once_per_period(student):
    changed = clock.now() - dt.timedelta(days=45)
    type(student).objects.filter(pk=student.pk).update(payment_password="set", payment_password_changed_at=changed)
    assert alerts.password_due_alerts() == 1
    assert alerts.password_due_alerts() == 0  # the hourly job again: nothing new
    assert Notification.objects.filter(person=student, kind=Notification.Kind.PASSWORD_DUE).count() == 1
    later = clock.now() - dt.timedelta(days=31)  # changed since, and due again: a new period
    type(student).objects.filter(pk=student.pk).update(payment_password_changed_at=later)
    assert alerts.password_due_alerts() == 1
    assert alerts.password_due_alerts() == 0
    assert Notification.objects.filter(kind=Notification.Kind.PASSWORD_DUE).count() == 2


def test_loan_due_is_switchable(student):
    from campuscard.support.services import Recipient, notify_many

    alerts.preferences_set(actor=SYSTEM, person=student,
                           enabled=[k for k in alerts.SWITCHABLE if k != Notification.Kind.LOAN_DUE],
                           low_balance_threshold=2_000)
    sent = notify_many(kind=Notification.Kind.LOAN_DUE, title=gettext_lazy("Due soon: %(title)s"),
                       recipients=[Recipient(person_id=student.pk, language="en", email="", params={"title": "x"})])
    assert sent == 0 and not Notification.objects.filter(kind=Notification.Kind.LOAN_DUE).exists()


def _login(client: Client, student) -> None:
    client.post("/login/", {"institution": "uni", "number": student.number, "password": ID_ALICE[-6:]})


def test_a_login_from_a_new_device_alerts_the_holder(student):
    holder_user_ensure(person=student)
    security = Notification.objects.filter(person=student, kind=Notification.Kind.SECURITY)
    phone = Client(HTTP_USER_AGENT="Phone/1.0", REMOTE_ADDR="10.0.0.5")
    _login(phone, student)  # the account's first device: the baseline, nothing to compare with
    assert SeenDevice.objects.filter(user__person=student).count() == 2 and security.count() == 0
    assert phone.cookies["cc_device"].value
    phone.post("/logout/")
    _login(phone, student)  # the same phone (its cookie)
    assert security.count() == 0
    laptop = Client(HTTP_USER_AGENT="Laptop/2.0", REMOTE_ADDR="10.9.9.9")
    _login(laptop, student)  # never seen: alerted, even with every switchable kind off
    assert security.count() == 1
    note = security.get()
    assert note.params["device"] == "Laptop/2.0" and note.params["address"] == "10.9.9.9"
    # the phone unseen for more than 90 days is new again
    SeenDevice.objects.filter(user__person=student, label="Phone/1.0").update(
        last_seen_at=clock.now() - dt.timedelta(days=91))
    phone.post("/logout/")
    _login(phone, student)
    assert security.count() == 2


def test_the_portal_centre_settings_and_badge(client, student, card):
    user = holder_user_ensure(person=student)
    user.must_change_password = False
    user.save()
    client.force_login(user)
    notify(person=student, kind=Notification.Kind.APPEAL, title=gettext_lazy("Your appeal was decided"))
    home = client.get("/").content.decode()
    assert 'data-testid="unread-count">1<' in home
    assert client.get("/api/v1/me/notifications/unread").json() == {"unread": 1, "by_kind": {"appeal": 1}}
    page = client.get("/notifications/").content.decode()
    assert 'data-testid="notification"' in page
    assert 'data-testid="unread-count"' not in client.get("/").content.decode()  # read now
    response = client.post("/notifications/settings/", {"kinds": ["appeal"], "low_balance_threshold": "35.50"})
    assert response.status_code == 302
    prefs = client.get("/api/v1/me/alerts").json()
    assert prefs["low_balance_threshold"] == 3_550 and prefs["kinds"]["appeal"] and not prefs["kinds"]["loan_due"]
    bad = client.put("/api/v1/me/alerts", {"enabled": ["security"], "low_balance_threshold": 100},
                     content_type="application/json")
    assert bad.status_code == 422 and bad.json()["code"] == "alert_kind_not_switchable"


@pytest.mark.django_db(transaction=True)
def test_fast_path_low_balance_without_an_extra_statement(institution, student, card, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's; SQLite takes the ordinary path (tested above)")
    from campuscard.payments import fastpath

    terminal = Terminal.objects.create(
        device=device_register(actor=SYSTEM, institution=institution, kind=Device.Kind.POS, code="pos-z",
                               name="POS")[0],
        merchant=pos.merchant_open(actor=SYSTEM, institution=institution, code="cz", name="食堂",
                                   category="canteen"))
    recharge_cash(channel="window", person=student, amount=2_500, key="fund")
    enqueued = []
    monkeypatch.setattr(alerts, "low_balance_check", lambda *args: enqueued.append(args))
    facts = fastpath.terminal_facts(terminal.device.code)
    credential = qr_credential(card)
    fastpath.credential_facts(credential.token)  # warm, like a running POS process
    warm = pos.payment_authorize(terminal=facts, txn_id="z0", amount=100, code=codes.current_code(credential))
    assert warm.balance_after == 2_400  # (the first payment of a connection prepares its statement)
    code, hits = codes.current_code(credential), fastpath.stats["hits"]  # the next unused slot
    with CaptureQueriesContext(connection) as queries:
        done = pos.payment_authorize(terminal=facts, txn_id="z1", amount=500, code=code)
    assert done.balance_after == 1_900, done
    assert fastpath.stats["hits"] == hits + 1
    # nothing but the payment's own statement (EXECUTE): no threshold look-up, no notification written here
    assert not [q for q in queries.captured_queries if "support_" in q["sql"] or "identity_" in q["sql"]]
    assert len(queries) <= 1
    assert enqueued[-1] == (student.pk, done.payment_id, 500, 1_900)
