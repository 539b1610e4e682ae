"""The back office: every page through one permission path (ARCHITECTURE rule 6, TEN-1).

Each protected page is run through the authorisation matrix of tests/authz.py: anonymous, wrong
role, right role of the wrong institution, right role — and refused calls must leave the data as it was.
"""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.models import AuditLog, Campus
from campuscard.core.privacy import mask_id_number
from campuscard.identity.models import Person
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization
from tests.conftest import ID_BOB
from tests.helpers import resident_id

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:identity_person_changelist"
LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")
OTHER_DEPARTMENT = "外校专属学院"  # shown in the changelist; never searched for, so it never echoes back


@pytest.fixture
def other_student(other_institution):
    return Person.objects.create(institution=other_institution, number="2024000009", name="王其他",
                                 kind=Person.Kind.UNDERGRADUATE, status=Person.Status.FULL_TIME, id_number=ID_BOB,
                                 campus=other_institution.campuses.get(), department=OTHER_DEPARTMENT)


@pytest.fixture
def staff(institution, other_institution, make_operator):
    """Back-office users: the matrix's principals."""
    return {
        "operator": make_operator(institution, "card_center_operator"),
        "merchant": make_operator(institution, "merchant_operator"),
        "admin": make_operator(institution, "institution_admin"),
        "other_operator": make_operator(other_institution, "card_center_operator"),
        "other_admin": make_operator(other_institution, "institution_admin"),
        "platform": make_operator(None, None),
    }


def people_state():
    rows = Person.objects.order_by("pk").values_list("pk", "institution_id", "number", "name", "kind", "status",
                                                     "campus_id", "department")
    return tuple(rows), AuditLog.objects.count()


def to_login(response):
    assert response.url.startswith(LOGIN)


def to_index(response):
    """The admin's answer for an object outside the user's queryset: "does not exist", back to the index."""
    assert response.url == INDEX


def person_form(person: Person | None = None, **changes) -> dict[str, str]:
    data = {"number": "", "name": "", "kind": "undergraduate", "status": "full_time", "id_type": "resident",
            "id_number": "", "campus": "", "department": "", "title": "", "enrollment_year": "", "phone": "",
            "email": "", "_save": "Save"}
    if person is not None:
        data.update(number=person.number, name=person.name, kind=person.kind, status=person.status,
                    id_type=person.id_type, id_number=person.id_number, campus=str(person.campus_id or ""),
                    department=person.department)
    data.update({k: str(v) for k, v in changes.items()})
    return data


def html(response) -> str:
    return response.content.decode()


# --- people: list, change, add ------------------------------------------------------------------------


def test_person_changelist_authorization(student, other_student, staff):
    def lists_only_ours(response):
        page = html(response)
        assert student.number in page and student.name in page
        assert other_student.number not in page and other_student.name not in page
        assert OTHER_DEPARTMENT not in page
        assert [p.pk for p in response.context["cl"].result_list] == [student.pk]

    def lists_only_theirs(response):
        page = html(response)
        assert other_student.number in page and student.number not in page and student.name not in page

    assert_authorization(
        lambda client: client.get(reverse(CHANGELIST)),
        anonymous=Expect(ANONYMOUS, 302, to_login),
        wrong_role=Expect(Principal.session(staff["merchant"]), 403),
        wrong_institution=Expect(Principal.session(staff["other_operator"]), 200, lists_only_theirs),
        allowed=Expect(Principal.session(staff["operator"]), 200, lists_only_ours),
        snapshot=people_state,
    )


def test_person_change_page_authorization(student, other_student, staff):
    url = reverse("admin:identity_person_change", args=[student.pk])

    def shows_nothing(response):
        to_index(response)

    def shows_the_person(response):
        page = html(response)
        # a Card Center operator is not entitled to the ID number: masked, and no audited look (#18 item 7)
        assert student.name in page and mask_id_number(student.id_number) in page and student.id_number not in page
        assert 'name="institution"' not in page  # TEN-1: operators never pick an institution

    assert_authorization(
        lambda client: client.get(url),
        anonymous=Expect(ANONYMOUS, 302, to_login),
        wrong_role=Expect(Principal.session(staff["merchant"]), 403),
        wrong_institution=Expect(Principal.session(staff["other_operator"]), 302, shows_nothing),
        allowed=Expect(Principal.session(staff["operator"]), 200, shows_the_person),
        snapshot=people_state,
    )


