"""The one row-level permission path: restrict(), can(), authorize() (ARCHITECTURE rule 6, TEN-1)."""

import pytest
from django.contrib.auth.models import AnonymousUser

from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Area, AuditLog, Campus, Institution
from campuscard.core.permissions import authorize, can, restrict
from campuscard.identity.documents import IdType
from campuscard.identity.models import Person
from tests.conftest import ID_BOB

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(institution, other_institution, student):
    """One person in each institution; returns (ours, theirs)."""
    theirs = Person.objects.create(
        institution=other_institution, number="2024000001", name="王其他", kind=Person.Kind.UNDERGRADUATE,
        status=Person.Status.FULL_TIME, id_type=IdType.RESIDENT, id_number=ID_BOB,
        campus=other_institution.campuses.get())
    return student, theirs


def pks(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


def test_anonymous_sees_nothing(people):
    for user in (AnonymousUser(), None):
        assert not restrict(Person.objects.all(), user).exists()
        assert not Person.objects.restrict(user).exists()


def test_inactive_user_sees_nothing_even_as_superuser(people, make_operator, institution):
    operator = make_operator(institution, "card_center_operator")
    admin = make_operator(None, None)
    for user in (operator, admin):
        user.is_active = False
        user.save()
        assert not restrict(Person.objects.all(), user).exists()
        assert not can(user, "view", people[0])


def test_platform_admin_sees_every_institution(people, make_operator):
    admin = make_operator(None, None)
    assert pks(restrict(Person.objects.all(), admin)) == {p.pk for p in people}
    assert pks(Institution.objects.restrict(admin)) == {people[0].institution_id, people[1].institution_id}
    for action in ("view", "add", "change", "delete"):
        assert can(admin, action, people[1])


def test_role_without_the_model_permission_sees_nothing(people, make_operator, institution):
    merchant = make_operator(institution, "merchant_operator")
    assert not restrict(Person.objects.all(), merchant).exists()
    assert not can(merchant, "view", people[0])
    # … while the same role does see its own places
    assert pks(restrict(Campus.objects.all(), merchant)) == set(institution.campuses.values_list("pk", flat=True))


def test_right_role_sees_only_its_own_institution(people, make_operator, institution, other_institution):
    """TEN-1: no user of one institution can read or change another's data."""
    ours, theirs = people
    operator = make_operator(institution, "card_center_operator")
    assert pks(restrict(Person.objects.all(), operator)) == {ours.pk}
    assert pks(restrict(Person.objects.all(), operator, "change")) == {ours.pk}
    assert can(operator, "view", ours) and can(operator, "change", ours)
    assert not can(operator, "view", theirs) and not can(operator, "change", theirs)
    # the role has no delete permission at all
    assert not restrict(Person.objects.all(), operator, "delete").exists()
    assert not can(operator, "delete", ours)
    # and the mirror image for the other institution's operator
    other = make_operator(other_institution, "card_center_operator")
    assert pks(restrict(Person.objects.all(), other)) == {theirs.pk}


def test_institution_path_reaches_through_relations(people, make_operator, institution, other_institution):
    """Areas belong to an institution through their campus (institution_path = campus__institution)."""
    Area.objects.create(campus=other_institution.campuses.get(), code="far", name="远区")
    operator = make_operator(institution, "card_center_operator")
    assert set(restrict(Area.objects.all(), operator).values_list("name_en", flat=True)) == {"Area 1"}
    assert pks(restrict(Institution.objects.all(), operator)) == set()  # no view_institution for operators
    admin = make_operator(institution, "institution_admin")
    assert pks(restrict(Institution.objects.all(), admin)) == {institution.pk}


def test_audit_rows_are_scoped_too(people, make_operator, institution, other_institution):
    audit_record(actor=Actor.system("test"), action="a", object_type="x", object_id="1", institution_id=institution.pk)
    audit_record(actor=Actor.system("test"), action="b", object_type="x", object_id="2", institution_id=other_institution.pk)
    auditor = make_operator(institution, "auditor")
    assert list(restrict(AuditLog.objects.all(), auditor).values_list("action", flat=True)) == ["a"]


def test_role_holder_without_institution_sees_nothing(people, make_operator):
    """Only platform admins live outside institutions; a role alone is not enough."""
    floating = make_operator(None, "card_center_operator", username="floating")
    assert not floating.is_superuser and floating.institution_id is None
    assert floating.has_perm("identity.view_person")
    assert not restrict(Person.objects.all(), floating).exists()


def test_unknown_action_is_a_programming_error(people, make_operator):
    with pytest.raises(ValueError):
        restrict(Person.objects.all(), make_operator(None, None), "export")


def test_restricted_queryset_keeps_chaining(people, make_operator, institution):
    operator = make_operator(institution, "card_center_operator")
    qs = Person.objects.filter(kind=Person.Kind.UNDERGRADUATE).restrict(operator).filter(number__startswith="2024")
    assert pks(qs) == {people[0].pk}


# --- authorize() ---------------------------------------------------------------------------------------


def code_of(call) -> str | None:
    try:
        call()
    except DomainError as error:
        return error.code
    return None


def test_authorize(people, make_operator, institution, other_institution):
    operator = make_operator(institution, "card_center_operator")
    merchant = make_operator(institution, "merchant_operator")
    admin = make_operator(None, None)
    inactive = make_operator(institution, "card_center_operator", username="gone")
    inactive.is_active = False
    inactive.save()
    perm = "identity.add_person"
    assert code_of(lambda: authorize(AnonymousUser(), perm, institution.pk)) == "not_authenticated"
    assert code_of(lambda: authorize(None, perm, institution.pk)) == "not_authenticated"
    assert code_of(lambda: authorize(inactive, perm, institution.pk)) == "not_authenticated"
    assert code_of(lambda: authorize(merchant, perm, institution.pk)) == "forbidden"  # wrong role
    assert code_of(lambda: authorize(operator, perm, other_institution.pk)) == "forbidden"  # wrong institution
    assert code_of(lambda: authorize(operator, perm, None)) == "forbidden"
    assert code_of(lambda: authorize(operator, "identity.delete_person", institution.pk)) == "forbidden"
    assert code_of(lambda: authorize(operator, perm, institution.pk)) is None  # right role, own institution
    assert code_of(lambda: authorize(admin, perm, other_institution.pk)) is None  # platform admin: any
    assert code_of(lambda: authorize(admin, perm, None)) is None
