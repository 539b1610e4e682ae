"""Conventions as checks (TEN-1, ARCHITECTURE rule 6): every admin the back office registers shows an
operator only their institution's rows and choices, and every model says how it reaches its institution.

Written against the admin registry and the app registry, not file paths, so admin modules can move.
"""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from django.apps import apps
from django.contrib.admin.sites import all_sites
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth.models import Group, Permission
from django.db import models
from django.test import RequestFactory

from campuscard.backoffice.scoped import ScopedAdmin
from campuscard.core import clock
from campuscard.core.models import Institution
from campuscard.demo import data as demo
from campuscard.identity.roles import ROLES

DAY_ONE = dt.datetime(2026, 9, 1, 1, 0, tzinfo=dt.UTC)

# Models that do not belong to one institution, each with the reason. Anything else must declare
# ``institution_path`` (core.permissions.restrict filters by it).
NOT_TENANT = {
    "core.IdempotencyKey": "a retry cache keyed by scope and client key; never listed or shown",
    "devices.RequestNonce": "a replay record keyed by device id (no relation); never listed or shown",
    "payments.SandboxPayment": "the sandbox gateway's own side of a payment, outside every institution",
    "ledger.Seal": "one digest chain of each day's journal across the deployment",
    "ledger.CheckRun": "reconciliation spans institutions; its admin is platform admins' only",
    "enrollment.SeenFrame": "a replay record keyed by frame hash across the deployment; never listed or shown",
}

# Registered admins whose model has no institution: they must keep institution users out entirely.
PLATFORM_ONLY_ADMINS = {
    "auth.Group": "roles are managed by code (identity.roles)",
    "ledger.CheckRun": NOT_TENANT["ledger.CheckRun"],
}


def campuscard_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models() if m.__module__.startswith("campuscard.")]


def registered_admins():
    for site in all_sites:
        yield from site._registry.items()


def reaches_institution(model: type[models.Model], seen: frozenset = frozenset()) -> bool:
    """Whether a chain of forward relations leads to Institution."""
    if model is Institution:
        return True
    for field in model._meta.concrete_fields:
        related = field.related_model if field.many_to_one or field.one_to_one else None
        if related is not None and related not in seen and reaches_institution(related, seen | {model}):
            return True
    return False


# --- every model says how it reaches its institution -----------------------------------------------

@pytest.mark.parametrize("model", campuscard_models(), ids=lambda m: m._meta.label)
def test_every_model_declares_its_institution_or_why_not(model):
    label = model._meta.label
    if label in NOT_TENANT:
        assert not hasattr(model, "institution_path"), f"{label} is listed as not tenant-scoped but declares a path"
        return
    assert hasattr(model, "institution_path"), (
        f"{label} reaches an institution but declares no institution_path" if reaches_institution(model)
        else f"{label}: declare institution_path, or list it in NOT_TENANT with the reason")


@pytest.mark.parametrize("model", [m for m in campuscard_models() if hasattr(m, "institution_path")],
                         ids=lambda m: m._meta.label)
def test_every_institution_path_leads_to_an_institution(model):
    path = model.institution_path
    if model is Institution:
        assert path == "pk"
        return
    assert get_fields_from_path(model, path)[-1].related_model is Institution, f"{model._meta.label}: {path}"


@pytest.mark.parametrize("model", campuscard_models(), ids=lambda m: m._meta.label)
def test_every_model_has_a_docstring(model):
    # Django writes "Name(field, …)" into a model without one.
    assert model.__doc__ and not model.__doc__.startswith(f"{model.__name__}("), model._meta.label


# --- every registered admin is scoped to the operator's institution --------------------------------

@pytest.fixture
def two_worlds(db, monkeypatch):
    """The demo, small: two institutions with rows in nearly every table; the rest added below."""
    for code in demo.POPULATION:
        monkeypatch.setitem(demo.POPULATION, code, (6, 2, 1, 3, 1))
    monkeypatch.setattr(demo, "_wallet_history", functools.partial(demo._wallet_history, holders=3))
    monkeypatch.setattr(demo, "_access", functools.partial(demo._access, decisions=10))
    with clock.frozen_at(DAY_ONE):
        demo.load(progress=lambda _line: None)
        for institution in Institution.objects.all():
            _the_rest(institution)
    return Institution.objects.get(code="hdut"), Institution.objects.get(code="lcdc")


