"""The demo: two institutions, their places and thousands of people, deterministic and re-runnable (TEN-1, TEN-2, ID-1)."""

import datetime as dt
import io
import re

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models import Count, F
from django.test import Client
from django.urls import reverse

from campuscard.core import clock
from campuscard.core.models import Area, AuditLog, Building, Campus, Institution, ServicePoint
from campuscard.demo import bulk
from campuscard.demo import data as demo
from campuscard.identity.models import Person, User
from tests.helpers import portal_login

pytestmark = pytest.mark.django_db

DAY_ONE = dt.datetime(2026, 9, 1, 1, 0, tzinfo=dt.UTC)
KINDS = ("undergraduate", "graduate", "exchange", "staff", "temporary")


def load(moment: dt.datetime = DAY_ONE) -> list[demo.DemoLogin]:
    with clock.frozen_at(moment):
        return demo.load(progress=lambda _line: None)


def people_by_kind(code: str) -> dict[str, int]:
    """The rosters' population (the bulk-issuing slice of the 2026 intake, demo/bulk.py, and the new intake that
    applies in the portal, demo.NEW_INTAKE, are counted apart)."""
    rows = (Person.objects.filter(institution__code=code).exclude(department__in=[bulk.READY_UNIT, bulk.ISSUED_UNIT])
            .exclude(number__in=demo.NEW_INTAKE).values("kind").annotate(n=Count("id")))
    return {row["kind"]: row["n"] for row in rows}


def state():
    """Every table's row count (except the audit trail, which records each run), plus people and logins."""
    counts = {model._meta.label: model._default_manager.count() for model in apps.get_models() if model is not AuditLog}
    people = tuple(Person.objects.order_by("pk").values_list(
        "pk", "institution_id", "number", "name", "kind", "status", "id_type", "id_number", "campus_id",
        "department", "updated_at"))
    users = tuple(User.objects.order_by("pk").values_list("pk", "username", "password", "institution_id",
                                                           "is_superuser"))
    return counts, people, users


def test_demo_loads_two_institutions_and_runs_again_unchanged():
    """One test, because a load takes seconds: build, inspect, log in, then run again the next day."""
    logins = load()
    check_nothing_ahead_of_the_clock()
    check_places_and_people()
    check_logins(logins)
    check_new_intake(logins)
    check_access(logins)
    check_second_run()


# Moments that lie ahead by design (an expiry, a due date, the end of a validity), not things that happened.
AHEAD_BY_DESIGN = ("expires_at", "due_at", "valid_to", "valid_until", "not_after", "starts_at", "ends_at",
                   "locked_until")


def check_nothing_ahead_of_the_clock():
    """#17 item 9: the demo's history — payments, recharges, gate decisions, journal rows, notifications — ends
    at the clock that loads it (09:00 in Harbin: today's lunch and dinner have not happened yet)."""
    ahead = {}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.get_internal_type() != "DateTimeField" or field.name in AHEAD_BY_DESIGN:
                continue
            if field.auto_now or field.auto_now_add or (field.has_default() and callable(field.default)):
                continue  # stamped by the wall clock, not by the demo's history
            # compared in Python: SQLite keeps a raw statement's datetime as other text than the ORM's
            count = sum(1 for moment in model._default_manager.values_list(field.name, flat=True)
                        if moment is not None and moment > DAY_ONE)
            if count:
                ahead[f"{model._meta.label}.{field.name}"] = count
    assert ahead == {}


