"""Cards through the API and the file-driven jobs (CARD-3, CARD-4, CARD-7, CARD-9)."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from campuscard.cards import codes
from campuscard.cards.imports import graduation_run, legacy_import
from campuscard.cards.models import Card, DenyListVersion, LegacyMealCard
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.devices.signing import sign_headers
from campuscard.identity.models import Person
from campuscard.identity.services import holder_user_ensure
from tests.conftest import ID_ALICE

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder_client(client, student, card):
    user = holder_user_ensure(person=student)
    user.must_change_password = False
    user.save()
    client.force_login(user)
    return client


def test_my_cards_code_and_loss_through_the_api(holder_client, card):
    cards = holder_client.get("/api/v1/cards").json()
    assert cards[0]["number"] == card.number and "pay" in cards[0]["capabilities"]
    code = holder_client.get(f"/api/v1/cards/{card.number}/code").json()
    assert code["code"].startswith("CC1.") and code["valid_seconds"] == 60
    version_before = DenyListVersion.objects.filter(institution_id=card.institution_id).first()
    lost = holder_client.post(f"/api/v1/cards/{card.number}/lost")
    assert lost.json()["state"] == "lost"
    assert DenyListVersion.objects.get(institution_id=card.institution_id).version == (
        (version_before.version if version_before else 0) + 1)
    with pytest.raises(DomainError) as refused:
        codes.code_accept(institution_id=card.institution_id, code=code["code"])
    assert refused.value.code == "card_lost"
    refused_code = holder_client.get(f"/api/v1/cards/{card.number}/code")
    assert refused_code.status_code == 403 and refused_code.json()["code"] == "card_lost"
    no_password = holder_client.post(f"/api/v1/cards/{card.number}/found", {"password": ""},
                                     content_type="application/json")
    assert no_password.status_code == 403 and no_password.json()["code"] == "unreport_password_required"
    found = holder_client.post(f"/api/v1/cards/{card.number}/found", {"password": ID_ALICE[-6:]},
                               content_type="application/json")  # the initial login password (ID-3)
    assert found.json()["state"] == "active"


def test_offline_codes_work_once(holder_client, card):
    batch = holder_client.post(f"/api/v1/cards/{card.number}/offline-codes").json()["codes"]
    assert len(batch) == 15
    assert codes.code_accept(institution_id=card.institution_id, code=batch[0]).offline
    with pytest.raises(DomainError) as refused:
        codes.code_accept(institution_id=card.institution_id, code=batch[0])
    assert refused.value.code == "qr_replayed"


def test_device_deny_list_follows_loss_reports(client, institution, card):
    device, secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.GATE, code="g1", name="G")

    def fetch(since=0, tamper=False):
        path = f"/api/v1/devices/deny-list?since={since}"  # the query string is signed too
        headers = sign_headers(device_code=device.code, secret=secret, method="GET", path=path)
        return client.get(path.replace(f"since={since}", "since=0") if tamper else path, headers=headers).json()

    empty = fetch()
    from campuscard.cards.services import card_report_lost

    card_report_lost(actor=Actor.system("t"), card=card, channel="window")
    listed = fetch(since=empty["version"])
    assert listed["version"] == empty["version"] + 1 and card.number in listed["cards"]
    assert fetch(since=listed["version"])["cards"] == []
    assert fetch(since=5, tamper=True)["code"] == "device_auth_failed"


def test_legacy_import_is_all_or_nothing(institution, student):
    good = b"old_number,number,balance\nM1,2024000001,34.80\n"
    bad = b"old_number,number,balance\nM2,2024000001,1.00\nM3,nobody,2\nM4,2024000001,abc\n"
    with pytest.raises(DomainError) as refused:
        legacy_import(actor=Actor.system("t"), institution=institution, name="x.csv", stream=io.BytesIO(bad))
    lines = {(e["line"], e["column"]) for e in refused.value.details["errors"]}
    assert lines == {(3, "number"), (4, "balance")}
    assert LegacyMealCard.objects.count() == 0
    legacy_import(actor=Actor.system("t"), institution=institution, name="x.csv", stream=io.BytesIO(good))
    assert LegacyMealCard.objects.get().balance == 3_480


def test_legacy_migration_through_the_api_once(holder_client, institution, student, card):
    legacy_import(actor=Actor.system("t"), institution=institution, name="x.csv",
                  stream=io.BytesIO(b"old_number,number,balance\nM1,2024000001,34.80\n"))
    first = holder_client.post("/api/v1/cards/migrate")
    assert first.json() == {"amount": 3_480}
    second = holder_client.post("/api/v1/cards/migrate")
    assert second.status_code == 409 and second.json()["code"] == "migration_done"
    assert holder_client.get("/api/v1/wallet").json()["available"] == 3_480


def test_graduation_list_turns_student_cards_into_alumni_cards(tmp_path, institution, student, card):
    path = tmp_path / "graduates.csv"
    path.write_text("number\n2024000001\n", encoding="utf-8")
    call_command("graduate", str(path), institution="uni")
    card.refresh_from_db()
    student.refresh_from_db()
    assert card.kind == Card.Kind.ALUMNI and student.kind == Person.Kind.ALUMNUS
    from campuscard.cards.selectors import CAPABILITIES

    assert CAPABILITIES[card.kind] == ("library",)
    bad = tmp_path / "bad.csv"
    bad.write_text("number\nnobody\n", encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("graduate", str(bad), institution="uni")
    with pytest.raises(DomainError):
        graduation_run(actor=Actor.system("t"), institution=institution, name="x.csv", stream=io.BytesIO(b"number\nnobody\n"))


def test_replacement_through_the_api(holder_client, card):
    from campuscard.payments.services import recharge_cash

    recharge_cash(channel="window", person=card.person, amount=5_000, key="k")
    response = holder_client.post(f"/api/v1/cards/{card.number}/replace", data=json.dumps({"physical": False}),
                                  content_type="application/json")
    assert response.status_code == 201
    new = response.json()
    assert new["state"] == "active" and new["number"] != card.number
    cards = {c["number"]: c for c in holder_client.get("/api/v1/cards").json()}
    old = cards[card.number]
    assert old["state"] == "replaced" and old["balance"] == 0 and old["balance_moves_at"] is None  # moved at once
    assert cards[new["number"]]["balance"] == 3_000


def test_balance_move_waits_for_money_still_on_its_way(institution, student, card):
    """An online recharge to the old card that the gateway has not confirmed yet postpones the move."""
    from datetime import timedelta

    from campuscard.cards.models import BalanceMove
    from campuscard.cards.services import balance_moves_run, card_replace
    from campuscard.core import clock
    from campuscard.ledger.checks import ledger_check
    from campuscard.payments.services import recharge_cash, recharge_online_start

    recharge_cash(channel="window", person=student, amount=5_000, key="cash")
    recharge_online_start(person=student, amount=2_000, key="online")
    new = card_replace(actor=Actor.system("t"), card=card, physical=False, channel="kiosk")
    with clock.frozen_at(clock.now() + timedelta(hours=49)):
        balance_moves_run()
        move = BalanceMove.objects.get(old_card=card)
        assert move.state == "scheduled" and move.due_at > clock.now()
    assert new.state == "active" and ledger_check().ok


def test_frozen_card_is_replaced_only_at_the_window(institution, student, card):
    from campuscard.cards.services import card_freeze, card_replace
    from campuscard.payments.services import recharge_cash

    recharge_cash(channel="window", person=student, amount=5_000, key="cash")
    card_freeze(actor=Actor.system("t"), card=card)
    with pytest.raises(DomainError) as refused:
        card_replace(actor=Actor.system("t"), card=card, physical=False, channel="kiosk")
    assert refused.value.code == "card_state_invalid"
    assert Card.objects.get(pk=card.pk).state == "frozen"
    assert card_replace(actor=Actor.system("t"), card=card, physical=False, channel="window").state == "active"


def test_kiosk_needs_the_query_password_and_throttles_guesses(client, institution, student, card):
    """A typed certificate number alone identifies nobody at a kiosk (ID-6 query password as 2nd factor)."""
    from django.core.signing import get_cookie_signer

    from campuscard.terminals.web import COOKIE, SALT
    from tests.conftest import ID_ALICE

    device, _secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.KIOSK, code="kx",
                                      name="K")
    client.cookies[COOKIE] = get_cookie_signer(salt=COOKIE + SALT).sign(str(device.pk))

    def identify(password):
        return client.post("/devices/kiosk/identify/", {"id_number": ID_ALICE, "query_password": password},
                           follow=True).content.decode()

    assert "kiosk-lost" not in identify("wrong1")
    assert "kiosk-lost" in identify(ID_ALICE[-6:])
    client.post("/devices/kiosk/action/", {"action": "done"})
    for _ in range(5):
        identify("wrong1")
    assert "kiosk-lost" not in identify(ID_ALICE[-6:])  # locked for a while, even with the right password
    assert Card.objects.get(pk=card.pk).state == "active"


def test_hce_provisioning_gives_the_phone_an_rfc6238_secret(holder_client, card):
    import pyotp

    first = holder_client.post(f"/api/v1/cards/{card.number}/hce").json()
    totp = pyotp.parse_uri(first["otpauth_uri"])
    assert totp.digits == 8 and totp.interval == 30
    code = f"CC1.{first['token']}.{totp.now()}"  # what the phone computes offline
    assert codes.code_accept(institution_id=card.institution_id, code=code).credential.kind == "hce"
    second = holder_client.post(f"/api/v1/cards/{card.number}/hce").json()
    with pytest.raises(DomainError) as refused:  # the old phone's secret stopped working
        codes.code_accept(institution_id=card.institution_id, code=code)
    assert refused.value.code == "credential_unknown" and second["token"] != first["token"]
