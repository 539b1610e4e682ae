"""Visitor codes (ACC-3): Ed25519-signed, compact, read back from a real QR, refused when they should be."""

from __future__ import annotations

import base64
import datetime as dt
import io

import pytest
import segno

from campuscard.access import keys, services
from campuscard.access.models import AccessSigningKey, VisitorPass
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.core.errors import DomainError
from campuscard.identity.models import Person
from tests.access.conftest import NOON, holder, local
from tests.access.test_gate import decide
from tests.helpers import qr_texts

pytestmark = pytest.mark.django_db


def invite(host, zones, start, end, moment=NOON):
    with frozen_at(moment):
        return services.visitor_pass_create(actor=Actor.system("t"), host=host, visitor_name="王访客", visitor_phone="13800000000",
                                            zones=zones, valid_from=start, valid_to=end)


def read_back(text: str) -> str:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=4)
    buffer.seek(0)
    [text] = qr_texts(buffer)
    return text


def test_code_is_compact_alphanumeric_and_read_back_by_a_real_decoder(institution, place, gate):
    host, _card, _uid = holder(institution, kind=Person.Kind.STAFF)
    zones = [place["zones"]["gate"], place["zones"]["teaching"], place["zones"]["library"]]
    visitor_pass, code = invite(host, zones, NOON + dt.timedelta(hours=1), NOON + dt.timedelta(hours=3))
    assert code.startswith("CV1.") and len(code) < 160
    assert segno.make(code, error="m").mode == "alphanumeric"
    assert segno.make(code, error="m").version <= 8
    scanned = read_back(code)
    assert scanned == code
    assert decide(gate, "teach-1", NOON + dt.timedelta(hours=2), visitor_code=scanned).rule == "admit_visitor"
    assert decide(gate, "south-gate", NOON + dt.timedelta(hours=2), visitor_code=scanned).rule == "admit_visitor"
    assert decide(gate, "dorm-a", NOON + dt.timedelta(hours=2), visitor_code=scanned).rule == \
        "refuse_visitor_wrong_zone"
    assert services.visitor_code(visitor_pass=visitor_pass) == code  # deterministic: the portal can show it again


def test_window_edges_online(institution, place, gate):
    host, _card, _uid = holder(institution)
    start, end = NOON + dt.timedelta(hours=1), NOON + dt.timedelta(hours=2)
    _visitor_pass, code = invite(host, [place["zones"]["teaching"]], start, end)
    assert decide(gate, "teach-1", start - dt.timedelta(seconds=1), visitor_code=code).rule == "refuse_visitor_not_yet"
    assert decide(gate, "teach-1", start, visitor_code=code).rule == "admit_visitor"
    assert decide(gate, "teach-1", end - dt.timedelta(seconds=1), visitor_code=code).rule == "admit_visitor"
    assert decide(gate, "teach-1", end, visitor_code=code).rule == "refuse_visitor_expired"


def test_start_at_most_six_hours_ahead_configurable(institution, place, settings):
    host, _card, _uid = holder(institution)
    teaching = [place["zones"]["teaching"]]
    invite(host, teaching, NOON + dt.timedelta(hours=6), NOON + dt.timedelta(hours=7))
    with pytest.raises(DomainError) as too_far:
        invite(host, teaching, NOON + dt.timedelta(hours=6, minutes=1), NOON + dt.timedelta(hours=7))
    assert too_far.value.code == "visitor_too_far_ahead"
    settings.VISITOR_PASS_MAX_AHEAD_HOURS = 2
    with pytest.raises(DomainError):
        invite(host, teaching, NOON + dt.timedelta(hours=2, minutes=1), NOON + dt.timedelta(hours=3))
    for start, end, code in [(NOON - dt.timedelta(minutes=5), NOON + dt.timedelta(hours=1), "visitor_in_past"),
                             (NOON + dt.timedelta(hours=1), NOON + dt.timedelta(hours=1), "visitor_window_invalid"),
                             (NOON, NOON + dt.timedelta(hours=25), "visitor_window_invalid")]:
        with pytest.raises(DomainError) as refused:
            invite(host, teaching, start, end)
        assert refused.value.code == code
    with pytest.raises(DomainError) as lab:
        invite(host, [place["zones"]["lab"]], NOON, NOON + dt.timedelta(hours=1))
    assert lab.value.code == "visitor_zones_invalid"
    assert VisitorPass.objects.count() == 1