def check_places_and_people():
    assert set(Institution.objects.values_list("code", flat=True)) == {"hdut", "lcdc"}
    hdut, lcdc = Institution.objects.get(code="hdut"), Institution.objects.get(code="lcdc")

    # TEN-2: campuses with areas, buildings, service points and kiosks
    assert Campus.objects.filter(institution=hdut).count() >= 2
    hdut_areas = set(Area.objects.filter(campus__institution=hdut).values_list("name_en", flat=True))
    assert {"Area 1", "Area 2", "Science Park"} <= hdut_areas
    assert Building.objects.filter(area__campus__institution=hdut, name_en="Civil Building").exists()
    assert not Area.objects.filter(campus__institution=lcdc, name_en="Area 1").exists()  # two different places
    for institution in (hdut, lcdc):
        points = ServicePoint.objects.filter(area__campus__institution=institution)
        assert points.filter(kind=ServicePoint.Kind.KIOSK).count() >= 2
        assert points.filter(kind=ServicePoint.Kind.WINDOW).exists()
        # each point answers on its campus's line (SUP-2: HIT lists one per campus), else the hotline
        for phone, campus_phone in points.values_list("phone", "area__campus__phone"):
            assert phone == (campus_phone or institution.hotline)
    assert ServicePoint.objects.filter(area__campus__institution=hdut, kind=ServicePoint.Kind.KIOSK,
                                       location_en="First floor of Xueyuan Restaurant").exists()
    windows = set(ServicePoint.objects.filter(kind=ServicePoint.Kind.WINDOW, area__campus__institution=hdut)
                  .values_list("name_en", flat=True))
    assert {"Campus Card Center window 22", "Campus Card Center window 23"} <= windows

    # ID-1: thousands of people of every kind, through the real roster import
    assert Person.objects.filter(institution=hdut).count() >= 3000
    for code in ("hdut", "lcdc"):
        kinds = people_by_kind(code)
        assert set(kinds) == set(KINDS), code
        assert [kinds[k] for k in KINDS] == list(demo.POPULATION[code]), code
    assert set(Person.objects.filter(institution=hdut, kind="exchange").values_list("id_type", flat=True)) >= {
        "resident", "passport", "hkmo_permit"}
    assert Person.objects.filter(kind="staff").exclude(source="hr").count() == 0
    assert Person.objects.filter(kind="temporary").exclude(source="manual").count() == 0
    assert not Person.objects.exclude(campus__institution=F("institution")).exists()  # TEN-1: own campuses only

    # APP-7: a slice ready for bulk issuing (some with approved photos, some without), and one issued already
    from campuscard.cards.models import IssueBatch, Photo

    ready = Person.objects.filter(institution=hdut, department=bulk.READY_UNIT, enrollment_year=2026)
    assert ready.count() == 16 and not ready.filter(cards__isnull=False).exists()
    assert Photo.objects.filter(person__in=ready, state="approved").count() == 12
    batch = IssueBatch.objects.get(institution=hdut, unit=bulk.ISSUED_UNIT)
    assert batch.state == "handed_over" and batch.productions.count() == 6
    assert batch.productions.filter(state="collected").count() == 2
    assert len(batch.run.missing_photo) == 2


def check_new_intake(logins: list[demo.DemoLogin]):
    """APP-1: the new intake has no cards; its printed logins work; /apply/ offers the application to the
    students and sends the staff member to the HR path."""
    for code in ("hdut", "lcdc"):
        intake = Person.objects.filter(institution__code=code, number__in=demo.NEW_INTAKE)
        assert intake.count() == 3 and not intake.filter(cards__isnull=False).exists()
    printed = {x.login: x for x in logins if x.where == "hdut" and x.login in demo.NEW_INTAKE}
    assert set(printed) == set(demo.NEW_INTAKE)
    for number, expected in (("2026NEW001", 'id="apply-start"'), ("2026NEW002", 'id="apply-start"'),
                             ("T2026NEW", 'data-code="application_not_eligible_staff"')):
        client = Client()
        assert portal_login(client, institution="hdut", number=number,
                            password=printed[number].password).status_code == 302
        User.objects.filter(person__institution__code="hdut", person__number=number).update(
            must_change_password=False)  # past the forced password change (tested in check_logins)
        assert expected in client.get(reverse("portal:apply")).content.decode(), number