def _the_rest(institution: Institution) -> None:
    """A row of each model the demo leaves empty, written directly: only where it belongs matters here."""
    from campuscard.access.models import VisitorInvite, VisitorRequest, Zone, ZoneException
    from campuscard.cards.models import BalanceMove, Card
    from campuscard.identity.models import APIToken, Person, User
    from campuscard.payments.models import Appeal, GatewayNotification, Payment, RechargeOrder, Refund

    now, code = clock.now(), institution.code
    APIToken.objects.create(user=User.objects.filter(institution=institution).first(), name="registrar",
                            prefix=f"{code}-tok", token_hash=f"{code}-hash")
    old, new = Card.objects.filter(institution=institution).order_by("pk")[:2]
    BalanceMove.objects.create(old_card=old, new_card=new, due_at=now)
    GatewayNotification.objects.create(provider="sandbox", received_at=now, signature_ok=True, outcome="paid",
                                       body="{}", order=RechargeOrder.objects.filter(institution=institution).first())
    payment = Payment.objects.filter(institution=institution).first()
    Refund.objects.create(payment=payment, kind=Refund.Kind.REFUND, amount=1, transfer_id=0, created_at=now)
    Appeal.objects.create(payment=payment, reason="charged twice", created_at=now)
    zone = Zone.objects.filter(institution=institution).first()
    ZoneException.objects.create(zone=zone, date=now.date(), closed=True)
    invite = VisitorInvite.objects.create(institution=institution, token=f"{code}-invite", purpose="visit",
                                          host=Person.objects.filter(institution=institution).first(),
                                          expires_at=now, created_at=now)
    VisitorRequest.objects.create(invite=invite, token=f"{code}-request", visitor_name="访客", visitor_phone="1",
                                  valid_from=now, valid_to=now, requested_at=now)
    from campuscard.enrollment.models import Application, Document, FaceAttempt, PhoneCode

    applicant = Person.objects.filter(institution=institution).exclude(applications__isnull=False).first()
    application = Application.objects.create(person=applicant)
    Document.objects.create(application=application, kind=Document.Kind.PERMIT, file=f"documents/{code}.pdf",
                            content_type="application/pdf", size=1, uploaded_at=now)
    FaceAttempt.objects.create(application=application, nonce=f"{code}-nonce", actions=["blink", "nod"],
                               created_at=now, expires_at=now)
    PhoneCode.objects.create(institution=institution, phone="13800000000", code_hash="x", sent_at=now,
                             expires_at=now)