def test_person_change_authorization(student, other_student, staff, institution):
    url = reverse("admin:identity_person_change", args=[student.pk])
    data = person_form(student, name="张晓雪改", department="数学学院")
    responses = assert_authorization(
        lambda client: client.post(url, data),
        anonymous=Expect(ANONYMOUS, 302, to_login),
        wrong_role=Expect(Principal.session(staff["merchant"]), 403),
        wrong_institution=Expect(Principal.session(staff["other_operator"]), 302, to_index),
        allowed=Expect(Principal.session(staff["operator"]), 302),
        snapshot=people_state,
        writes=True,
    )
    assert responses["allowed"].url == reverse(CHANGELIST)
    student.refresh_from_db()
    assert (student.name, student.department, student.institution) == ("张晓雪改", "数学学院", institution)
    other_student.refresh_from_db()
    assert other_student.name == "王其他"
    audit = AuditLog.objects.get(action="changed", object_id=str(student.pk))
    assert audit.actor == staff["operator"] and audit.institution == institution
    assert audit.after == {"fields": ["department", "name"]}


def test_person_add_authorization(student, other_student, staff, institution):
    campus = Campus.objects.get(institution=institution)
    data = person_form(number="2025000777", name="新生", id_number=resident_id(777), campus=campus.pk)

    def refuses_our_campus(response):
        assert "campus" in response.context["adminform"].form.errors

    responses = assert_authorization(
        lambda client: client.post(reverse("admin:identity_person_add"), data),
        anonymous=Expect(ANONYMOUS, 302, to_login),
        wrong_role=Expect(Principal.session(staff["merchant"]), 403),
        # the other institution's operator cannot even choose our campus, and never our institution
        wrong_institution=Expect(Principal.session(staff["other_operator"]), 200, refuses_our_campus),
        allowed=Expect(Principal.session(staff["operator"]), 302),
        snapshot=people_state,
        writes=True,
    )
    assert responses["allowed"].url == reverse(CHANGELIST)
    created = Person.objects.get(number="2025000777")
    assert (created.institution, created.campus, created.name) == (institution, campus, "新生")
    audit = AuditLog.objects.get(action="created", object_id=str(created.pk))
    assert (audit.actor, audit.institution) == (staff["operator"], institution)


def test_add_form_offers_only_the_operators_own_campuses(client, staff, institution, other_institution):
    client.force_login(staff["operator"])
    form = client.get(reverse("admin:identity_person_add")).context["adminform"].form
    assert "institution" not in form.fields
    assert set(form.fields["campus"].queryset) == set(Campus.objects.filter(institution=institution))


def test_duplicate_number_is_a_form_error_not_a_server_error(client, student, staff):
    """The per-institution unique number is checked although operators never see the institution field."""
    client.force_login(staff["operator"])
    before = people_state()
    response = client.post(reverse("admin:identity_person_add"),
                           person_form(number=student.number, name="重号", id_number=resident_id(5),
                                       campus=student.campus_id))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert people_state() == before


def test_the_same_number_in_another_institution_is_fine(client, other_student, staff, institution):
    """TEN-1: numbers are unique per institution only."""
    client.force_login(staff["operator"])
    campus = Campus.objects.get(institution=institution)
    response = client.post(reverse("admin:identity_person_add"),
                           person_form(number=other_student.number, name="同号", id_number=resident_id(6),
                                       campus=campus.pk))
    assert response.status_code == 302
    assert Person.objects.filter(number=other_student.number).count() == 2


def test_bad_id_number_is_refused_in_the_form(client, staff, institution):
    client.force_login(staff["operator"])
    before = people_state()
    response = client.post(reverse("admin:identity_person_add"),
                           person_form(number="2025000001", name="坏号", id_number="110105199003074529",
                                       campus=Campus.objects.get(institution=institution).pk))
    assert response.status_code == 200
    assert "id_number" in response.context["adminform"].form.errors
    assert people_state() == before


