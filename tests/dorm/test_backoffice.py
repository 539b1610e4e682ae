"""Back office of the dorm services (SVC-5) and its roles: the dormitory electricity operator and the laundry
operator, scoped to their institution; the authorisation matrix (anonymous, wrong role, wrong institution,
right role) with nothing changed when refused (ARCHITECTURE rule 6)."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from campuscard.core import clock
from campuscard.dorm import services
from campuscard.dorm.models import Booking, Machine, Reconciliation, TopUp
from campuscard.identity.roles import ROLE_LABELS, ROLES
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization
from tests.dorm.conftest import ACTOR

pytestmark = pytest.mark.django_db


@pytest.fixture
def operators(institution, other_institution, make_operator):
    return {
        "power": make_operator(institution, "dorm_electricity_operator", "power"),
        "laundry": make_operator(institution, "laundry_operator", "washer"),
        "foreign_power": make_operator(other_institution, "dorm_electricity_operator", "power-2"),
        "foreign_laundry": make_operator(other_institution, "laundry_operator", "washer-2"),
    }


def test_the_roles_are_named_and_grantable(make_operator, institution):
    assert {"dorm_electricity_operator", "laundry_operator"} <= set(ROLES) <= set(ROLE_LABELS)
    admin = make_operator(institution, "institution_admin")
    assert admin.has_perm("identity.change_user")  # the institution admin sets a user's roles on the user page
    assert Group.objects.get(name="laundry_operator").permissions.filter(codename="add_machine").exists()
    assert not Group.objects.get(name="laundry_operator").permissions.filter(codename="change_topup").exists()


def test_reconciliation_run_authorization(institution, operators, resident, room):
    services.topup_buy(actor=ACTOR, person=resident, amount=600, key="z")
    url = reverse("admin:dorm_reconciliation_run")
    day = clock.local_date(institution).isoformat()
    assert_authorization(
        lambda client: client.post(url, {"day": day}),
        anonymous=Expect(ANONYMOUS, 302), wrong_role=Expect(Principal.session(operators["laundry"]), 403),
        # another institution's operator reconciles their own institution, never ours
        wrong_institution=Expect(Principal.session(operators["foreign_power"]), 302),
        allowed=Expect(Principal.session(operators["power"]), 302),
        snapshot=lambda: tuple(Reconciliation.objects.filter(institution=institution).values_list("day", "ok")),
        writes=True)
    result = Reconciliation.objects.get(institution=institution)
    assert not result.ok and result.differences[0]["kind"] == "not_delivered"
    page = _client(operators["power"]).get(reverse("admin:dorm_reconciliation_change", args=[result.pk]))
    assert page.status_code == 200


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_refund_not_delivered_authorization(institution, operators, resident, room):
    top_up = services.topup_buy(actor=ACTOR, person=resident, amount=600, key="z")
    url = reverse("admin:dorm_topup_changelist")
    body = {"action": "refund_not_delivered", "_selected_action": [top_up.pk]}
    assert_authorization(
        lambda client: client.post(url, body),
        anonymous=Expect(ANONYMOUS, 302), wrong_role=Expect(Principal.session(operators["laundry"]), 403),
        wrong_institution=Expect(Principal.session(operators["foreign_power"]), (200, 302)),
        allowed=Expect(Principal.session(operators["power"]), 302),
        snapshot=lambda: tuple(TopUp.objects.values_list("pk", "state")), writes=True)
    assert TopUp.objects.get().state == "refunded"


def test_machine_add_authorization(institution, operators, dorm):
    url = reverse("admin:dorm_machine_add")
    body = {"dorm": dorm.pk, "code": "w9", "name": "9号洗衣机", "kind": "washer", "price": 300, "slot_minutes": 45,
            "active": "on"}
    assert_authorization(
        lambda client: client.post(url, body),
        anonymous=Expect(ANONYMOUS, 302), wrong_role=Expect(Principal.session(operators["power"]), 403),
        # another institution's building is not among their choices: the form is refused
        wrong_institution=Expect(Principal.session(operators["foreign_laundry"]), 200),
        allowed=Expect(Principal.session(operators["laundry"]), 302),
        snapshot=lambda: tuple(Machine.objects.values_list("code", "institution")), writes=True)
    assert Machine.objects.get(code="w9").institution_id == institution.pk


def test_bookings_list_authorization(institution, operators, resident, machine):
    start = (clock.institution_now(institution) + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    services.laundry_book(actor=ACTOR, person=resident, machine=machine, starts_at=start, key="k")
    url = reverse("admin:dorm_booking_changelist")

    def lists_it(response):
        assert resident.number in response.content.decode()

    def lists_none(response):
        assert resident.number not in response.content.decode()

    assert_authorization(
        lambda client: client.get(url),
        anonymous=Expect(ANONYMOUS, 302), wrong_role=Expect(Principal.session(operators["power"]), 403),
        wrong_institution=Expect(Principal.session(operators["foreign_laundry"]), 200, lists_none),
        allowed=Expect(Principal.session(operators["laundry"]), 200, lists_it),
        snapshot=lambda: tuple(Booking.objects.values_list("pk", "state")))


def test_meter_system_registration_shows_the_secret_once(institution, make_operator):
    admin = make_operator(institution, "institution_admin")
    client = _client(admin)
    response = client.post(reverse("admin:dorm_metersystem_register"), {"code": "meters", "name": "Meter system"},
                           follow=True)
    from campuscard.dorm.models import MeterSystem
    device = MeterSystem.objects.get().device
    assert device.code == "meters" and device.kind == services.METER_DEVICE_KIND
    assert response.status_code == 200 and any(device.secret in str(m) for m in response.context["messages"])
    changelist = client.get(reverse("admin:dorm_metersystem_changelist"))
    assert changelist.status_code == 200


def test_rooms_and_reconciliations_pages_render(institution, operators, room):
    client = _client(operators["power"])
    for name in ("admin:dorm_room_changelist", "admin:dorm_reconciliation_changelist", "admin:dorm_topup_changelist"):
        assert client.get(reverse(name)).status_code == 200
    assert client.get(reverse("admin:dorm_room_change", args=[room.pk])).status_code == 200


def test_an_operator_linked_to_buildings_sees_only_theirs(institution, operators, resident, machine, dorm):
    from campuscard.core.models import Area, Building
    from campuscard.dorm.models import DormStaff
    from campuscard.payments import pos

    other_building = Building.objects.create(area=Area.objects.get(campus__institution=institution), code="d2",
                                             name="2号宿舍楼", kind=Building.Kind.DORMITORY)
    other = services.dorm_building_open(
        actor=ACTOR, building=other_building, electricity_merchant=dorm.electricity_merchant,
        laundry_merchant=pos.merchant_open(actor=ACTOR, institution=institution, code="l2", name="2号楼洗衣房",
                                           category="laundry"))
    start = (clock.institution_now(institution) + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    services.laundry_book(actor=ACTOR, person=resident, machine=machine, starts_at=start, key="k")
    client = _client(operators["laundry"])
    url = reverse("admin:dorm_booking_changelist")
    assert resident.number in client.get(url).content.decode()  # no link: the whole institution
    DormStaff.objects.create(user=operators["laundry"]).dorms.add(other)
    assert resident.number not in client.get(url).content.decode()  # linked to building 2 only
    page = client.get(reverse("admin:dorm_machine_add"))
    assert [d.pk for d in page.context["adminform"].form.fields["dorm"].queryset] == [other.pk]
    refused = client.post(reverse("admin:dorm_machine_add"), {"dorm": dorm.pk, "code": "w5", "name": "x",
                                                             "kind": "washer", "price": 300, "slot_minutes": 60})
    assert refused.status_code == 200 and not Machine.objects.filter(code="w5").exists()
