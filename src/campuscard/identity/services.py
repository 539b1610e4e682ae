"""Writes for people and their secrets (ID-3, ID-5, ID-6). Keyword-only, audited."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Campus, Institution
from campuscard.core.permissions import authorize
from campuscard.identity import throttle
from campuscard.identity.documents import IdType, initial_secret, validate_document
from campuscard.identity.models import APIToken, Person, User

PAYMENT_PASSWORD = re.compile(r"[0-9]{6}")  # ASCII digits only: POS and kiosk keypads have no others


def holder_username(*, person: Person) -> str:
    return f"{person.institution.code}.{person.number}"


def holder_user_ensure(*, person: Person) -> User:
    """The login of a holder, created at their first login with the initial password (ID-3)."""
    if person.user_id and person.user is not None:
        return person.user
    with transaction.atomic():
        locked = Person.objects.select_for_update().select_related("institution").get(pk=person.pk)
        if locked.user_id and locked.user is not None:
            return locked.user
        user = User(username=holder_username(person=locked), institution=locked.institution,
                    first_name=locked.name[:150], email=locked.email, must_change_password=True)
        user.set_unusable_password()
        user.save()
        locked.user = user
        locked.save(update_fields=["user", "updated_at"])
        audit_record(actor=Actor.by_user(user), action="holder_login_created", obj=user)
    person.user = user
    return user


def holder_sso_login(*, claims: Mapping[str, Any]) -> User:
    """ID-4: the holder an OpenID Connect provider vouched for, by the roster's number in an institution
    this deployment serves through it (``SSO_*`` settings). Their login is created or linked like at a
    first password login; the login is audited. Refusals name the reason and change nothing."""
    claim = settings.SSO_NUMBER_CLAIM
    number = _sso_claim(claims, claim)
    code = _sso_institution(claims)
    person = (Person.objects.select_related("institution", "user")
              .filter(institution__code=code, number=number).first())
    if person is None:
        institution = Institution.objects.filter(code=code).first()
        raise DomainError("sso_not_on_roster", number=number,
                          institution=institution.name if institution is not None else code)
    user = holder_user_ensure(person=person)
    if not user.is_active:
        raise DomainError("sso_account_disabled")
    with transaction.atomic():
        audit_record(actor=Actor.by_user(user), action="sso_login", obj=user, institution_id=person.institution_id,
                     after={"subject": str(claims.get("sub", "")), "number": number})
    return user


def _sso_claim(claims: Mapping[str, Any], claim: str) -> str:
    value = str(claims.get(claim) or "").strip()
    if not value:
        raise DomainError("sso_claim_missing", claim=claim)
    return value


def _sso_institution(claims: Mapping[str, Any]) -> str:
    """The institution the provider speaks for: the one served, or the one its SSO_INSTITUTION_CLAIM names."""
    served = list(settings.SSO_INSTITUTIONS)
    if settings.SSO_INSTITUTION_CLAIM:
        code = str(claims.get(settings.SSO_INSTITUTION_CLAIM) or "").strip()
    else:
        code = served[0] if len(served) == 1 else ""
    if code not in served:
        raise DomainError("sso_wrong_institution")
    return code


def operator_sso_login(*, claims: Mapping[str, Any]) -> User:
    """ID-4 for the back office (#16 item 2): the operator account whose username is the provider's
    ``SSO_OPERATOR_CLAIM`` (by default the holders' number claim: the staff number), among the staff
    accounts of the institution the provider speaks for — never another institution's, never a holder's
    login. Platform administrators and superusers keep their password (the provider of one institution
    does not vouch for the platform). Refusals name the reason and change nothing (docs/decisions.md)."""
    claim = settings.SSO_OPERATOR_CLAIM or settings.SSO_NUMBER_CLAIM
    account = _sso_claim(claims, claim)
    code = _sso_institution(claims)
    user = (User.objects.select_related("institution")
            .filter(username=account, institution__code=code, is_staff=True).first())
    if user is None:
        institution = Institution.objects.filter(code=code).first()
        raise DomainError("sso_operator_unknown", account=account,
                          institution=institution.name if institution is not None else code)
    if user.is_superuser:
        raise DomainError("sso_operator_password_only")
    if not user.is_active:
        raise DomainError("sso_account_disabled")
    with transaction.atomic():
        audit_record(actor=Actor.by_user(user), action="sso_login", obj=user, institution_id=user.institution_id,
                     after={"subject": str(claims.get("sub", "")), "account": account, "as": "operator"})
    return user


def _person_of(user: User) -> Person | None:
    return Person.objects.filter(user=user).first()


def password_change(*, user: User, old_password: str, new_password: str, new_password_again: str) -> None:
    """Change the login password; the first change replaces the initial password (ID-3, ID-5)."""
    person = _person_of(user)
    if user.has_usable_password():
        if not user.check_password(old_password):
            raise DomainError("password_wrong")
    elif person is None or old_password != initial_secret(person.id_number):
        raise DomainError("password_wrong")
    if new_password != new_password_again:
        raise DomainError("password_mismatch")
    if person is not None and new_password == initial_secret(person.id_number):
        raise DomainError("password_invalid", reason=_("it may not be the initial password"))
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as exc:
        raise DomainError("password_invalid", reason=" ".join(exc.messages))
    if person is not None and person.payment_password and check_password(new_password, person.payment_password):
        raise DomainError("password_same_as_payment")
    with transaction.atomic():
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        audit_record(actor=Actor.by_user(user), action="login_password_changed", obj=user)


def _login_password_matches(user: User, person: Person, secret: str) -> bool:
    if user.has_usable_password():
        return user.check_password(secret)
    return secret == initial_secret(person.id_number)


def payment_password_set(*, user: User, login_password: str = "", current_payment_password: str = "",
                         new_payment_password: str, new_payment_password_again: str | None = None) -> None:
    """Set or change the payment password (ID-5): six digits, never equal to the login password. The first
    one is confirmed with the login password, a change with the current payment password; a form that asks
    for it twice passes ``new_payment_password_again``, which must match."""
    person = _require_person(user)
    if person.payment_password:
        if not check_password(current_payment_password, person.payment_password):
            raise DomainError("payment_password_wrong")
    elif not _login_password_matches(user, person, login_password):
        raise DomainError("password_wrong")
    if not PAYMENT_PASSWORD.fullmatch(new_payment_password or ""):
        raise DomainError("payment_password_format")
    if new_payment_password_again is not None and new_payment_password_again != new_payment_password:
        raise DomainError("payment_password_mismatch")
    if _login_password_matches(user, person, new_payment_password):
        raise DomainError("payment_password_same_as_login")
    with transaction.atomic():
        first_time = not person.payment_password
        person.payment_password = make_password(new_payment_password)
        person.payment_password_changed_at = clock.now()
        person.save(update_fields=["payment_password", "payment_password_changed_at", "updated_at"])
        audit_record(actor=Actor.by_user(user), action="payment_password_set" if first_time else "payment_password_changed",
                     obj=person)


def payment_password_verify(*, person: Person, secret: str) -> bool:
    return bool(person.payment_password) and check_password(secret, person.payment_password)


# Wrong passwords given to confirm a sensitive action (un-reporting a loss, #17): one bucket per holder,
# so a stolen, logged-in phone gets as few guesses as the login form gives.
CONFIRM_BUCKET = "holder_confirm"


def holder_confirm_wait(*, person: Person) -> int:
    """0 when the holder may try a password again, else the seconds to wait."""
    return throttle.bucket_wait(CONFIRM_BUCKET, str(person.pk), limit=settings.LOGIN_MAX_FAILURES,
                                window=settings.LOGIN_LOCK_SECONDS)


def holder_confirm_verify(*, person: Person, secret: str, login: bool = True) -> str:
    """Which of the holder's passwords ``secret`` is — ``"payment"`` or (when ``login``) ``"login"`` — or
    ``""`` when neither; a wrong one is counted in the holder's bucket (see ``holder_confirm_wait``)."""
    if payment_password_verify(person=person, secret=secret):
        return "payment"
    user = person.user if person.user_id else None
    if login and user is not None and secret and _login_password_matches(user, person, secret):
        return "login"
    throttle.bucket_hit(CONFIRM_BUCKET, str(person.pk), window=settings.LOGIN_LOCK_SECONDS,
                        limit=settings.LOGIN_MAX_FAILURES, hold=True)
    return ""


def query_password_set(*, user: User, login_password: str, new_query_password: str) -> None:
    """ID-6: the query password binds outside channels; it defaults to the last six of the ID."""
    person = _require_person(user)
    if not _login_password_matches(user, person, login_password):
        raise DomainError("password_wrong")
    if not 6 <= len(new_query_password or "") <= 20:
        raise DomainError("query_password_format")
    with transaction.atomic():
        person.query_password = make_password(new_query_password)
        person.save(update_fields=["query_password", "updated_at"])
        audit_record(actor=Actor.by_user(user), action="query_password_changed", obj=person)


def query_password_verify(*, person: Person, secret: str) -> bool:
    if person.query_password:
        return check_password(secret, person.query_password)
    return secret.upper() == initial_secret(person.id_number)


def _require_person(user: User) -> Person:
    person = _person_of(user)
    if person is None:
        raise DomainError("forbidden")
    return person


def person_create(*, actor: Actor, institution: Institution, number: str, name: str, kind: str,
                  id_type: str = IdType.RESIDENT, id_number: str, campus: Campus | None = None,
                  status: str = Person.Status.ACTIVE, department: str = "", phone: str = "",
                  email: str = "", source: str = Person.Source.MANUAL) -> Person:
    """Manual entry, e.g. a temporary (non-staff) holder at the service window (ID-1)."""
    try:
        id_number = validate_document(id_type, id_number)
    except ValueError as exc:
        raise DomainError("person_invalid", reason=str(exc))
    if campus is not None and campus.institution_id != institution.pk:
        raise DomainError("person_invalid", reason=_("the campus belongs to another institution"))
    try:
        with transaction.atomic():
            person = Person.objects.create(
                institution=institution, number=number.strip(), name=name.strip(), kind=kind, status=status,
                id_type=id_type, id_number=id_number, campus=campus, department=department, phone=phone,
                email=email, source=source)
            audit_record(actor=actor, action="person_created", obj=person, institution_id=institution.pk,
                         after={"number": person.number, "kind": kind})
    except IntegrityError:
        raise DomainError("person_invalid", reason=_("the number or ID document is already registered"))
    return person


def token_hash(*, token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_issue(*, user: User, name: str) -> tuple[APIToken, str]:
    """Create an integration's API token; the plain value is shown once and only its hash is stored."""
    plain = "cc_" + secrets.token_urlsafe(32)
    token = APIToken.objects.create(user=user, name=name, prefix=plain[:10], token_hash=token_hash(token=plain))
    return token, plain


# --- personal data shown unmasked (#18 item 7) --------------------------------------------------------

REVEAL_PERMISSION = "identity.reveal_personal_data"


def person_personal_data_reveal(*, actor: Actor, person: Person, where: str) -> dict[str, str]:
    """The person's ID and phone numbers in clear, for an operator entitled to them at the person's
    institution (``identity.reveal_personal_data``); every such look is audited, with where it was shown.
    Everyone else sees them masked (``identity.selectors.personal_data_masked``)."""
    authorize(actor.user, REVEAL_PERMISSION, person.institution_id)
    audit_record(actor=actor, action="personal_data_revealed", obj=person, institution_id=person.institution_id,
                 after={"fields": ["id_number", "phone"], "where": where})
    return {"id_number": person.id_number, "phone": person.phone}