def test_hosts_need_an_active_card(institution, place):
    host, card, _uid = holder(institution)
    from campuscard.cards.services import card_report_lost

    card_report_lost(actor=Actor.system("t"), card=card, channel="portal")
    with pytest.raises(DomainError) as refused:
        invite(host, [place["zones"]["teaching"]], NOON, NOON + dt.timedelta(hours=1))
    assert refused.value.code == "visitor_host_not_allowed"


def test_revoked_pass_refused_online_at_once(institution, place, gate):
    host, _card, _uid = holder(institution)
    visitor_pass, code = invite(host, [place["zones"]["teaching"]], NOON, NOON + dt.timedelta(hours=2))
    assert decide(gate, "teach-1", NOON + dt.timedelta(minutes=5), visitor_code=code).admitted
    services.visitor_pass_revoke(actor=Actor.system("t"), visitor_pass=visitor_pass)
    assert decide(gate, "teach-1", NOON + dt.timedelta(minutes=6), visitor_code=code).rule == "refuse_visitor_revoked"
    with pytest.raises(DomainError):
        services.visitor_pass_revoke(actor=Actor.system("t"), visitor_pass=visitor_pass)


def _tamper(code: str, index: int) -> str:
    text = code[4:]
    blob = bytearray(base64.b32decode(text + "=" * (-len(text) % 8)))
    blob[index] ^= 0x01
    return "CV1." + base64.b32encode(bytes(blob)).decode().rstrip("=")


def test_forged_tampered_and_foreign_codes_are_refused(institution, other_institution, place, gate):
    host, _card, _uid = holder(institution)
    _visitor_pass, code = invite(host, [place["zones"]["teaching"]], NOON, NOON + dt.timedelta(hours=1))
    at = NOON + dt.timedelta(minutes=5)
    # the end minute pushed later, the pass id changed, the signature flipped: all not genuine
    for index in (1, 12, -1):
        assert decide(gate, "teach-1", at, visitor_code=_tamper(code, index)).rule == "refuse_visitor_forged"
    assert decide(gate, "teach-1", at, visitor_code="CV1.AAAA").rule == "refuse_visitor_forged"
    assert decide(gate, "teach-1", at, visitor_code="CV1.not base32!").rule == "refuse_visitor_forged"
    # signed with a key that is not ours (another institution's key with the same key id)
    foreign = keys.active_key(other_institution.pk)
    claims, _message, _sig = keys.parse_visitor_code(code)
    assert foreign.key_id == claims.key_id
    forged = keys.encode_visitor_code(foreign, claims)
    assert decide(gate, "teach-1", at, visitor_code=forged).rule == "refuse_visitor_forged"


def test_keys_rotate_old_passes_keep_working_new_ones_use_the_new_key(institution, place, gate):
    host, _card, _uid = holder(institution)
    old_pass, old_code = invite(host, [place["zones"]["teaching"]], NOON, NOON + dt.timedelta(hours=2))
    with frozen_at(NOON):
        new_key = keys.signing_key_rotate(actor=Actor.system("t"), institution_id=institution.pk)
    assert AccessSigningKey.objects.filter(institution=institution, active=True).get() == new_key
    new_pass, new_code = invite(host, [place["zones"]["teaching"]], NOON, NOON + dt.timedelta(hours=2))
    assert (old_pass.key_id, new_pass.key_id) == (1, 2)
    assert keys.parse_visitor_code(new_code)[0].key_id == 2
    at = NOON + dt.timedelta(minutes=1)
    assert decide(gate, "teach-1", at, visitor_code=old_code).admitted
    assert decide(gate, "teach-1", at, visitor_code=new_code).admitted
    stored = AccessSigningKey.objects.get(key_id=2)
    assert stored.private_key.startswith("gAAAA")  # Fernet token, not the raw key


def test_window_is_in_local_time_across_midnight(institution, place, gate):
    host, _card, _uid = holder(institution)
    start = local(2026, 11, 30, 22, 0)
    _visitor_pass, code = invite(host, [place["zones"]["teaching"]], start, start + dt.timedelta(hours=3),
                                 moment=local(2026, 11, 30, 21, 0))
    assert decide(gate, "teach-1", local(2026, 12, 1, 0, 59), visitor_code=code).admitted
    assert decide(gate, "teach-1", local(2026, 12, 1, 1, 0), visitor_code=code).rule == "refuse_visitor_expired"
