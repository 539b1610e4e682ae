"""Signing-key rotation and retirement (ACC-3, ACC-5): online, offline gates' key continuity, back office, CLI."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from campuscard.access import keys, offline
from campuscard.access.models import AccessSigningKey
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.identity.models import Person
from tests.access.conftest import NOON, holder
from tests.access.test_gate import decide

pytestmark = pytest.mark.django_db

AT = NOON + dt.timedelta(minutes=5)
KEYS_URL = "/backoffice/access/accesssigningkey/"
ROTATE_URL = f"{KEYS_URL}rotate/"


def invite(host, place, moment=NOON):
    from campuscard.access import services

    with frozen_at(moment):
        return services.visitor_pass_create(actor=Actor.system("t"), host=host, visitor_name="王访客", visitor_phone="13800000000",
                                            zones=[place["zones"]["teaching"]], valid_from=NOON,
                                            valid_to=NOON + dt.timedelta(hours=4))


def snapshot(gate, moment=NOON):
    with frozen_at(moment):
        return offline.snapshot_build(device=gate[0])


CLI = Actor.system("t")  # a named component: trusted, no permission needed


def public(institution, *key_ids) -> dict[int, str]:
    rows = AccessSigningKey.objects.filter(institution=institution)
    if key_ids:
        rows = rows.filter(key_id__in=key_ids)
    return dict(rows.values_list("key_id", "public_key"))


def rotate(institution, actor=CLI) -> AccessSigningKey:
    with frozen_at(NOON):
        return keys.signing_key_rotate(actor=actor, institution_id=institution.pk)


def retire(institution, key_id, actor=CLI) -> AccessSigningKey:
    with frozen_at(NOON):
        return keys.signing_key_retire(actor=actor, institution_id=institution.pk, key_id=key_id)


@pytest.fixture
def host(institution):
    return holder(institution, kind=Person.Kind.STAFF)[0]


def test_rotation_makes_a_new_active_key_and_old_passes_keep_verifying(institution, place, gate, host):
    _old_pass, old_code = invite(host, place)
    new_key = rotate(institution)
    assert new_key.key_id == 2 and AccessSigningKey.objects.get(institution=institution, active=True) == new_key
    _new_pass, new_code = invite(host, place)
    assert keys.parse_visitor_code(new_code)[0].key_id == 2
    for code in (old_code, new_code):
        assert decide(gate, "teach-1", AT, visitor_code=code).rule == "admit_visitor"
    snap = snapshot(gate)
    assert snap["key_id"] == 2 and set(snap["visitor_keys"]) == {"1", "2"}
    for code in (old_code, new_code):
        assert offline.decide_offline(snap, zone_code="teach-1", moment=AT, visitor_code=code).rule == "admit_visitor"
    assert AuditLog.objects.filter(action="access_key_rotated").count() == 2  # the first key and the new one


def test_snapshot_after_rotation_verifies_with_only_the_old_or_only_the_new_key(institution, place, gate):
    keys.active_key(institution.pk)
    rotate(institution)
    snap = snapshot(gate)
    assert set(snap["signatures"]) == {"1", "2"} and snap["key_id"] == 2
    # a gate made before rotation existed checks "signature" over everything but "signature"
    legacy = offline.canonical({k: v for k, v in snap.items() if k != "signature"})
    keys.public_key_from_b64(public(institution, 2)[2]).verify(base64.b64decode(snap["signature"]), legacy)
    assert offline.snapshot_verify(snap, public(institution, 1))
    assert offline.snapshot_verify(snap, public(institution, 2))
    assert offline.snapshot_verify(snap, {str(k): v for k, v in public(institution, 1).items()})  # ids as text
    assert not offline.snapshot_verify(snap, {})
    # the signatures cover the body, not each other: a changed body or a moved signature is not genuine
    tampered = {**snap, "campus_entry": [*snap["campus_entry"], 12345]}
    assert not offline.snapshot_verify(tampered, public(institution, 1))
    assert not offline.snapshot_verify(tampered, public(institution, 2))
    swapped = {**snap, "signatures": {"1": snap["signatures"]["2"]}, "key_id": 1, "signature": snap["signatures"]["2"]}
    assert not offline.snapshot_verify(swapped, public(institution, 1))


def test_gates_follow_the_rotation_and_a_gate_that_missed_it_must_be_provisioned_again(institution, place, gate):
    keys.active_key(institution.pk)
    provisioned = public(institution)  # what both gates were set up with: key 1
    synced, missed = dict(provisioned), dict(provisioned)
    assert offline.snapshot_adopt(snapshot(gate), synced) == provisioned
    rotate(institution)
    synced = offline.snapshot_adopt(snapshot(gate), synced)  # synced while key 1 was still unretired
    assert synced == public(institution, 1, 2)
    retire(institution, 1)
    after = snapshot(gate, NOON + dt.timedelta(hours=1))
    assert set(after["signatures"]) == {"2"} and set(after["visitor_keys"]) == {"2"}
    assert offline.snapshot_verify(after, synced)
    assert offline.snapshot_adopt(after, synced) == public(institution, 2)
    assert not offline.snapshot_verify(after, missed)
    assert offline.snapshot_adopt(after, missed) is None  # keeps its keys; re-provisioning is the way back


def test_a_retired_key_s_visitor_codes_are_refused_online_and_offline(institution, place, gate, host):
    _old_pass, old_code = invite(host, place)
    assert decide(gate, "teach-1", AT, visitor_code=old_code).admitted  # its key is now cached in this process
    rotate(institution)
    _new_pass, new_code = invite(host, place)
    before = snapshot(gate)
    retired = retire(institution, 1)
    assert retired.retired_at is not None and not retired.active
    assert AuditLog.objects.filter(action="access_key_retired", object_id=str(retired.pk)).count() == 1
    assert keys.public_key(institution.pk, 1) is None
    assert decide(gate, "teach-1", AT, visitor_code=old_code).rule == "refuse_visitor_forged"
    assert decide(gate, "teach-1", AT, visitor_code=new_code).rule == "admit_visitor"
    # offline: a gate that has not synced yet still admits; from the next snapshot on it refuses
    assert offline.decide_offline(before, zone_code="teach-1", moment=AT, visitor_code=old_code).admitted
    after = snapshot(gate, AT)
    assert offline.decide_offline(after, zone_code="teach-1", moment=AT, visitor_code=old_code).rule == \
        "refuse_visitor_forged"
    assert offline.decide_offline(after, zone_code="teach-1", moment=AT, visitor_code=new_code).rule == \
        "admit_visitor"
    assert retire(institution, 1).retired_at == retired.retired_at  # again: nothing changes
    assert AuditLog.objects.filter(action="access_key_retired").count() == 1


def test_a_key_retired_by_another_process_stops_verifying_within_the_cache_time(institution, place, gate, host,
                                                                                settings):
    _pass, code = invite(host, place)
    assert keys.public_key(institution.pk, 1) is not None
    rotate(institution)
    AccessSigningKey.objects.filter(institution=institution, key_id=1).update(retired_at=NOON)  # elsewhere
    settings.ACCESS_ZONE_CACHE_SECONDS = 30
    assert keys.public_key(institution.pk, 1) is not None  # this process's cache, for at most 30 s
    settings.ACCESS_ZONE_CACHE_SECONDS = 0
    assert keys.public_key(institution.pk, 1) is None
    assert decide(gate, "teach-1", AT, visitor_code=code).rule == "refuse_visitor_forged"


def test_the_active_key_cannot_be_retired_and_nothing_changes(institution, other_institution, make_operator):
    keys.active_key(institution.pk)
    rotate(institution)
    before = list(AccessSigningKey.objects.order_by("pk").values())
    audits = AuditLog.objects.count()
    with pytest.raises(DomainError) as refused:
        retire(institution, 2)
    assert refused.value.code == "access_key_active" and refused.value.status == 409
    with pytest.raises(DomainError) as unknown:
        retire(institution, 9)
    assert unknown.value.code == "access_key_unknown"
    # users need the permission, in their own institution
    for user in (make_operator(institution, "card_center_operator"),
                 make_operator(other_institution, "institution_admin", "other-admin")):
        with pytest.raises(DomainError) as forbidden:
            retire(institution, 1, actor=Actor.by_user(user))
        assert forbidden.value.code == "forbidden"
        with pytest.raises(DomainError):
            rotate(institution, actor=Actor.by_user(user))
    assert list(AccessSigningKey.objects.order_by("pk").values()) == before
    assert AuditLog.objects.count() == audits


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_institution_admin_rotates_and_retires_in_the_back_office(institution, other_institution, make_operator):
    keys.active_key(institution.pk)
    keys.active_key(other_institution.pk)
    admin = make_operator(institution, "institution_admin", "ia")
    client = Client()
    client.force_login(admin)
    page = client.get(KEYS_URL)
    assert page.status_code == 200 and ROTATE_URL in page.content.decode() and 'value="retire"' in page.content.decode()
    assert AccessSigningKey.objects.get(institution=institution, key_id=1).public_key in page.content.decode()
    assert client.get(ROTATE_URL).status_code == 200  # the confirmation page; only a POST rotates
    assert AccessSigningKey.objects.filter(institution=institution).count() == 1
    with frozen_at(NOON):
        done = client.post(ROTATE_URL, follow=True)
    assert done.redirect_chain[-1][0] == KEYS_URL and "2" in _messages(done)
    assert AccessSigningKey.objects.get(institution=institution, active=True).key_id == 2
    assert AccessSigningKey.objects.filter(institution=other_institution).count() == 1  # not theirs
    assert AuditLog.objects.filter(action="access_key_rotated", actor=admin).count() == 1
    old, new = (AccessSigningKey.objects.get(institution=institution, key_id=n) for n in (1, 2))
    with frozen_at(NOON):
        refused = client.post(KEYS_URL, {"action": "retire", "_selected_action": [new.pk]}, follow=True)
    assert "不能停用当前启用的签名密钥" in _messages(refused)  # the domain message, in Chinese by default
    new.refresh_from_db()
    assert new.retired_at is None and new.active
    foreign = AccessSigningKey.objects.get(institution=other_institution)
    with frozen_at(NOON):
        client.post(KEYS_URL, {"action": "retire", "_selected_action": [old.pk, foreign.pk]})
    old.refresh_from_db()
    foreign.refresh_from_db()
    assert old.retired_at is not None and foreign.retired_at is None  # another institution's key is out of reach
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(admin)
    assert csrf.post(ROTATE_URL).status_code == 403  # no CSRF token, no rotation
    assert AccessSigningKey.objects.filter(institution=institution).count() == 2


@pytest.mark.parametrize("role", ["card_center_operator", "auditor"])
def test_other_roles_can_neither_rotate_nor_retire(institution, make_operator, role):
    keys.active_key(institution.pk)
    rotate(institution)
    before = list(AccessSigningKey.objects.order_by("pk").values())
    client = Client()
    client.force_login(make_operator(institution, role))
    assert client.get(ROTATE_URL).status_code == 403
    assert client.post(ROTATE_URL).status_code == 403
    old = AccessSigningKey.objects.get(institution=institution, key_id=1)
    listing = client.get(KEYS_URL)
    if role == "auditor":  # may look, with neither the tool nor the action
        assert listing.status_code == 200
        assert ROTATE_URL not in listing.content.decode() and 'value="retire"' not in listing.content.decode()
    else:
        assert listing.status_code == 403
    client.post(KEYS_URL, {"action": "retire", "_selected_action": [old.pk]})
    assert list(AccessSigningKey.objects.order_by("pk").values()) == before


def test_cli_lists_rotates_and_retires(institution):
    def run(*args) -> str:
        out = io.StringIO()
        call_command("access_keys", *args, stdout=out, stderr=io.StringIO())
        return out.getvalue()

    assert "no keys yet" in run("list", "--institution", "uni")
    with frozen_at(NOON):
        assert "key 1 is now active" in run("rotate", "--institution", "uni")
        assert "key 2 is now active" in run("rotate", "--institution", "uni")
    listing = run("list", "--institution", "uni")
    for key in AccessSigningKey.objects.filter(institution=institution):
        assert key.public_key in listing
    rows = json.loads(run("list", "--institution", "uni", "--json"))
    assert [(r["key_id"], r["active"], r["retired"]) for r in rows] == [(1, False, "-"), (2, True, "-")]
    assert rows[0]["created"].startswith("2026-11-30T12:00:00+08:00")
    with pytest.raises(CommandError) as active:
        run("retire", "--institution", "uni", "--key-id", "2")
    assert str(active.value) == "access_key_active" and active.value.returncode == 2
    with pytest.raises(CommandError):
        run("retire", "--institution", "uni")
    with pytest.raises(CommandError) as unknown:
        run("list", "--institution", "nope")
    assert str(unknown.value) == "institution_unknown"
    with frozen_at(NOON):
        assert "key 1 retired at 2026-11-30T12:00:00+08:00" in run("retire", "--institution", "uni", "--key-id", "1")
    assert AuditLog.objects.filter(action="access_key_retired", actor_label="cli:access_keys").count() == 1


def test_a_platform_admin_picks_the_institution_to_rotate(institution, other_institution, make_operator):
    client = Client()
    client.force_login(make_operator(None, None))
    assert 'name="institution"' in client.get(ROTATE_URL).content.decode()
    assert client.post(ROTATE_URL).status_code == 200  # no institution chosen: the form again
    with frozen_at(NOON):
        assert client.post(ROTATE_URL, {"institution": other_institution.pk}).status_code == 302
    assert list(AccessSigningKey.objects.values_list("institution__code", "key_id")) == [("other", 1)]
