"""The card package (APP-4): the mandatory base, the add-ons chosen and changed later, the lab add-on read
by access exactly as before, the rows moved from access by the data migration; and the one place a
physical card is collected (APP-5) that every message and the kiosk honour."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from campuscard.access import pages
from campuscard.cards import policy, selectors, services
from campuscard.cards.models import PackageAddon, Production
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Area, AuditLog, ServicePoint
from campuscard.identity.services import holder_user_ensure
from campuscard.support.models import Notification
from tests.cards.conftest import make_person

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


def test_the_base_is_fixed_and_the_add_ons_are_the_three_of_the_spec():
    assert policy.BASE_PACKAGE == ("canteen", "library", "door")
    assert policy.ADDONS == ("dorm_electricity", "laundry", "lab")


def test_add_ons_are_set_exactly_changed_later_and_audited_only_on_change(student):
    assert selectors.package_addons(person=student) == frozenset()
    chosen = services.package_addons_set(actor=SYSTEM, person=student, addons=["laundry", "lab"])
    assert chosen == selectors.package_addons(person=student) == {"laundry", "lab"}
    assert services.package_addons_set(actor=SYSTEM, person=student, addons=["lab", "laundry"]) == chosen  # same
    assert AuditLog.objects.filter(action="card_package_changed").count() == 1
    assert services.package_addons_set(actor=SYSTEM, person=student, addons=["dorm_electricity"]) == {"dorm_electricity"}
    last = AuditLog.objects.filter(action="card_package_changed").latest("pk")
    assert last.before == {"addons": ["lab", "laundry"]}
    assert last.after["added"] == ["dorm_electricity"] and last.after["removed"] == ["lab", "laundry"]
    # removed rows stay as history, revoked; one active row per add-on
    assert PackageAddon.objects.filter(person=student).count() == 3
    assert PackageAddon.objects.filter(person=student, revoked_at=None).count() == 1
    assert services.package_addons_set(actor=SYSTEM, person=student, addons=[]) == frozenset()
    assert selectors.package_addons(person=student) == frozenset()


def test_an_unknown_add_on_is_refused_and_nothing_changes(student):
    services.package_addons_set(actor=SYSTEM, person=student, addons=["lab"])
    for bad in (["lab", "swimming"], ["canteen"], ["LAB"]):  # the base is not an add-on; codes are exact
        with pytest.raises(DomainError) as refused:
            services.package_addons_set(actor=SYSTEM, person=student, addons=bad)
        assert refused.value.code == "package_addon_unknown"
    assert selectors.package_addons(person=student) == {"lab"}
    assert services.package_addons_set(actor=SYSTEM, person=student, addons="laundry") == {"laundry"}  # a lone code


def test_the_holder_or_an_operator_of_their_institution_changes_the_package_nobody_else(
        student, institution, other_institution, make_operator):
    me = holder_user_ensure(person=student)
    assert services.package_addons_set(actor=Actor.by_user(me), person=student, addons=["lab"]) == {"lab"}
    other = holder_user_ensure(person=make_person(institution))
    for user in (other, make_operator(other_institution, "card_center_operator", "theirs"),
                 make_operator(institution, "auditor", "aud")):
        with pytest.raises(DomainError) as refused:
            services.package_addons_set(actor=Actor.by_user(user), person=student, addons=[])
        assert refused.value.code == "forbidden"
    assert selectors.package_addons(person=student) == {"lab"}
    ours = make_operator(institution, "card_center_operator", "ours")
    assert services.package_addons_set(actor=Actor.by_user(ours), person=student, addons=[]) == frozenset()


def test_the_lab_add_on_is_what_access_reads(student):
    assert not pages.has_lab_addon(student)
    services.package_addons_set(actor=SYSTEM, person=student, addons=["laundry"])
    assert not pages.has_lab_addon(student)
    services.package_addons_set(actor=SYSTEM, person=student, addons=["laundry", "lab"])
    assert pages.has_lab_addon(student)
    from campuscard.access import services as access

    access.access_addon_revoke(actor=SYSTEM, person=student)  # the old entry point keeps working
    assert not pages.has_lab_addon(student) and selectors.package_addons(person=student) == {"laundry"}


def test_package_api_and_the_lab_addon_alias(client, student):
    user = holder_user_ensure(person=student)
    user.must_change_password = False
    user.save()
    client.force_login(user)
    body = client.get("/api/v1/cards/package").json()
    assert body == {"base": ["canteen", "library", "door"], "addons": [],
                    "available": ["dorm_electricity", "laundry", "lab"]}
    put = client.put("/api/v1/cards/package", {"addons": ["lab", "dorm_electricity"]}, content_type="application/json")
    assert put.status_code == 200 and put.json()["addons"] == ["dorm_electricity", "lab"]
    bad = client.put("/api/v1/cards/package", {"addons": ["pool"]}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["code"] == "package_addon_unknown"
    assert client.delete("/api/v1/access/lab-addon").json() == {"lab": False}
    assert client.get("/api/v1/cards/package").json()["addons"] == ["dorm_electricity"]
    assert client.post("/api/v1/access/lab-addon").json() == {"lab": True}
    assert selectors.package_addons(person=student) == {"dorm_electricity", "lab"}


def test_the_portal_package_page_changes_the_add_ons(client, student):
    user = holder_user_ensure(person=student)
    user.must_change_password = False
    user.save()
    client.force_login(user)
    page = client.get("/cards/package/").content.decode()
    assert 'id="addon-laundry"' in page and 'id="package-save"' in page
    assert client.post("/cards/package/", {"addons": ["laundry", "lab"]}).status_code == 302
    assert selectors.package_addons(person=student) == {"laundry", "lab"}
    assert client.post("/cards/package/", {"addons": ["lab", "bogus"]}).status_code == 302
    assert selectors.package_addons(person=student) == {"laundry", "lab"}  # refused: nothing changed
    assert 'value="laundry" checked' in client.get("/cards/package/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_moves_access_add_ons_into_the_package(institution):
    """Rows of the old ``access.AccessAddon`` (granted and revoked) arrive in ``cards.PackageAddon`` as they were."""
    person = make_person(institution)
    executor = MigrationExecutor(connection)
    before = [("cards", "0003_package_issue_batches"), ("access", "0007_snapshot_serial")]
    executor.migrate(before)
    old = MigrationExecutor(connection).loader.project_state(before).apps
    AccessAddon = old.get_model("access", "AccessAddon")
    from campuscard.core import clock

    now = clock.now()
    AccessAddon.objects.create(person_id=person.pk, addon="lab", granted_at=now, revoked_at=now)
    AccessAddon.objects.create(person_id=person.pk, addon="lab", granted_at=now)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    rows = list(PackageAddon.objects.filter(person=person).order_by("pk").values_list("addon", "revoked_at"))
    assert rows == [("lab", now), ("lab", None)]
    assert pages.has_lab_addon(person)


# --- the one place a physical card is collected (APP-5) -----------------------------------------------

@pytest.fixture
def places(institution, other_institution):
    area = Area.objects.get(campus__institution=institution, code="area1")
    kiosk = ServicePoint.objects.create(area=area, code="k1", kind="kiosk", name="图书馆自助机", location="图书馆一楼")
    window = ServicePoint.objects.create(area=area, code="w22", kind="window", name="卡务中心22号窗口",
                                         location="行政楼一楼")
    desk = ServicePoint.objects.create(area=area, code="d1", kind="desk", name="服务台")
    their_area = Area.objects.create(campus=other_institution.campuses.get(), code="a", name="他区")
    theirs = ServicePoint.objects.create(area=their_area, code="w", kind="window", name="他校窗口")
    return kiosk, window, desk, theirs


def _ready(card):
    production = Production.objects.get(card=card)
    for target in (Production.State.PRINTED, Production.State.AT_KIOSK):
        production = services.production_advance(actor=SYSTEM, production=production, target=target)
    return production


def test_the_collect_place_is_recorded_and_named_in_the_ready_message(student, places, approve_photo):
    kiosk, window, _desk, _theirs = places
    approve_photo(student)
    card = services.card_issue(actor=SYSTEM, person=student, physical=True, collect_point=window)
    production = _ready(card)
    assert (production.collect_point, production.collect_unit) == (window, "")
    note = Notification.objects.filter(person=student, kind="card_ready").latest("pk")
    assert "卡务中心22号窗口" in note.body and "行政楼一楼" in note.body and "窗口" in note.body


def test_a_unit_collect_place_and_the_default_kiosk(student, institution, places, approve_photo):
    kiosk, *_ = places
    approve_photo(student)
    unit_card = services.card_issue(actor=SYSTEM, person=student, physical=True, collect_unit="计算机学院")
    production = _ready(unit_card)
    assert production.collect_point is None and production.collect_unit == "计算机学院"
    assert "计算机学院" in Notification.objects.filter(person=student, kind="card_ready").latest("pk").body
    other = make_person(institution, campus=institution.campuses.get())
    approve_photo(other)
    default = services.card_issue(actor=SYSTEM, person=other, physical=True)
    assert default.production.collect_point == kiosk  # no choice: a kiosk of the holder's campus, as before


def test_a_collect_place_elsewhere_or_not_for_collecting_is_refused(student, places, approve_photo):
    kiosk, window, desk, theirs = places
    approve_photo(student)
    for kwargs in ({"collect_point": desk}, {"collect_point": theirs}, {"collect_point": window, "collect_unit": "x"}):
        with pytest.raises(DomainError) as refused:
            services.card_issue(actor=SYSTEM, person=student, physical=True, **kwargs)
        assert refused.value.code == "collect_place_invalid"
    assert not student.cards.exists()


def test_the_kiosk_hands_out_only_the_cards_waiting_for_it(client, student, institution, places, approve_photo):
    from campuscard.devices.models import Device
    from campuscard.devices.services import device_register
    from campuscard.terminals.kiosk_views import collectable_here

    kiosk, window, *_ = places
    approve_photo(student)
    at_window = _ready(services.card_issue(actor=SYSTEM, person=student, physical=True, collect_point=window))
    device, _secret = device_register(actor=SYSTEM, institution=institution, kind=Device.Kind.KIOSK, code="k1dev",
                                      name="Kiosk", service_point=kiosk)
    assert not collectable_here(at_window, device)
    other_kiosk = ServicePoint.objects.create(area=kiosk.area, code="k2", kind="kiosk", name="二号自助机")
    person = make_person(institution)
    approve_photo(person)
    at_k2 = _ready(services.card_issue(actor=SYSTEM, person=person, physical=True, collect_point=other_kiosk))
    at_k1 = _ready(services.card_issue(actor=SYSTEM, person=_with_photo(institution, approve_photo), physical=True,
                                       collect_point=kiosk))
    assert collectable_here(at_k1, device) and not collectable_here(at_k2, device)
    unbound = Device(kind=Device.Kind.KIOSK, service_point=None)
    # a kiosk not placed at a service point cannot tell where it stands: it hands out no card (#17 item 7)
    assert not collectable_here(at_k2, unbound) and not collectable_here(at_window, unbound)


def _with_photo(institution, approve_photo):
    person = make_person(institution)
    approve_photo(person)
    return person


def test_the_kiosk_page_names_the_place_and_refuses_to_hand_out_a_window_card(client, student, places,
                                                                              approve_photo):
    from django.core.signing import get_cookie_signer

    from campuscard.devices.models import Device
    from campuscard.devices.services import device_register
    from campuscard.terminals.web import COOKIE, SALT
    from tests.conftest import ID_ALICE

    kiosk, window, *_ = places
    approve_photo(student)
    card = services.card_issue(actor=SYSTEM, person=student, physical=True, collect_point=window)
    _ready(card)
    device, _secret = device_register(actor=SYSTEM, institution=student.institution, kind=Device.Kind.KIOSK,
                                      code="kx", name="K", service_point=kiosk)
    client.cookies[COOKIE] = get_cookie_signer(salt=COOKIE + SALT).sign(str(device.pk))
    page = client.post("/devices/kiosk/identify/", {"id_number": ID_ALICE, "query_password": ID_ALICE[-6:]},
                       follow=True).content.decode()
    assert f'id="kiosk-elsewhere-{card.number}"' in page and "卡务中心22号窗口" in page
    assert 'id="kiosk-collect"' not in page
    refused = client.post("/devices/kiosk/action/", {"action": "collect", "card": card.number}, follow=True)
    assert "卡务中心22号窗口" in refused.content.decode()
    assert Production.objects.get(card=card).state == Production.State.AT_KIOSK  # not handed out here