def test_platform_admin_cannot_mix_a_campus_of_another_institution(client, staff, institution, other_institution):
    client.force_login(staff["platform"])
    before = people_state()
    data = person_form(number="2025000001", name="混校区", id_number=resident_id(1),
                       campus=Campus.objects.get(institution=other_institution).pk, institution=institution.pk)
    response = client.post(reverse("admin:identity_person_add"), data)
    assert response.status_code == 200
    assert "campus" in response.context["adminform"].form.errors
    assert people_state() == before


def test_platform_admin_sees_both_institutions(client, student, other_student, staff):
    client.force_login(staff["platform"])
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    page = html(response)
    assert student.name in page and other_student.name in page and OTHER_DEPARTMENT in page
    assert {p.pk for p in response.context["cl"].result_list} == {student.pk, other_student.pk}
    form = client.get(reverse("admin:identity_person_add")).context["adminform"].form
    assert "institution" in form.fields  # only platform admins choose the institution


def test_operator_never_sees_the_other_institutions_rows(client, student, other_student, staff, other_institution):
    """TEN-1 in the back office: the changelist HTML, its search and filters, and the admin querysets."""
    operator = staff["operator"]
    client.force_login(operator)
    url = reverse(CHANGELIST)
    for params in ({}, {"q": other_student.number}, {"q": other_student.name},
                   {"institution__id__exact": other_institution.pk}, {"kind__exact": "undergraduate"}):
        response = client.get(url, params)
        assert response.status_code == 200, params
        page = html(response)
        assert OTHER_DEPARTMENT not in page, params
        if "q" not in params:  # a search echoes what was typed
            assert other_student.name not in page and other_student.number not in page, params
        assert other_student.pk not in {p.pk for p in response.context["cl"].result_list}

    request = RequestFactory().get(url)
    request.user = operator
    model_admin = admin.site._registry[Person]
    assert list(model_admin.get_queryset(request)) == [student]
    assert not model_admin.has_change_permission(request, other_student)
    assert not model_admin.has_view_permission(request, other_student)
    assert model_admin.has_change_permission(request, student)
    assert not model_admin.has_delete_permission(request, student)  # operators do not delete people
    campus_field = model_admin.formfield_for_foreignkey(Person._meta.get_field("campus"), request)
    assert other_institution.campuses.get() not in set(campus_field.queryset)


# --- audit trail: read-only for everyone --------------------------------------------------------------


@pytest.fixture
def audit_rows(institution, other_institution):
    ours = audit_record(actor=Actor.system("test"), action="ours_happened", object_type="x", object_id="1",
                        institution_id=institution.pk)
    theirs = audit_record(actor=Actor.system("test"), action="theirs_happened", object_type="x", object_id="2",
                          institution_id=other_institution.pk)
    return ours, theirs


def audit_state():
    return tuple(AuditLog.objects.order_by("pk").values_list("pk", "action", "object_id", "institution_id", "after"))


def test_audit_trail_list_authorization(audit_rows, staff):
    def shows_only(action, hidden):
        def check(response):
            page = html(response)
            assert action in page and hidden not in page
        return check

    assert_authorization(
        lambda client: client.get(reverse("admin:core_auditlog_changelist")),
        anonymous=Expect(ANONYMOUS, 302, to_login),
        wrong_role=Expect(Principal.session(staff["operator"]), 403),  # operators do not read the trail
        wrong_institution=Expect(Principal.session(staff["other_admin"]), 200,
                                 shows_only("theirs_happened", "ours_happened")),
        allowed=Expect(Principal.session(staff["admin"]), 200, shows_only("ours_happened", "theirs_happened")),
        snapshot=audit_state,
    )


@pytest.mark.parametrize("who", ["admin", "platform"])
def test_nobody_adds_audit_rows_by_hand(audit_rows, staff, who):
    data = {"action": "forged", "object_type": "x", "object_id": "9", "at_0": "2026-09-01", "at_1": "08:00:00"}
    assert_authorization(
        lambda client: client.post(reverse("admin:core_auditlog_add"), data),
        anonymous=Expect(ANONYMOUS, 302, to_login),
        wrong_role=Expect(Principal.session(staff["operator"]), 403),
        wrong_institution=Expect(Principal.session(staff["other_admin"]), 403),
        allowed=Expect(Principal.session(staff[who]), 403),  # even the right role: the trail is append-only
        snapshot=audit_state,
    )
    assert not AuditLog.objects.filter(action="forged").exists()


