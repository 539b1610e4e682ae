"""One small institution for the fuzzer and the authorisation matrix (#18 items 4 and 5).

Institution ``uni``: holder A (funded card, physical card, a channel binding, a recharge order), holder
B of the same institution (their own card), a Card Center operator with an API token, canteen M1 with a
POS terminal and holder A's payment there, merchant M2 with its merchant operator, a kiosk and a revoked
gate. Institution ``other``:
its institution admin.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from campuscard.cards.channels import channel_binding_create
from campuscard.cards.models import Card
from campuscard.cards.services import card_issue, nfc_bind
from campuscard.core.actors import Actor
from campuscard.core.models import Institution
from campuscard.devices.models import Device
from campuscard.devices.services import device_register, device_revoke
from campuscard.identity.models import ChannelBinding, Person, User
from campuscard.identity.services import holder_user_ensure, token_issue
from campuscard.payments import pos
from campuscard.payments.models import MerchantStaff, RechargeOrder, Terminal
from campuscard.payments.services import recharge_cash, recharge_online_start
from tests.helpers import resident_id


@dataclass
class World:
    institution: Institution
    other: Institution
    holder_a: Person
    card_a: Card
    holder_b: Person
    card_b: Card
    operator: User  # Card Center operator of ``uni``
    operator_token: str
    foreign_admin: User  # institution admin of ``other``
    merchant_operator: User  # of M2, not of the canteen M1
    pos: Device
    pos_secret: str
    kiosk: Device
    kiosk_secret: str
    revoked: Device
    revoked_secret: str
    binding_a: ChannelBinding  # holder A's outside channel (ID-6)
    channel_token_a: str
    order_a: RechargeOrder  # holder A's online recharge, pending

    def markers(self) -> list[str]:
        """What only holder A, their institution's staff (and A's own channel) may see of A."""
        return [self.holder_a.number, self.card_a.number, self.holder_a.id_number, self.holder_a.name,
                self.holder_a.name.encode("unicode_escape").decode(), self.order_a.order_no]


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    """These tests call the WSGI stack itself, which closes the database connection after each request
    (Django's request signals, the device lane's upkeep) — on PostgreSQL, the test's transaction with it.
    Keep it open across requests, as Django's test client does."""
    from django.core import signals
    from django.db import close_old_connections, connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    monkeypatch.setattr(connections["default"], "close_if_unusable_or_obsolete", lambda: None)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _holder_login(person: Person) -> User:
    user = holder_user_ensure(person=person)
    user.must_change_password = False  # ID-3's forced change would answer every call with 403
    user.save()
    return user


@pytest.fixture
def world(institution, other_institution, student, card, make_operator) -> World:
    system = Actor.system("security-tests")
    recharge_cash(channel="window", person=student, amount=50_000, key="security-fund")
    nfc_bind(actor=system, card=card, uid="04:5E:C0:01")
    user_a = _holder_login(student)
    binding_a, channel_token_a = channel_binding_create(actor=Actor.by_user(user_a), person=student, channel="WeChat",
                                                        scopes=ChannelBinding.Scope.values)
    order_a, _url = recharge_online_start(person=student, amount=1_000, key="security-order")
    bob = Person.objects.create(
        institution=institution, number="2024000002", name="王小明", kind=Person.Kind.UNDERGRADUATE,
        status=Person.Status.FULL_TIME, id_number=resident_id(42), campus=institution.campuses.get(code="main"))
    card_b = card_issue(actor=system, person=bob)
    _holder_login(bob)
    operator = make_operator(institution, "card_center_operator", "uni-operator")
    token = token_issue(user=operator, name="fuzz")[1]
    canteen = pos.merchant_open(actor=system, institution=institution, code="m1", name="学苑餐厅", category="canteen")
    shop = pos.merchant_open(actor=system, institution=institution, code="m2", name="校园超市", category="shop")
    merchant_operator = make_operator(institution, "merchant_operator", "m2-operator")
    MerchantStaff.objects.create(user=merchant_operator, merchant=shop)
    pos_device, pos_secret = device_register(actor=system, institution=institution, kind=Device.Kind.POS,
                                             code="sec-pos-1", name="Window 1")
    terminal = Terminal.objects.create(device=pos_device, merchant=canteen, counter="1号窗口")
    # holder A paid at the canteen: the merchant operator of the other merchant must not see it
    pos.payment_authorize(terminal=terminal, txn_id="security-1", amount=1_250, nfc_uid="04:5E:C0:01")
    kiosk, kiosk_secret = device_register(actor=system, institution=institution, kind=Device.Kind.KIOSK,
                                          code="sec-kiosk-1", name="Kiosk 1")
    revoked, revoked_secret = device_register(actor=system, institution=institution, kind=Device.Kind.GATE,
                                              code="sec-gate-revoked", name="Old gate")
    device_revoke(actor=system, device=revoked)
    return World(institution=institution, other=other_institution, holder_a=student, card_a=card, holder_b=bob,
                 card_b=card_b, operator=operator, operator_token=token,
                 foreign_admin=make_operator(other_institution, "institution_admin", "other-admin"),
                 merchant_operator=merchant_operator, pos=pos_device, pos_secret=pos_secret, kiosk=kiosk,
                 kiosk_secret=kiosk_secret, revoked=revoked, revoked_secret=revoked_secret, binding_a=binding_a,
                 channel_token_a=channel_token_a, order_a=order_a)


def session_cookie(user: User) -> str:
    """A logged-in session's cookie value (the test client's force_login, without its client)."""
    client = Client()
    client.force_login(user)
    from django.conf import settings

    return client.cookies[settings.SESSION_COOKIE_NAME].value