def check_logins(logins: list[demo.DemoLogin]):
    """Operator logins per institution and one platform admin; the student login printed with its password."""
    hdut = Institution.objects.get(code="hdut")
    assert User.objects.get(username="platform-admin").is_superuser
    for code in ("hdut", "lcdc"):
        for label, role in (("admin", "institution_admin"), ("operator", "card_center_operator"),
                            ("zones", "zone_manager"), ("auditor", "auditor")):
            user = User.objects.get(username=f"{code}-{label}")
            assert user.institution.code == code and user.roles == [role] and user.is_staff
    client = Client()
    response = client.post(reverse("admin:login"), {"username": "hdut-operator", "password": demo.OPERATOR_PASSWORD,
                                                    "next": reverse("admin:index")})
    assert response.status_code == 302 and response.url == reverse("admin:index")

    # ID-3: the student login printed with its initial password works
    students = [x for x in logins if x.who.startswith("student") and x.where == "hdut"]
    assert len(students) == 1
    person = Person.objects.get(institution=hdut, number=students[0].login)
    assert person.kind == "undergraduate" and students[0].password.endswith("X")
    student_client = Client()
    response = portal_login(student_client, institution="hdut", number=students[0].login,
                            password=students[0].password)
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.user is not None and person.user.must_change_password

    # ID-6: the demo student's mini-program token works for its scopes (balance) and no further
    token = next(x.login for x in logins if x.who.startswith("mini-program") and x.where == "hdut")
    channel = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert channel.get("/api/v1/wallet").status_code == 200
    assert channel.post("/api/v1/cards/x/lost").json()["code"] == "channel_scope_missing"


def check_access(logins: list[demo.DemoLogin]):
    """ACC-1 … ACC-5 have something to show: zones by level with a turnstile each, residents, permits, and a
    morning of real decisions — admitted and refused, for several rules — logged at those gates."""
    from campuscard.access.models import AccessEvent, DormResidence, LabPermit, Zone
    from campuscard.devices.models import Device

    for code in ("hdut", "lcdc"):
        zones = Zone.objects.filter(institution__code=code)
        assert {"campus_gate", "teaching", "dormitory", "library"} <= set(zones.values_list("level", flat=True))
        assert not zones.filter(gates=None).exists()
        assert DormResidence.objects.filter(person__institution__code=code).exists()
        events = AccessEvent.objects.filter(institution__code=code)
        assert events.count() == 400 and events.filter(admitted=True).exists() and events.filter(admitted=False).exists()
        assert len(set(events.values_list("rule", flat=True))) >= 3
        assert all(DAY_ONE - dt.timedelta(hours=2, minutes=30) <= moment <= DAY_ONE  # from 06:30 local
                   for moment in events.values_list("decided_at", flat=True))
        gate = next(x for x in logins if x.who.startswith("gate") and x.where == code)
        assert Device.objects.get(code=gate.login, kind="gate").secret == gate.password
    assert LabPermit.objects.filter(institution__code="hdut", state="approved").exists()
    # something to decide in the back office, and a visitor expected, their code verifiable at the gates
    from campuscard.access import services
    from campuscard.access.models import CampusEntryApproval, VisitorPass

    assert LabPermit.objects.filter(institution__code="hdut", state="requested").exists()
    assert not Zone.objects.filter(institution__code="hdut", level="laboratory").exclude(
        managers__username="hdut-zones").exists()
    assert CampusEntryApproval.objects.filter(institution__code="hdut", state="requested").exists()
    visitor = VisitorPass.objects.get(institution__code="hdut")
    assert visitor.host.kind == "staff" and visitor.valid_to - visitor.valid_from == dt.timedelta(hours=6)
    zone = visitor.zones.order_by("pk").first()
    with clock.frozen_at(DAY_ONE + dt.timedelta(minutes=30)):
        outcome = services.gate_decide(device=zone.gates.first(), zone_code=zone.code,
                                       visitor_code=services.visitor_code(visitor_pass=visitor))
    assert outcome.decision.rule == "admit_visitor"


def check_second_run():
    """Running the demo again (the next day, through the command) changes nothing and prints the logins."""
    before = state()
    audit_before = AuditLog.objects.count()

    out = io.StringIO()
    with clock.frozen_at(DAY_ONE + dt.timedelta(days=1, hours=3)):
        call_command("demo", stdout=out)
    assert state() == before
    extra = AuditLog.objects.order_by("pk")[audit_before:]
    assert {row.action for row in extra} == {"roster_imported_registrar", "roster_imported_hr"}
    assert all(row.after["created"] == row.after["updated"] == 0 for row in extra)

    # the command prints the logins; the printed student password opens the portal (ID-3)
    text = out.getvalue()
    assert "Demo loaded." in text
    match = re.search(r"student \(first login: initial password\)\s+hdut\s+(\S+)\s+(\S+)", text)
    assert match, text
    number, password = match.groups()
    client = Client()
    assert portal_login(client, institution="hdut", number=number, password=password).status_code == 302
    assert client.get("/").url == reverse("portal:password_change")  # … and must change it first
