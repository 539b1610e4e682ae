"""The access pages through Django's test client: portal (campus entry, lab permits, visitor passes, my
entries), the browser gate page, and the back office (permit approval, entries by hour, security search)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client

from campuscard.access import keys, pages, services
from campuscard.access.models import AccessEvent, CampusEntryApproval, LabPermit, VisitorPass
from campuscard.cards.models import PackageAddon
from campuscard.cards.services import card_report_lost
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.core.privacy import mask_name
from campuscard.identity.services import holder_user_ensure
from tests.access.conftest import MONDAY, NOON, holder, local

pytestmark = pytest.mark.django_db


def portal_client(person) -> Client:
    user = holder_user_ensure(person=person)
    user.must_change_password = False
    user.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def me(institution, place):
    person, card, uid = holder(institution)
    return person, card, uid, portal_client(person)


def test_campus_entry_status_and_apply(me):
    person, _card, _uid, client = me
    with frozen_at(NOON):
        page = client.get("/access/")
        assert page.status_code == 200 and 'id="campus-entry-apply"' in page.content.decode()
        assert client.post("/access/campus-entry/", {"reason": "走读"}).status_code == 302
        page = client.get("/access/").content.decode()
    approval = CampusEntryApproval.objects.get(person=person)
    assert approval.state == "requested" and approval.reason == "走读"
    assert 'data-state="requested"' in page and 'id="campus-entry-apply"' not in page
    with frozen_at(NOON):  # a second application is refused with the service's message
        response = client.post("/access/campus-entry/", follow=True)
    assert "已有" in response.content.decode() or "already" in response.content.decode()


def test_home_has_an_access_tile(me):
    assert 'id="tile-access"' in me[3].get("/").content.decode()


def test_lab_permit_refused_without_the_add_on_then_requested_with_it(me, place):
    person, _card, _uid, client = me
    lab = place["zones"]["lab"]
    form = {"zone": lab.pk, "valid_from": "2026-12-01", "valid_to": "2027-01-31", "purpose": "有机化学实验",
            "weekday_0": "1", "start_0": "14:00", "end_0": "17:00",
            "date_1": "2026-12-05", "start_1": "09:00", "end_1": "12:00"}
    with frozen_at(NOON):
        page = client.get("/access/permits/").content.decode()
        assert 'id="no-lab-addon"' in page and lab.name in page
        refused = client.post("/access/permits/", form)
    assert refused.status_code == 409 and 'data-code="lab_addon_required"' in refused.content.decode()
    assert not LabPermit.objects.exists()
    with frozen_at(NOON):  # the holder adds the optional add-on to their package themselves (APP-4)
        added = client.post("/access/lab-addon/", {"on": "1", "next": "permits"})
        assert added.status_code == 302 and added["Location"] == "/access/permits/"
        assert 'id="no-lab-addon"' not in client.get("/access/permits/").content.decode()
        assert client.post("/access/permits/", form).status_code == 302
        page = client.get("/access/permits/").content.decode()
    permit = LabPermit.objects.get(person=person)
    assert permit.weekly_slots == [{"weekday": 1, "start": "14:00", "end": "17:00"}]
    assert permit.dated_slots == [{"date": "2026-12-05", "start": "09:00", "end": "12:00"}]
    assert permit.state == "requested" and permit.purpose == "有机化学实验"
    assert f'id="permit-{permit.pk}"' in page and 'data-state="requested"' in page


@pytest.mark.parametrize(("rows", "code"), [
    ({"start_0": "14:00", "end_0": "17:00"}, "lab_slots_invalid"),  # neither weekday nor date
    ({"weekday_0": "2", "start_0": "17:00", "end_0": "14:00"}, "lab_slots_invalid"),  # ends before it starts
    ({}, "lab_slots_invalid"),  # no slot at all
])
def test_lab_permit_form_shows_the_refusal_and_keeps_the_rows(me, place, rows, code):
    person, _card, _uid, client = me
    services.access_addon_grant(actor=Actor.system("t"), person=person)
    form = {"zone": place["zones"]["lab"].pk, "valid_from": "2026-12-01", "valid_to": "2027-01-31", **rows}
    with frozen_at(NOON):
        response = client.post("/access/permits/", form)
    assert response.status_code == 422 and f'data-code="{code}"' in response.content.decode()
    for value in rows.values():
        assert f'value="{value}"' in response.content.decode() or value == "2"
    assert not LabPermit.objects.exists()


def test_visitor_pass_created_shown_as_a_verifiable_code_and_revoked(me, place, institution):
    person, _card, _uid, client = me
    zones = [place["zones"]["gate"], place["zones"]["teaching"]]
    form = {"visitor_name": "王访客", "visitor_phone": "13800000000", "valid_from": "2026-11-30T14:00",
            "valid_to": "2026-11-30T18:00", "zones": [z.pk for z in zones]}
    with frozen_at(NOON):
        page = client.get("/access/visitors/").content.decode()
        assert place["zones"]["lab"].name not in page  # labs are not open to visitors
        response = client.post("/access/visitors/", form)
    visitor_pass = VisitorPass.objects.get(host=person)
    assert response.status_code == 302 and response["Location"] == f"/access/visitors/{visitor_pass.pk}/"
    assert visitor_pass.valid_from == local(2026, 11, 30, 14, 0) and visitor_pass.valid_to == local(2026, 11, 30, 18, 0)
    with frozen_at(NOON):
        page = client.get(f"/access/visitors/{visitor_pass.pk}/").content.decode()
    assert 'id="visitor-qr"' in page and "<svg" in page and 'data-status="upcoming"' in page
    claims = keys.verify_visitor_code(services.visitor_code(visitor_pass=visitor_pass),
                                      lambda key_id: keys.public_key(institution.pk, key_id))
    assert claims.pass_id == visitor_pass.pk and set(claims.zone_ids) == {z.pk for z in zones}
    with frozen_at(NOON):
        assert client.post(f"/access/visitors/{visitor_pass.pk}/revoke/").status_code == 302
        page = client.get(f"/access/visitors/{visitor_pass.pk}/").content.decode()
    assert VisitorPass.objects.get(pk=visitor_pass.pk).revoked_at is not None
    assert 'id="visitor-qr"' not in page and 'data-status="revoked"' in page


@pytest.mark.parametrize(("start", "end", "code"), [
    ("2026-11-30T18:01", "2026-11-30T20:00", "visitor_too_far_ahead"),  # 6 h 1 min ahead
    ("2026-11-30T11:00", "2026-11-30T13:00", "visitor_in_past"),
    ("2026-11-30T14:00", "2026-11-30T13:00", "visitor_window_invalid"),
    ("yesterday", "2026-11-30T13:00", "visitor_window_invalid"),
])
def test_visitor_form_shows_the_refusal(me, place, start, end, code):
    _person, _card, _uid, client = me
    form = {"visitor_name": "王访客", "visitor_phone": "13800000000", "valid_from": start, "valid_to": end,
            "zones": [place["zones"]["teaching"].pk]}
    with frozen_at(NOON):
        response = client.post("/access/visitors/", form)
    assert response.status_code == 422 and f'data-code="{code}"' in response.content.decode()
    assert 'value="王访客"' in response.content.decode()
    assert not VisitorPass.objects.exists()


def test_six_hours_ahead_exactly_is_allowed(me, place):
    _person, _card, _uid, client = me
    form = {"visitor_name": "王访客", "visitor_phone": "13800000000", "valid_from": "2026-11-30T18:00",
            "valid_to": "2026-11-30T20:00", "zones": [place["zones"]["teaching"].pk]}
    with frozen_at(NOON):
        assert client.post("/access/visitors/", form).status_code == 302


def test_other_holders_passes_are_not_found(me, institution, place):
    other, _card, _uid = holder(institution)
    with frozen_at(NOON):
        visitor_pass, _code = services.visitor_pass_create(
            actor=Actor.system("t"), host=other, visitor_name="x", visitor_phone="13800000000", zones=[place["zones"]["teaching"]],
            valid_from=NOON + dt.timedelta(hours=1), valid_to=NOON + dt.timedelta(hours=2))
        assert me[3].get(f"/access/visitors/{visitor_pass.pk}/").status_code == 404
        assert me[3].post(f"/access/visitors/{visitor_pass.pk}/revoke/").status_code == 404
    assert VisitorPass.objects.get(pk=visitor_pass.pk).revoked_at is None


def test_my_entries_show_zone_time_result_and_message(me, gate):
    person, _card, uid, client = me
    with frozen_at(NOON):
        services.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid=uid)
        services.gate_decide(device=gate[0], zone_code="lab-1", nfc_uid=uid)
        page = client.get("/access/log/").content.decode()
    assert 'data-rule="admit_teaching"' in page and 'data-rule="refuse_lab_no_addon"' in page
    assert "第一教学楼" in page and "11-30 12:00" in page
    client.post("/language/", {"language": "en"})
    with frozen_at(NOON):
        page = client.get("/access/").content.decode()
    assert "Laboratory access needs the lab add-on of your card package." in page


# --- the browser gate page -------------------------------------------------------------------------

def gate_client(gate) -> Client:
    device, secret = gate
    client = Client()
    assert client.get("/devices/gate/")["Location"] == "/devices/enrol/gate/"
    assert client.post("/devices/enrol/gate/", {"code": device.code, "secret": "wrong"}).status_code == 200
    response = client.post("/devices/enrol/gate/", {"code": device.code, "secret": secret})
    assert response["Location"] == "/devices/gate/"
    return client


def test_gate_page_admits_and_refuses_at_once_with_the_reason(institution, place, gate):
    client = gate_client(gate)
    person, card, uid = holder(institution)
    page = client.get("/devices/gate/?zone=teach-1").content.decode()
    assert 'id="gate-input"' in page and 'value="teach-1" selected' in page
    with frozen_at(NOON):
        admit = client.post("/devices/gate/decide/", {"zone": "teach-1", "credential": uid}, headers={"HX-Request": "true"})
    body = admit.content.decode()
    assert admit.status_code == 200 and 'data-outcome="admit"' in body and 'data-rule="admit_teaching"' in body
    # passers-by see the turnstile's screen: the holder's name and number masked
    assert 'hx-swap-oob="true"' in body and mask_name(person.name) in body and person.name not in body
    card_report_lost(actor=Actor.system("t"), card=card, channel="portal")
    with frozen_at(NOON):
        refuse = client.post("/devices/gate/decide/", {"zone": "teach-1", "credential": uid},
                             headers={"HX-Request": "true"}).content.decode()
    assert 'data-outcome="refuse"' in refuse and "挂失" in refuse
    client.post("/language/", {"language": "en", "next": "/devices/gate/"})
    with frozen_at(NOON):
        refuse = client.post("/devices/gate/decide/", {"zone": "teach-1", "credential": uid},
                             headers={"HX-Request": "true"}).content.decode()
    assert "This card has been reported lost." in refuse and "REFUSE" in refuse
    assert list(AccessEvent.objects.order_by("id").values_list("rule", flat=True)) == [
        "admit_teaching", "refuse_card_lost", "refuse_card_lost"]


def test_gate_page_reads_visitor_codes_and_dynamic_codes(institution, place, gate):
    client = gate_client(gate)
    host, _card, _uid = holder(institution)
    with frozen_at(NOON):
        _pass, code = services.visitor_pass_create(
            actor=Actor.system("t"), host=host, visitor_name="王访客", visitor_phone="13800000000", zones=[place["zones"]["teaching"]],
            valid_from=NOON, valid_to=NOON + dt.timedelta(hours=2))
        ok = client.post("/devices/gate/decide/", {"zone": "teach-1", "credential": code}, headers={"HX-Request": "true"})
        wrong = client.post("/devices/gate/decide/", {"zone": "library", "credential": code},
                            headers={"HX-Request": "true"})
        bad = client.post("/devices/gate/decide/", {"zone": "teach-1", "credential": "CC1.garbage.123456"},
                          headers={"HX-Request": "true"})
        empty = client.post("/devices/gate/decide/", {"zone": "teach-1", "credential": " "},
                            headers={"HX-Request": "true"})
    assert 'data-rule="admit_visitor"' in ok.content.decode() and "王**" in ok.content.decode()
    assert 'data-rule="refuse_visitor_wrong_zone"' in wrong.content.decode()
    assert 'data-outcome="refuse"' in bad.content.decode()
    assert 'data-rule="credential_missing"' in empty.content.decode()
    # without htmx the whole page comes back with the verdict in it
    with frozen_at(NOON):
        page = client.post("/devices/gate/decide/", {"zone": "teach-1", "credential": code}).content.decode()
    assert 'id="gate-input"' in page and 'data-rule="admit_visitor"' in page


def test_gate_page_needs_a_gate_device(institution, place):
    from campuscard.devices.models import Device
    from campuscard.devices.services import device_register

    kiosk, secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.KIOSK, code="k1", name="K")
    client = Client()
    client.post("/devices/enrol/kiosk/", {"code": kiosk.code, "secret": secret})
    assert client.get("/devices/gate/")["Location"] == "/devices/enrol/gate/"
    assert client.post("/devices/enrol/gate/", {"code": kiosk.code, "secret": secret}).status_code == 200


# --- the back office -------------------------------------------------------------------------------

@pytest.fixture
def permits(institution, place):
    """Two labs: one managed by ``lab-boss``, one with no named managers; a permit request for each."""
    from campuscard.access.models import Zone

    lab1 = place["zones"]["lab"]
    lab2 = Zone.objects.create(institution=institution, campus=place["campus"], code="lab-2", name="物理实验室",
                               level=Zone.Level.LABORATORY)
    person, _card, _uid = holder(institution)
    services.access_addon_grant(actor=Actor.system("t"), person=person)
    slot = [{"weekday": 0, "start": "14:00", "end": "17:00"}]
    with frozen_at(NOON):
        one = services.lab_permit_apply(actor=Actor.system("t"), person=person, zone=lab1, valid_from=MONDAY,
                                        valid_to=MONDAY + dt.timedelta(days=60), weekly_slots=slot)
        two = services.lab_permit_apply(actor=Actor.system("t"), person=person, zone=lab2, valid_from=MONDAY,
                                        valid_to=MONDAY + dt.timedelta(days=60), weekly_slots=slot)
    return lab1, lab2, one, two


def test_zone_manager_sees_own_and_unmanaged_zones_permits_and_approves(make_operator, institution, permits):
    lab1, lab2, one, two = permits
    boss = make_operator(institution, "zone_manager", "lab-boss")
    other = make_operator(institution, "zone_manager", "other-boss")
    lab1.managers.add(boss)
    client = Client()
    client.force_login(boss)
    listing = client.get("/backoffice/access/labpermit/").content.decode()
    assert f'value="{one.pk}"' in listing and f'value="{two.pk}"' in listing
    client.force_login(other)
    listing = client.get("/backoffice/access/labpermit/").content.decode()
    assert f'value="{one.pk}"' not in listing and f'value="{two.pk}"' in listing
    assert client.get(f"/backoffice/access/labpermit/{one.pk}/change/").status_code in (302, 404)
    client.force_login(boss)
    with frozen_at(NOON):
        client.post("/backoffice/access/labpermit/", {"action": "approve", "_selected_action": [one.pk]})
    one.refresh_from_db()
    assert one.state == "approved" and one.decided_by == boss
    with frozen_at(NOON):  # withdrawn later: revoked, and a pending one cannot be "revoked"
        client.post("/backoffice/access/labpermit/", {"action": "revoke", "_selected_action": [one.pk, two.pk]})
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.state == "revoked" and two.state == "requested"


def test_holder_removes_the_lab_add_on_and_the_lab_refuses_again(me, place, gate):
    person, _card, uid, client = me
    with frozen_at(NOON):
        client.post("/access/lab-addon/", {"on": "1"})
        assert 'id="lab-addon-remove"' in client.get("/access/").content.decode()
        assert client.post("/access/lab-addon/", {}).status_code == 302
        page = client.get("/access/").content.decode()
        decision = services.gate_decide(device=gate[0], zone_code="lab-1", nfc_uid=uid).decision
    assert 'id="lab-addon-add"' in page and decision.rule == "refuse_lab_no_addon"
    assert not pages.has_lab_addon(person)
    assert AuditLog.objects.filter(action="card_package_changed", after__removed=["lab"]).count() == 1


def test_card_center_grants_and_revokes_the_lab_add_on_in_the_back_office(make_operator, institution,
                                                                           other_institution):
    person, _card, _uid = holder(institution)
    stranger, _card, _uid = holder(other_institution)
    client = Client()
    client.force_login(make_operator(institution, "card_center_operator"))
    with frozen_at(NOON):
        assert client.get("/backoffice/cards/packageaddon/add/").status_code == 200
        added = client.post("/backoffice/cards/packageaddon/add/", {"person": person.pk, "addon": "lab"})
        assert added.status_code == 302 and pages.has_lab_addon(person)
        again = client.post("/backoffice/cards/packageaddon/add/", {"person": person.pk, "addon": "lab"})
        assert again.status_code == 302  # granted already: still one active add-on
        foreign = client.post("/backoffice/cards/packageaddon/add/", {"person": stranger.pk, "addon": "lab"})
        assert foreign.status_code == 200 and not pages.has_lab_addon(stranger)  # not one of ours: a form error
        grant = PackageAddon.objects.get(person=person)
        client.post("/backoffice/cards/packageaddon/", {"action": "revoke", "_selected_action": [grant.pk]})
    assert not pages.has_lab_addon(person) and PackageAddon.objects.filter(person=person).count() == 1
    client.force_login(make_operator(institution, "zone_manager", "zm"))  # zone managers only look
    assert client.get("/backoffice/cards/packageaddon/add/").status_code == 403


def test_holder_is_notified_of_decisions_in_their_language(make_operator, institution, permits):
    from campuscard.support.models import Notification

    lab1, _lab2, one, two = permits
    operator = make_operator(institution, "zone_manager", "lab-boss")
    with frozen_at(NOON):
        services.lab_permit_decide(actor=Actor.by_user(operator), permit=one, approve=True)
        services.lab_permit_decide(actor=Actor.by_user(operator), permit=two, approve=False, note="请先完成安全培训")
        approval = services.campus_entry_apply(actor=Actor.system("t"), person=one.person)
        services.campus_entry_decide(actor=Actor.by_user(make_operator(institution, "card_center_operator")), approval=approval,
                                     approve=True)
    titles = list(Notification.objects.filter(person=one.person).order_by("id").values_list("title", "body"))
    assert titles[0][0] == "已批准：实验室许可" and titles[1][0] == "未批准：实验室许可"
    assert "请先完成安全培训" in titles[1][1] and titles[2][0] == "已批准：入校权限"


def test_campus_entry_revoked_in_the_back_office_and_the_gate_refuses(make_operator, institution, me, gate):
    person, _card, uid, client = me
    operator = make_operator(institution, "card_center_operator")
    desk = Client()
    desk.force_login(operator)
    with frozen_at(NOON):
        approval = services.campus_entry_apply(actor=Actor.system("t"), person=person)
        services.campus_entry_decide(actor=Actor.by_user(operator), approval=approval, approve=True)
        assert services.gate_decide(device=gate[0], zone_code="south-gate", nfc_uid=uid).decision.admitted
        desk.post("/backoffice/access/campusentryapproval/", {"action": "revoke", "_selected_action": [approval.pk]})
        decision = services.gate_decide(device=gate[0], zone_code="south-gate", nfc_uid=uid).decision
        page = client.get("/access/").content.decode()
    approval.refresh_from_db()
    assert approval.state == "revoked" and decision.rule == "refuse_no_campus_entry"
    from campuscard.support.models import Notification

    assert Notification.objects.filter(person=person).order_by("-id").values_list("title", flat=True)[0] == \
        "已撤销：入校权限"
    assert 'data-state="revoked"' in page and 'id="campus-entry-apply"' in page  # may apply again
    with pytest.raises(DomainError) as refused:
        services.campus_entry_revoke(actor=Actor.by_user(operator), approval=approval)
    assert refused.value.code == "campus_entry_not_approved"


def test_zone_manager_cannot_name_the_zone_s_managers(make_operator, institution, place):
    lab = place["zones"]["lab"]
    client = Client()
    client.force_login(make_operator(institution, "zone_manager", "zm"))
    page = client.get(f"/backoffice/access/zone/{lab.pk}/change/")
    assert page.status_code == 200 and 'name="managers"' not in page.content.decode()
    client.force_login(make_operator(institution, "institution_admin", "ia"))
    assert 'name="managers"' in client.get(f"/backoffice/access/zone/{lab.pk}/change/").content.decode()


def test_holidays_for_many_zones_at_once_and_the_gate_applies_them(make_operator, institution, place, gate):
    from campuscard.access.models import ZoneException

    teach, library = place["zones"]["teaching"], place["zones"]["library"]
    client = Client()
    client.force_login(make_operator(institution, "zone_manager", "zm"))
    picked = client.post("/backoffice/access/zone/", {"action": "set_exceptions",
                                                      "_selected_action": [teach.pk, library.pk]})
    assert picked.status_code == 302 and sorted(picked["Location"].split("zones=")[1].split(",")) == sorted(
        [str(teach.pk), str(library.pk)])
    form = client.get(picked["Location"])
    assert form.status_code == 200 and f'value="{teach.pk}"' in form.content.decode()
    # National Day week 2026: only the public holidays of the institution's country (CN) in the period
    done = client.post("/backoffice/access/zone/exceptions/", {
        "zones": [teach.pk, library.pk], "first": "2026-09-28", "last": "2026-10-09", "holidays_only": "on",
        "closed": "on", "note": "国庆"})
    assert done.status_code == 302
    days = sorted({e.date for e in ZoneException.objects.filter(zone=teach)})
    assert days[0] == dt.date(2026, 10, 1) and dt.date(2026, 9, 30) not in days and len(days) >= 3
    assert ZoneException.objects.filter(zone=library).count() == len(days)
    _person, _card, uid = holder(institution)
    with frozen_at(local(2026, 10, 1, 10, 0)):
        assert services.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid=uid).decision.rule == \
            "refuse_zone_closed"
    # special hours on a chosen day replace the closure; hours that end before they start change nothing
    bad = client.post("/backoffice/access/zone/exceptions/", {
        "zones": [teach.pk], "first": "2026-10-01", "last": "2026-10-01", "open_from": "12:00", "open_to": "08:00"})
    assert bad.status_code == 200 and ZoneException.objects.get(zone=teach, date="2026-10-01").closed
    client.post("/backoffice/access/zone/exceptions/", {
        "zones": [teach.pk], "first": "2026-10-01", "last": "2026-10-01", "open_from": "08:00", "open_to": "12:00"})
    with frozen_at(local(2026, 10, 1, 10, 0)):
        assert services.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid=uid).decision.rule == "admit_teaching"
    # an auditor looks but does not set hours
    client.force_login(make_operator(institution, "auditor", "aud"))
    assert client.get("/backoffice/access/zone/exceptions/").status_code == 403


def test_zone_managers_set_hours_only_for_their_zones(make_operator, institution, other_institution, place, gate):
    from campuscard.access.models import ZoneException

    lab, teach = place["zones"]["lab"], place["zones"]["teaching"]
    boss, other = make_operator(institution, "zone_manager", "lab-boss"), make_operator(institution, "zone_manager", "zm2")
    lab.managers.add(boss)
    client = Client()
    client.force_login(other)
    form = client.get(f"/backoffice/access/zone/exceptions/?zones={lab.pk},{teach.pk}").content.decode()
    assert f'value="{teach.pk}"' in form and f'value="{lab.pk}"' not in form  # not theirs: not offered
    assert client.get(f"/backoffice/access/zone/{lab.pk}/change/").status_code in (302, 404)  # nor editable
    with pytest.raises(DomainError) as refused:  # and the service refuses it whoever calls
        services.zone_exceptions_set(actor=Actor.by_user(other), zones=[lab, teach], days=[MONDAY], closed=True)
    assert refused.value.code == "forbidden" and not ZoneException.objects.exists()
    long = client.post("/backoffice/access/zone/exceptions/", {"zones": [teach.pk], "first": "2026-01-01",
                                                               "last": "2027-01-02", "closed": "on"})
    assert long.status_code == 200 and not ZoneException.objects.exists()  # more than a year: the form says so
    client.force_login(make_operator(other_institution, "zone_manager", "elsewhere"))
    with pytest.raises(DomainError):
        services.zone_exceptions_set(actor=Actor.by_user(make_operator(other_institution, "zone_manager", "x2")), zones=[teach],
                                     days=[MONDAY], closed=True)
    # an institution administrator sets them anywhere in the institution, and picks gates of their own only
    admin_client = Client()
    admin_client.force_login(make_operator(institution, "institution_admin", "ia"))
    assert services.zone_exceptions_set(actor=Actor.by_user(make_operator(institution, "institution_admin", "ia2")), zones=[lab],
                                        days=[MONDAY], closed=True) == 1
    from campuscard.devices.models import Device
    from campuscard.devices.services import device_register

    foreign, _secret = device_register(actor=Actor.system("t"), institution=other_institution, kind=Device.Kind.GATE,
                                       code="their-gate", name="Their turnstile")
    fields = admin_client.get(f"/backoffice/access/zone/{lab.pk}/change/").context["adminform"].form.fields
    assert foreign not in fields["gates"].queryset and fields["gates"].queryset.exists()
    assert not fields["managers"].queryset.filter(username="elsewhere").exists()
    assert fields["managers"].queryset.filter(username="lab-boss").exists()


def test_nobody_else_grants_a_holder_s_add_on(make_operator, institution, other_institution):
    person, _card, _uid = holder(institution)
    for actor in (make_operator(other_institution, "card_center_operator", "theirs"),
                  make_operator(institution, "auditor", "aud")):
        with pytest.raises(DomainError):
            services.access_addon_grant(actor=Actor.by_user(actor), person=person)
    assert not pages.has_lab_addon(person)
    services.access_addon_grant(actor=Actor.by_user(make_operator(institution, "card_center_operator")), person=person)
    assert pages.has_lab_addon(person)


def test_entries_by_hour_chart_for_a_zone(make_operator, institution, place, gate):
    person, card, uid = holder(institution)
    for hour, minute in [(8, 0), (8, 30), (12, 0), (23, 59)]:
        with frozen_at(local(2026, 11, 30, hour, minute)):
            services.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid=uid)
    with frozen_at(local(2026, 12, 1, 0, 1)):  # the next local day
        services.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid=uid)
    with frozen_at(local(2026, 11, 30, 8, 10)):
        services.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid="DEADBEEF")
    client = Client()
    client.force_login(make_operator(institution, "zone_manager"))
    zone = place["zones"]["teaching"]
    assert f"/backoffice/access/zone/{zone.pk}/entries/" in client.get("/backoffice/access/zone/").content.decode()
    page = client.get(f"/backoffice/access/zone/{zone.pk}/entries/?day=2026-11-30")
    assert page.status_code == 200
    chart = page.context["chart"]
    import json

    data = json.loads(chart)
    admitted, refused = data["datasets"][0]["data"], data["datasets"][1]["data"]
    assert admitted[8] == 2 and admitted[12] == 1 and admitted[23] == 1 and admitted[0] == 0 and sum(admitted) == 4
    assert refused[8] == 1 and sum(refused) == 1
    assert page.context["busiest"] == "08:00"
    with frozen_at(local(2026, 12, 1, 9, 0)):  # no day: today
        today = client.get(f"/backoffice/access/zone/{zone.pk}/entries/")
    assert json.loads(today.context["chart"])["datasets"][0]["data"][0] == 1


def test_security_search_by_person_zone_and_time_with_csv(make_operator, institution, other_institution, place, gate):
    alice, _card, alice_uid = holder(institution)
    bob, _card, bob_uid = holder(institution)
    with frozen_at(local(2026, 11, 30, 9, 0)):
        services.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid=alice_uid)
        services.gate_decide(device=gate[0], zone_code="lab-1", nfc_uid=alice_uid)
        services.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid=bob_uid)
    with frozen_at(local(2026, 12, 2, 9, 0)):
        services.gate_decide(device=gate[0], zone_code="teach-1", nfc_uid=alice_uid)
    client = Client()
    client.force_login(make_operator(institution, "auditor"))
    assert client.get("/backoffice/access/accessevent/search/").status_code == 200
    empty = client.get("/backoffice/access/accessevent/search/?number=")
    assert 'id="search-errors"' in empty.content.decode()
    page = client.get("/backoffice/access/accessevent/search/",
                      {"number": alice.number, "start": "2026-11-30", "end": "2026-11-30"})
    assert [r.event.rule for r in page.context["results"]] == ["refuse_lab_no_addon", "admit_teaching"]
    # times of day in the institution's zone: 09:00 is inside 08:30–09:00 (inclusive) and outside 09:01–10:00
    window = {"number": alice.number, "start": "2026-11-30", "start_time": "08:30", "end": "2026-11-30"}
    assert client.get("/backoffice/access/accessevent/search/", {**window, "end_time": "09:00"}).context["total"] == 2
    assert client.get("/backoffice/access/accessevent/search/",
                      {**window, "start_time": "09:01", "end_time": "10:00"}).context["total"] == 0
    refused = client.get("/backoffice/access/accessevent/search/", {"number": alice.number, "start_time": "09:00"})
    assert refused.context.get("results") is None and 'id="search-errors"' in refused.content.decode()
    page = client.get("/backoffice/access/accessevent/search/", {"zone": place["zones"]["teaching"].pk})
    assert page.context["total"] == 3
    csv_text = client.get(page.context["csv_url"]).content.decode("utf-8-sig")
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("decided_at,zone,person_number") and len(lines) == 4
    assert "2026-11-30T09:00:00+08:00,teach-1" in csv_text and bob.number in csv_text
    # another institution's security staff see nothing of ours
    client.force_login(make_operator(other_institution, "auditor", "other-auditor"))
    page = client.get("/backoffice/access/accessevent/search/", {"number": alice.number})
    assert page.context["total"] == 0
    assert client.get("/backoffice/access/accessevent/search/csv/").status_code == 400
    # holders and anonymous users get no back office
    assert Client().get("/backoffice/access/accessevent/search/").status_code == 302


def test_settings_default_ahead_is_shown(me):
    with frozen_at(NOON):
        page = me[3].get("/access/visitors/").content.decode()
    assert str(getattr(settings, "VISITOR_PASS_MAX_AHEAD_HOURS", 6)) in page
