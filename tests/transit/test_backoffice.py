"""The back office for buses: the clearing page (reconciled, downloads, the chart), scoped to a bus
operator's own operator; disputes: the operator adds evidence, the Card Center decides."""

import pytest
from django.test import Client

from campuscard.ledger.checks import ledger_check
from campuscard.transit import services
from campuscard.transit.models import OperatorStaff, Tap, Validator
from tests.transit.conftest import SYSTEM, available, taps

pytestmark = pytest.mark.django_db


def logged(user):
    client = Client()
    client.force_login(user)
    return client


def test_clearing_page_is_reconciled_and_scoped_to_the_operators_own(validator, bound, operator, make_operator):
    services.taps_upload(device=validator.device, taps=taps(1, 2, 3))
    bus = make_operator(operator.institution, "bus_operator", "bus-staff")
    OperatorStaff.objects.create(user=bus, operator=operator)
    metro = services.operator_create(actor=SYSTEM, institution=operator.institution, code="metro", name="地铁")
    metro_staff = make_operator(operator.institution, "bus_operator", "metro-staff")
    OperatorStaff.objects.create(user=metro_staff, operator=metro)
    page = logged(bus).get("/backoffice/transit/operator/clearing/")
    assert page.status_code == 200 and 'data-ok="1"' in page.text and "bus-k1-01" in page.text
    other = logged(metro_staff).get("/backoffice/transit/operator/clearing/?operator=citybus")
    assert other.status_code == 200 and "bus-k1-01" not in other.text  # its own operator, not the asked one
    csv = logged(bus).get("/backoffice/transit/operator/clearing/csv/?operator=citybus")
    assert csv.status_code == 200 and csv.content.decode("utf-8-sig").count("\n") == 1 + 3 + 3
    assert logged(bus).get("/backoffice/transit/tap/").status_code == 200
    assert logged(metro_staff).get(f"/backoffice/transit/tap/{Tap.objects.first().pk}/change/").status_code in (302, 403, 404)
    student_desk = make_operator(operator.institution, "zone_manager", "zones")
    assert logged(student_desk).get("/backoffice/transit/operator/clearing/").status_code == 403


def test_dispute_evidence_by_the_operator_decision_by_the_card_center(validator, bound, student, operator,
                                                                      make_operator):
    services.taps_upload(device=validator.device, taps=taps(1))
    tap = Tap.objects.get()
    dispute = services.dispute_open(actor=SYSTEM, person=student, tap=tap, reason="卡丢在宿舍")
    bus = make_operator(operator.institution, "bus_operator", "bus-staff")
    OperatorStaff.objects.create(user=bus, operator=operator)
    logged(bus).post(f"/backoffice/transit/dispute/{dispute.pk}/change/", {"evidence": "车载监控 08:12 截图"})
    dispute.refresh_from_db()
    assert dispute.evidence == "车载监控 08:12 截图"
    refused = logged(bus).post(f"/backoffice/transit/dispute/{dispute.pk}/decide/", {"decision": "accept"})
    dispute.refresh_from_db()
    assert refused.status_code == 302 and dispute.state == "open"  # the operator never decides
    center = make_operator(operator.institution, "card_center_operator", "center")
    page = logged(center).get(f"/backoffice/transit/dispute/{dispute.pk}/change/")
    assert 'id="dispute-decide-form"' in page.text
    logged(center).post(f"/backoffice/transit/dispute/{dispute.pk}/decide/", {"decision": "accept"})
    dispute.refresh_from_db()
    assert dispute.state == "accepted" and available(bound) == 1_000 and ledger_check().ok


def test_an_open_dispute_waits_on_the_dashboard_and_is_on_the_holders_page(validator, bound, student, operator,
                                                                           make_operator):
    """The Card Center's work: bus fare disputes are a queue of the home page beside the payment appeals, and
    the holder's page lists them with the appeals, each with its history."""
    from campuscard.backoffice.person import person_page_url

    services.taps_upload(device=validator.device, taps=taps(1, 2))
    dispute = services.dispute_open(actor=SYSTEM, person=student, tap=Tap.objects.order_by("counter").first(),
                                    reason="那天我没坐公交")
    officer = make_operator(operator.institution, "card_center_operator", "center")
    center = logged(officer)
    home = center.get("/backoffice/")
    assert 'id="work-disputes" data-count="1"' in home.text
    person = center.get(person_page_url(student.pk))
    assert 'data-testid="dispute"' in person.text and "那天我没坐公交" in person.text
    assert f"/backoffice/transit/dispute/{dispute.pk}/change/" in person.text
    services.dispute_decide(actor=SYSTEM, user=officer, dispute=dispute, accept=False, reason="监控显示本人乘车")
    assert 'id="work-disputes" data-count="0"' in center.get("/backoffice/").text


def test_a_validator_is_registered_in_the_back_office_with_its_secret_shown_once(route, make_operator):
    admin_user = make_operator(route.operator.institution, "institution_admin", "admin")
    response = logged(admin_user).post("/backoffice/transit/validator/add/", {"code": "bus-new-1", "name": "新车",
                                                                             "route": route.pk}, follow=True)
    assert response.status_code == 200
    validator = Validator.objects.get(device__code="bus-new-1")
    assert validator.operator == route.operator and validator.device.kind == "validator"
    assert validator.device.secret in response.text