@pytest.mark.parametrize("who", ["admin", "platform"])
def test_nobody_changes_or_deletes_audit_rows(audit_rows, staff, who):
    ours, _theirs = audit_rows
    change = reverse("admin:core_auditlog_change", args=[ours.pk])
    delete = reverse("admin:core_auditlog_delete", args=[ours.pk])
    for call in (lambda client: client.post(change, {"action": "forged", "object_type": "x", "object_id": "1"}),
                 lambda client: client.post(delete, {"post": "yes"})):
        assert_authorization(
            call,
            anonymous=Expect(ANONYMOUS, 302, to_login),
            wrong_role=Expect(Principal.session(staff["operator"]), 403),
            wrong_institution=Expect(Principal.session(staff["other_admin"]), 403),
            allowed=Expect(Principal.session(staff[who]), 403),
            snapshot=audit_state,
        )


def test_audit_row_page_is_read_only(client, audit_rows, staff):
    ours, theirs = audit_rows
    client.force_login(staff["admin"])
    response = client.get(reverse("admin:core_auditlog_change", args=[ours.pk]))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert 'name="_save"' not in html(response)
    assert client.get(reverse("admin:core_auditlog_change", args=[theirs.pk])).status_code == 302


# --- dashboard --------------------------------------------------------------------------------------------


def kpis(response) -> tuple[int, int, int]:
    """(people, institutions, campuses) as the dashboard shows them, found by their translated titles."""
    with translation.override(response["Content-Language"]):
        shown = {str(k["title"]): k["value"] for k in response.context["kpis"]}
        return shown[_("People")], shown[_("Institutions")], shown[_("Campuses")]


def test_dashboard_renders_for_an_operator_with_their_figures(client, student, staff_member, other_student, staff,
                                                              audit_rows):
    client.force_login(staff["admin"])
    response = client.get(INDEX)
    assert response.status_code == 200
    assert kpis(response) == (2, 1, 1)  # people, institutions, campuses — all of their own institution only
    assert [row.action for row in response.context["recent_audit"]] == ["ours_happened"]
    page = html(response)
    assert "theirs_happened" not in page
    assert "ours happened" in page  # an unlabelled code still reads as words
    assert 'id="kpis"' in page


def test_dashboard_recent_activity_reads_as_words_not_codes(client, staff, student):
    audit_record(actor=Actor.by_user(staff["admin"]), action="card_reported_lost", obj=student,
                 institution_id=student.institution_id)
    client.force_login(staff["admin"])
    page = html(client.get(INDEX, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    with translation.override("zh-hans"):
        assert _("reported lost") in page
    assert "card_reported_lost" not in page


def test_dashboard_for_the_platform_admin_counts_every_institution(client, student, other_student, staff):
    client.force_login(staff["platform"])
    response = client.get(INDEX)
    assert response.status_code == 200
    assert kpis(response) == (2, 2, 2)


def test_dashboard_needs_a_back_office_login(client, student, staff):
    assert client.get(INDEX).status_code == 302
    client.force_login(staff["merchant"])
    response = client.get(INDEX)
    assert response.status_code == 200
    assert kpis(response)[0] == 0  # a merchant operator sees no people


def test_a_login_on_the_back_office_page_lands_in_the_back_office(client, staff):
    """The theme's login form carries no "next"; ours adds it, so a login typed at /backoffice/login/ opens the
    dashboard instead of the portal's home."""
    page = client.get(reverse("admin:login")).content.decode()
    assert f'name="next" value="{INDEX}" form="login-form"' in page
    response = client.post(reverse("admin:login"), {"username": staff["operator"].username,
                                                     "password": "Operator-pass-1", "next": INDEX})
    assert response.status_code == 302 and response["Location"] == INDEX
