"""Shared fixtures: institutions, people and role users built through the real services."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache

from campuscard.core.actors import Actor
from campuscard.core.models import Area, Campus, Institution
from campuscard.identity.documents import IdType
from campuscard.identity.models import Person, User
from campuscard.identity.roles import ensure_role_groups

# Valid resident ID numbers (checksums verified by python-stdnum).
ID_ALICE = "11010519491231002X"  # initial password 31002X
ID_BOB = "110105199003074528"  # initial password 074528 (digits only)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The locmem cache holds login-throttle counters; no test inherits another's failures."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def institution(db) -> Institution:
    inst = Institution.objects.create(code="uni", name="示范大学", name_en="Demo University")
    campus = Campus.objects.create(institution=inst, code="main", name="主校区", name_en="Main Campus")
    Area.objects.create(campus=campus, code="area1", name="一区", name_en="Area 1")
    return inst


@pytest.fixture
def other_institution(db) -> Institution:
    inst = Institution.objects.create(code="other", name="另一所大学", name_en="Other University")
    Campus.objects.create(institution=inst, code="main", name="主校区", name_en="Main Campus")
    return inst


@pytest.fixture
def student(institution) -> Person:
    return Person.objects.create(
        institution=institution, number="2024000001", name="张晓雪", kind=Person.Kind.UNDERGRADUATE,
        status=Person.Status.FULL_TIME, id_type=IdType.RESIDENT, id_number=ID_ALICE,
        campus=institution.campuses.get(code="main"))


@pytest.fixture
def make_operator(db):
    """make_operator(institution, role) → a back-office user with that role (None = platform admin)."""
    ensure_role_groups()

    def make(institution: Institution | None, role: str | None, username: str | None = None) -> User:
        username = username or f"{institution.code if institution else 'platform'}-{role or 'admin'}"
        user = User.objects.create_user(username=username, password="Operator-pass-1", is_staff=True,
                                        institution=institution, is_superuser=role is None)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def staff_member(institution) -> Person:
    """A staff member (HR roster) of ``institution``; logs in with the staff number (ID-3)."""
    return Person.objects.create(
        institution=institution, number="T00042", name="李建国", kind=Person.Kind.STAFF,
        status=Person.Status.ACTIVE, id_type=IdType.RESIDENT, id_number=ID_BOB, source=Person.Source.HR,
        campus=institution.campuses.get(code="main"))


@pytest.fixture
def card(student):
    """The student's virtual campus card (with its wallet)."""
    from campuscard.cards.services import card_issue

    return card_issue(actor=Actor.system("test"), person=student)


@pytest.fixture(autouse=True)
def _forget_process_caches():
    """The payment fast path caches immutable facts per process; tests reuse ids and codes."""
    from campuscard.payments import fastpath

    fastpath.forget()
    yield
    fastpath.forget()


def _on_postgresql() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On PostgreSQL a PostgreSQL-only test (marked ``postgres``, or skipped with a reason naming
    PostgreSQL) must run: a skip there is a failure, so CI cannot pass with the money and concurrency
    tests quietly skipped."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not _on_postgresql() or getattr(report, "wasxfail", None) is not None:
        return
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    if item.get_closest_marker("postgres") is not None or "postgresql" in reason.lower():
        report.outcome = "failed"
        report.longrepr = f"a PostgreSQL-only test was skipped in the PostgreSQL run: {reason}"