def operators(institution: Institution):
    """Every role of the institution, and one user holding every permission there is."""
    from campuscard.identity.models import User

    users = []
    for role in ROLES:
        user = User.objects.create_user(username=f"scope-{institution.code}-{role}", institution=institution,
                                        is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users.append(user)
    everything, _ = Group.objects.get_or_create(name="scope-everything")
    everything.permissions.set(Permission.objects.all())
    user = User.objects.create_user(username=f"scope-{institution.code}-all", institution=institution, is_staff=True)
    user.groups.add(everything)
    return [*users, user]


def request_as(user):
    request = RequestFactory().get("/backoffice/")
    request.user = user
    return request


def other_rows(model, queryset, institution: Institution):
    return queryset.exclude(**{model.institution_path: institution.pk}) if model is not Institution \
        else queryset.exclude(pk=institution.pk)


def test_every_registered_admin_is_tenant_scoped_or_platform_only():
    for model, model_admin in registered_admins():
        label = model._meta.label
        if hasattr(model, "institution_path"):
            assert isinstance(model_admin, ScopedAdmin), f"{label}'s admin does not go through restrict (ScopedAdmin)"
        else:
            assert label in PLATFORM_ONLY_ADMINS, f"{label} is registered without an institution: scope it or list it"


def test_an_operator_sees_no_row_of_another_institution(two_worlds, make_operator):
    own, other = two_worlds
    superuser = request_as(make_operator(None, None, "scope-platform"))
    found = []
    for user in operators(own):
        request = request_as(user)
        for model, model_admin in registered_admins():
            label = model._meta.label
            if not hasattr(model, "institution_path"):
                if model_admin.has_module_permission(request) or model_admin.has_view_permission(request):
                    found.append(f"{label}: platform-wide, yet open to {user.username}")
                continue
            theirs = model._default_manager.filter(**{model.institution_path: other.pk})
            assert model_admin.get_queryset(superuser).filter(pk__in=theirs).exists(), f"no {label} row to hide"
            leaked = other_rows(model, model_admin.get_queryset(request), own)
            if leaked.exists():
                found.append(f"{label}: {user.username} lists {leaked.count()} rows of {other.code}")
            if model_admin.has_view_permission(request, theirs.first()):
                found.append(f"{label}: {user.username} may open a row of {other.code}")
    assert not found, "\n".join(found)


def _choices_leaking(form, other: Institution, where: str) -> list[str]:
    leaks = []
    for name, field in form.fields.items():
        if name == form._meta.model._meta.pk.name:
            continue  # an inline row's hidden id: Django looks it up in the parent's rows only
        queryset = getattr(field, "queryset", None)
        related = getattr(queryset, "model", None)
        if related is None or not hasattr(related, "institution_path"):
            continue
        if queryset.filter(**{related.institution_path: other.pk}).exists():
            leaks.append(f"{where}: field {name} offers {related._meta.label} of {other.code}")
    return leaks


def test_an_operators_forms_offer_no_choice_of_another_institution(two_worlds):
    own, other = two_worlds
    user = operators(own)[-1]  # every permission: every form and field is shown
    request = request_as(user)
    found = []
    for model, model_admin in registered_admins():
        if not hasattr(model, "institution_path"):
            continue
        label = model._meta.label
        instance = model._default_manager.filter(**{model.institution_path: own.pk}).first()
        for obj in (None, instance):
            allowed = (model_admin.has_add_permission(request) if obj is None
                       else model_admin.has_change_permission(request, obj))
            if not allowed:
                continue
            form = model_admin.get_form(request, obj)(instance=obj)
            found += _choices_leaking(form, other, f"{label} {'add' if obj is None else 'change'}")
            for formset, inline in model_admin.get_formsets_with_inlines(request, obj):
                found += _choices_leaking(formset(instance=obj or model()).empty_form, other,
                                          f"{label} inline {inline.model._meta.label}")
    assert not found, "\n".join(found)


# --- one answer to "which institutions may this user see" ------------------------------------------

def test_institutions_visible_is_written_once():
    from pathlib import Path

    import campuscard

    root = Path(campuscard.__file__).parent
    defined = [str(p.relative_to(root)) for p in root.rglob("*.py") if "def institutions_visible(" in p.read_text()]
    assert defined == ["core/selectors.py"]


def test_institutions_visible(institution, other_institution, make_operator):
    from django.contrib.auth.models import AnonymousUser

    from campuscard.core.selectors import institutions_visible

    admin = make_operator(institution, "institution_admin")
    merchant_operator = make_operator(institution, "merchant_operator")
    retired = make_operator(institution, "auditor")
    retired.is_active = False
    assert list(institutions_visible(user=make_operator(None, None))) == [other_institution, institution]
    assert list(institutions_visible(user=admin)) == [institution]
    assert list(institutions_visible(user=merchant_operator)) == [institution]  # where they work …
    assert not institutions_visible(user=merchant_operator, action="view").exists()  # … not what they may open
    assert list(institutions_visible(user=admin, action="view")) == [institution]
    assert not institutions_visible(user=AnonymousUser()).exists()
    assert not institutions_visible(user=retired).exists()
