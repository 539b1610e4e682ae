"""Dynamic payment codes and NFC (CARD-3, CARD-4): RFC 6238, one-time, 60 s, read back from a real QR."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import re

import pyotp
import pytest
import segno
from django.db import transaction

from campuscard.cards import codes, services
from campuscard.cards.models import Card, Credential, OfflineCode, UsedCode
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.core.errors import DomainError
from tests.cards.conftest import make_person
from tests.helpers import qr_texts

pytestmark = pytest.mark.django_db

# RFC 6238 Appendix B, SHA1 rows: the 20-byte ASCII seed, 8 digits, X = 30 s.
RFC_SEED = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
               (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")]

T0 = dt.datetime(2026, 3, 10, 2, 0, 0, tzinfo=dt.UTC)  # the start of a 30 s step
ONLINE = re.compile(r"^CC1\.([A-Z2-7]{10})\.(\d{8})$")
OFFLINE = re.compile(r"^CC1\.([A-Z2-7]{10})\.O([A-Z2-7]{16})$")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def qr_of(card: Card) -> Credential:
    return card.credentials.get(kind=Credential.Kind.QR)


def refused(code: str, call, *args, **kwargs) -> None:
    with pytest.raises(DomainError) as error:
        call(*args, **kwargs)
    assert error.value.code == code


def accept(institution, code: str) -> codes.Presented:
    """What a POS does: check the code inside its payment transaction."""
    with transaction.atomic():
        return codes.code_accept(institution_id=institution.pk, code=code)


# --- RFC 6238 --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("moment", "expected"), RFC_VECTORS)
def test_rfc6238_appendix_b_sha1_vectors(moment, expected):
    plain = pyotp.TOTP(RFC_SEED, digits=8, interval=30)
    ours = codes.totp(RFC_SEED)  # exactly how the credential's codes are built
    assert (ours.digits, ours.interval, ours.digest) == (8, 30, hashlib.sha1)
    assert plain.at(moment) == expected
    assert ours.at(moment) == expected
    assert ours.at(dt.datetime.fromtimestamp(moment, dt.UTC)) == expected


def test_portal_code_is_the_rfc_totp_of_the_credential(card, institution):
    """A native app provisioned with the secret computes the same code offline."""
    qr = qr_of(card)
    qr.secret = RFC_SEED
    qr.save(update_fields=["secret"])
    with frozen_at(dt.datetime.fromtimestamp(1111111109, dt.UTC)):
        code = codes.current_code(qr)
        assert code == f"CC1.{qr.token}.07081804"
        assert accept(institution, code).credential == qr


def test_code_format_and_credentials_of_a_new_card(card):
    kinds = sorted(card.credentials.values_list("kind", flat=True))
    assert kinds == ["hce", "qr"]
    for credential in card.credentials.all():
        assert re.fullmatch(r"[A-Z2-7]{32}", credential.secret)
        with frozen_at(T0):
            code = codes.current_code(credential)
        match = ONLINE.match(code)
        assert match and match.group(1) == credential.token
        assert match.group(2) == pyotp.TOTP(credential.secret, digits=8, interval=30).at(T0)
    qr, hce = (card.credentials.get(kind=k) for k in ("qr", "hce"))
    assert qr.secret != hce.secret and qr.token != hce.token


# --- one-time, 60 s ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [Credential.Kind.QR, Credential.Kind.HCE])
def test_code_is_accepted_once_then_replay_is_refused(card, institution, kind):
    credential = card.credentials.get(kind=kind)
    with frozen_at(at(5)):
        code = codes.current_code(credential)
        presented = accept(institution, code)
        assert presented.card == card and presented.credential == credential and not presented.offline
        assert presented.card.person.number == card.person.number
        refused("qr_replayed", accept, institution, code)
    with frozen_at(at(40)):  # still within 60 s: still used
        refused("qr_replayed", accept, institution, code)
    assert UsedCode.objects.count() == 1


def test_code_is_valid_60_seconds_then_expired(card, institution):
    qr = qr_of(card)
    with frozen_at(T0):
        code = codes.current_code(qr)
    with frozen_at(at(59)):
        assert accept(institution, code).card == card
    with frozen_at(T0):
        again = codes.current_code(card.credentials.get(kind=Credential.Kind.HCE))
    with frozen_at(at(60)):  # two steps later
        refused("qr_expired", accept, institution, again)
    with frozen_at(at(300)):
        refused("qr_expired", accept, institution, again)
    with frozen_at(at(3600)):  # long gone: not recognisable any more
        refused("qr_invalid", accept, institution, again)
    assert UsedCode.objects.count() == 1


def test_next_step_gives_a_new_code_that_is_accepted_too(card, institution):
    qr = qr_of(card)
    with frozen_at(at(10)):
        first = codes.current_code(qr)
        accept(institution, first)
    with frozen_at(at(35)):
        second = codes.current_code(qr)
        assert second != first
        assert accept(institution, second).card == card
    assert UsedCode.objects.count() == 2


@pytest.mark.parametrize("garbage", ["", "hello", "CC1.", "CC1.ABCDEFGHIJ.1234567", "CC2.ABCDEFGHIJ.12345678",
                                     "CC1.abcdefghij.12345678", "CC1.ABCDEFGHIJ.O1234", " CC1.ABCDEFGHIJ.x2345678"])
def test_garbage_is_invalid(card, institution, garbage):
    refused("qr_invalid", accept, institution, garbage)


def test_wrong_digits_and_unknown_token(card, institution):
    qr = qr_of(card)
    with frozen_at(T0):
        digits = codes.current_code(qr).rsplit(".", 1)[1]
        wrong = f"{(int(digits) + 1) % 10**8:08d}"
        refused("qr_invalid", accept, institution, f"CC1.{qr.token}.{wrong}")
        refused("credential_unknown", accept, institution, f"CC1.{'A' * 10}.{digits}")
    assert UsedCode.objects.count() == 0


def test_other_institution_is_refused_and_nothing_is_used(card, institution, other_institution):
    with frozen_at(T0):
        code = codes.current_code(qr_of(card))
        refused("credential_other_institution", accept, other_institution, code)
        assert UsedCode.objects.count() == 0
        assert accept(institution, code).card == card


@pytest.mark.parametrize(("state", "error"), [
    (Card.State.LOST, "card_lost"), (Card.State.FROZEN, "card_frozen"), (Card.State.REPLACED, "card_replaced"),
    (Card.State.CANCELLED, "card_cancelled"), (Card.State.APPLIED, "card_not_active")])
def test_a_stopped_card_is_refused_with_its_own_code(card, institution, state, error):
    Card.objects.filter(pk=card.pk).update(state=state)
    with frozen_at(T0):
        for credential in card.credentials.all():
            refused(error, accept, institution, codes.current_code(credential))
    assert UsedCode.objects.count() == 0


def test_refusals_use_nothing_so_the_code_still_works_after(card, institution):
    with frozen_at(T0):
        code = codes.current_code(qr_of(card))
        services.card_report_lost(actor=Actor.system("test"), card=card, channel="portal")
        refused("card_lost", accept, institution, code)
        assert UsedCode.objects.count() == 0
        services.card_unreport(actor=Actor.system("test"), card=card, channel="window")
        assert accept(institution, code).card == card


def test_a_payment_refused_later_leaves_the_code_unused(card, institution):
    with frozen_at(T0):
        code = codes.current_code(qr_of(card))
        with pytest.raises(RuntimeError), transaction.atomic():
            codes.code_accept(institution_id=institution.pk, code=code)
            raise RuntimeError("payment declined after the code was checked")
        assert UsedCode.objects.count() == 0
        assert accept(institution, code).card == card


def test_step_and_validity_come_from_settings(card, institution, settings):
    settings.QR_STEP_SECONDS = 10
    settings.QR_VALID_SECONDS = 30
    qr = qr_of(card)
    assert codes.totp(qr.secret).interval == 10
    with frozen_at(T0):
        code = codes.current_code(qr)
        assert code.endswith(pyotp.TOTP(qr.secret, digits=8, interval=10).at(T0))
    with frozen_at(at(29)):
        assert accept(institution, code).card == card
    hce = card.credentials.get(kind=Credential.Kind.HCE)
    with frozen_at(T0):
        again = codes.current_code(hce)
    with frozen_at(at(10)):  # the next 10 s step: a different code
        assert codes.current_code(hce) != again
    with frozen_at(at(30)):
        refused("qr_expired", accept, institution, again)


# --- offline codes -------------------------------------------------------------------------------

def test_offline_batch_each_code_accepted_once(card, institution, settings):
    qr = qr_of(card)
    with frozen_at(T0):
        batch = codes.offline_codes_issue(credential=qr)
    assert len(batch) == settings.OFFLINE_CODES_BATCH == 15 and len(set(batch)) == 15
    assert all(OFFLINE.match(code).group(1) == qr.token for code in batch)
    raw = OFFLINE.match(batch[0]).group(2)
    assert not OfflineCode.objects.filter(code_hash=raw).exists()  # only hashes are stored
    with frozen_at(at(3600)):
        for code in batch:
            presented = accept(institution, code)
            assert presented.offline and presented.card == card and presented.credential == qr
        for code in batch:
            refused("qr_replayed", accept, institution, code)
    assert OfflineCode.objects.filter(used_at__isnull=True).count() == 0
    assert UsedCode.objects.count() == 0


def test_offline_codes_expire(card, institution, settings):
    qr = qr_of(card)
    ttl = settings.OFFLINE_CODES_TTL_SECONDS
    with frozen_at(T0):
        first, second, third = codes.offline_codes_issue(credential=qr, count=3)
    with frozen_at(at(ttl - 1)):
        assert accept(institution, first).offline
    with frozen_at(at(ttl)):
        refused("qr_expired", accept, institution, second)
    with frozen_at(at(ttl + 3600)):
        refused("qr_expired", accept, institution, third)
        refused("qr_replayed", accept, institution, first)
    assert OfflineCode.objects.filter(used_at__isnull=False).count() == 1


def test_offline_code_refusals_use_nothing(card, institution, other_institution):
    qr, hce = qr_of(card), card.credentials.get(kind=Credential.Kind.HCE)
    with frozen_at(T0):
        (code,) = codes.offline_codes_issue(credential=qr, count=1)
        raw = OFFLINE.match(code).group(2)
        refused("qr_invalid", accept, institution, f"CC1.{hce.token}.O{raw}")  # not this credential's code
        refused("qr_invalid", accept, institution, f"CC1.{qr.token}.O{'A' * 16}")
        refused("credential_other_institution", accept, other_institution, code)
        services.card_report_lost(actor=Actor.system("test"), card=card, channel="kiosk")
        refused("card_lost", accept, institution, code)
        assert not OfflineCode.objects.filter(used_at__isnull=False).exists()
        services.card_unreport(actor=Actor.system("test"), card=card, channel="window")
        assert accept(institution, code).offline


# --- NFC -------------------------------------------------------------------------------------------

def test_nfc_bound_uid_is_accepted(card, institution, other_institution):
    credential = services.nfc_bind(actor=Actor.system("test"), card=card, uid="04:a1:b2:c3:d4:e5:f6")
    assert credential.uid == "04A1B2C3D4E5F6" and credential.kind == Credential.Kind.NFC
    for spelling in ("04A1B2C3D4E5F6", "04a1b2c3d4e5f6 ", "04:A1:B2:C3:D4:E5:F6"):
        presented = codes.nfc_accept(institution_id=institution.pk, uid=spelling)
        assert presented.card == card and presented.credential == credential
    refused("credential_unknown", codes.nfc_accept, institution_id=institution.pk, uid="04FFFFFFFFFFFF")
    refused("credential_other_institution", codes.nfc_accept, institution_id=other_institution.pk,
            uid="04A1B2C3D4E5F6")
    services.card_report_lost(actor=Actor.system("test"), card=card, channel="window")
    refused("card_lost", codes.nfc_accept, institution_id=institution.pk, uid="04A1B2C3D4E5F6")


def test_nfc_uid_binds_to_one_card_and_rebinding_replaces_it(card, institution):
    other = services.card_issue(actor=Actor.system("test"), person=make_person(institution))
    services.nfc_bind(actor=Actor.system("test"), card=card, uid="04AA")
    refused("nfc_uid_taken", services.nfc_bind, actor=Actor.system("test"), card=other, uid="04:aa")
    services.nfc_bind(actor=Actor.system("test"), card=card, uid="04BB")
    refused("credential_unknown", codes.nfc_accept, institution_id=institution.pk, uid="04AA")
    assert codes.nfc_accept(institution_id=institution.pk, uid="04BB").card == card
    services.nfc_bind(actor=Actor.system("test"), card=other, uid="04AA")  # released by the rebinding
    assert codes.nfc_accept(institution_id=institution.pk, uid="04AA").card == other


# --- QR round trip through a real decoder ---------------------------------------------------------

def png_of(text: str) -> io.BytesIO:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=5)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("offline", [False, True])
def test_qr_png_is_read_back_by_zxing_and_accepted(card, institution, offline):
    qr = qr_of(card)
    with frozen_at(T0):
        code = codes.offline_codes_issue(credential=qr, count=1)[0] if offline else codes.current_code(qr)
        assert qr_texts(png_of(code)) == [code]
        presented = accept(institution, code)
        assert presented.card == card and presented.offline == offline
        refused("qr_replayed", accept, institution, code)


# --- the next code of a step, and the code typed as digits (#17 item 3) ---------------------------------------

def test_a_used_code_is_replaced_at_once_by_the_steps_next_code(card, institution):
    qr = qr_of(card)
    with frozen_at(at(5)):
        first = codes.current_code(qr)
        assert codes.current_code(qr) == first  # a reload before it is used shows the same code
        assert not codes.code_was_used(credential=qr, code=first)
        accept(institution, first)
        assert codes.code_was_used(credential=qr, code=first)
        second = codes.current_code(qr)
        assert second != first and ONLINE.match(second)
        assert accept(institution, second).credential == qr
        refused("qr_replayed", accept, institution, second)
        refused("qr_replayed", accept, institution, first)
        assert codes.current_code(qr) not in (first, second)
    assert UsedCode.objects.filter(credential=qr).count() == 2


def test_slot_zero_stays_the_plain_totp_and_each_slot_differs(card):
    qr = qr_of(card)
    with frozen_at(T0):
        assert codes.current_code(qr).endswith(pyotp.TOTP(qr.secret, digits=8, interval=30).at(T0))
    slots = {g.at(T0) for g in codes._slot_generators(qr.secret, 30)}
    assert len(slots) == codes.SLOTS


def test_the_typed_digits_pay_like_the_qr_and_only_once(card, institution):
    qr = qr_of(card)
    with frozen_at(at(5)):
        code = codes.current_code(qr)
        typed = codes.numeric(code, qr.pk)
        assert re.fullmatch(r"8\d{17}", typed) and len(typed) >= 18
        spaced = " ".join(typed[i:i + 4] for i in range(0, len(typed), 4))
        assert accept(institution, spaced).credential == qr
        refused("qr_replayed", accept, institution, typed)
        refused("qr_replayed", accept, institution, code)  # the QR of the same code: used up too


@pytest.mark.parametrize("kind", [Credential.Kind.QR, Credential.Kind.HCE])
def test_typed_digits_are_checked_like_codes(card, institution, other_institution, kind):
    credential = card.credentials.get(kind=kind)
    with frozen_at(T0):
        typed = codes.numeric(codes.current_code(credential), credential.pk)
        wrong = typed[:-1] + str((int(typed[-1]) + 1) % 10)
        refused("qr_invalid", accept, institution, wrong)
        refused("credential_unknown", accept, institution, f"8{999999999:09d}{typed[-8:]}")
        refused("credential_other_institution", accept, other_institution, typed)
    with frozen_at(at(120)):
        refused("qr_expired", accept, institution, typed)
    assert UsedCode.objects.count() == 0
