"""Login, payment and query passwords (ID-3, ID-5, ID-6) and login throttling, through the real portal."""

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation

from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog
from campuscard.identity import services
from campuscard.identity.models import Person, User
from campuscard.identity.services import (
    password_change,
    payment_password_set,
    payment_password_verify,
    query_password_set,
    query_password_verify,
)
from tests.conftest import ID_ALICE
from tests.helpers import portal_login

pytestmark = pytest.mark.django_db

INITIAL_ALICE = "31002X"  # last six of ID_ALICE, X upper-case
INITIAL_BOB = "074528"
NEW_PASSWORD = "Campus-card-2026"
NOW = dt.datetime(2026, 9, 1, 2, 0, tzinfo=dt.UTC)


def login(client: Client, person: Person, password: str):
    return portal_login(client, institution=person.institution.code, number=person.number, password=password)


def form_errors(response) -> list[str]:
    return list(response.context["form"].non_field_errors())


def message(response, code: str, **params) -> str:
    """The message of ``code`` in the language the page was rendered in."""
    with translation.override(response.headers["Content-Language"]):
        return DomainError(code, **params).message


def logged_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def code_of(call) -> str | None:
    try:
        call()
    except DomainError as error:
        return error.code
    return None


def holder(person: Person, password: str = NEW_PASSWORD) -> User:
    """A holder who has logged in once and replaced the initial password (through the services)."""
    user = services.holder_user_ensure(person=person)
    password_change(user=user, old_password=services.initial_secret(person.id_number), new_password=password,
                    new_password_again=password)
    user.refresh_from_db()
    return user


def actions(obj) -> list[str]:
    rows = AuditLog.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
    return list(rows.order_by("id").values_list("action", flat=True))


# --- ID-3: first login with the initial password -----------------------------------------------------


def test_first_login_with_the_initial_password_creates_the_login(client, student):
    """ID-3: log in with the student number; the initial password is the last six of the ID, X upper-case."""
    assert student.user is None
    response = login(client, student, INITIAL_ALICE)
    assert response.status_code == 302
    assert response.url == reverse("portal:home")
    assert response.cookies["cc_institution"].value == student.institution.code
    student.refresh_from_db()
    user = student.user
    assert user is not None and logged_in_user(client) == user
    assert user.username == "uni.2024000001"
    assert user.institution == student.institution
    assert user.must_change_password is True
    assert not user.has_usable_password()
    assert AuditLog.objects.filter(action="holder_login_created", actor=user, object_id=str(user.pk),
                                   institution=student.institution).count() == 1


def test_second_login_with_the_initial_password_reuses_the_login(student):
    login(Client(), student, INITIAL_ALICE)
    login(Client(), student, INITIAL_ALICE)
    assert User.objects.filter(person=student).count() == 1
    assert AuditLog.objects.filter(action="holder_login_created").count() == 1


@pytest.mark.parametrize("password", [
    INITIAL_ALICE.lower(),  # ID-3: letters upper-case; the hint on the page says so
    ID_ALICE,  # the whole ID number
    ID_ALICE[:6],  # the first six
    "",
    "wrong-password",
])
def test_other_passwords_do_not_open_a_new_account(client, student, password):
    response = login(client, student, password)
    assert response.status_code == 200
    if password:
        assert form_errors(response) == [message(response, "login_failed")]
    assert logged_in_user(client) is None
    student.refresh_from_db()
    assert student.user is None
    assert not User.objects.exists()


def test_unknown_number_or_wrong_institution_fails_the_same_way(client, student, other_institution):
    for institution, number in ((student.institution.code, "2099999999"), (other_institution.code, student.number)):
        response = portal_login(client, institution=institution, number=number, password=INITIAL_ALICE)
        assert response.status_code == 200
        assert form_errors(response) == [message(response, "login_failed")]
    assert logged_in_user(client) is None
    assert not User.objects.exists()


def test_staff_log_in_with_their_staff_number(client, staff_member):
    """ID-3: staff log in with the staff number the same way (digits-only initial password here)."""
    response = login(client, staff_member, INITIAL_BOB)
    assert response.status_code == 302
    staff_member.refresh_from_db()
    assert logged_in_user(client) == staff_member.user
    assert staff_member.user.username == "uni.T00042"
    assert staff_member.user.must_change_password


def test_number_is_trimmed(client, student):
    response = portal_login(client, institution="uni", number=f"  {student.number} ", password=INITIAL_ALICE)
    assert response.status_code == 302


@pytest.mark.parametrize("path", ["/", "/security/", "/backoffice/", "/wallet/"])
def test_until_changed_every_other_page_redirects_to_the_change_page(client, student, path):
    """ID-3: the first login must change the initial password."""
    login(client, student, INITIAL_ALICE)
    response = client.get(path)
    assert response.status_code == 302
    assert response.url == reverse("portal:password_change")


def test_change_page_and_logout_stay_reachable(client, student):
    login(client, student, INITIAL_ALICE)
    page = client.get(reverse("portal:password_change"))
    assert page.status_code == 200
    assert page.context["forced"] is True
    response = client.post(reverse("portal:logout"))
    assert response.status_code == 302 and response.url == reverse("portal:login")
    assert logged_in_user(client) is None


# --- ID-3: changing the initial password -----------------------------------------------------------


def change(client: Client, old: str, new: str, again: str | None = None):
    return client.post(reverse("portal:password_change"),
                       {"old_password": old, "new_password": new, "new_password_again": new if again is None else again})


@pytest.mark.parametrize(("old", "new", "again", "code"), [
    ("wrong1", NEW_PASSWORD, None, "password_wrong"),
    (INITIAL_ALICE.lower(), NEW_PASSWORD, None, "password_wrong"),
    (INITIAL_ALICE, NEW_PASSWORD, NEW_PASSWORD + "x", "password_mismatch"),
    (INITIAL_ALICE, "Ab1-xyz", None, "password_invalid"),  # too short (8 at least)
    (INITIAL_ALICE, "20260901", None, "password_invalid"),  # digits only
    (INITIAL_ALICE, "password", None, "password_invalid"),  # a common password
    (INITIAL_ALICE, INITIAL_ALICE, None, "password_invalid"),  # the initial password again
])
def test_change_rules(client, student, old, new, again, code):
    """ID-3: the new password must be acceptable; a refusal changes nothing."""
    login(client, student, INITIAL_ALICE)
    user = logged_in_user(client)
    response = change(client, old, new, again)
    assert response.status_code == 200
    errors = form_errors(response)
    assert len(errors) == 1
    if code == "password_invalid":
        assert errors[0].startswith(message(response, code, reason="").strip().rstrip(":："))
    else:
        assert errors == [message(response, code)]
    assert code_of(lambda: password_change(user=user, old_password=old, new_password=new,
                                           new_password_again=new if again is None else again)) == code
    user.refresh_from_db()
    assert user.must_change_password and not user.has_usable_password()
    assert "login_password_changed" not in actions(user)
    assert client.get("/").status_code == 302  # still forced to the change page


def test_changing_the_initial_password(client, student):
    login(client, student, INITIAL_ALICE)
    response = change(client, INITIAL_ALICE, NEW_PASSWORD)
    assert response.status_code == 302 and response.url == reverse("portal:home")
    user = logged_in_user(client)
    assert user is not None, "the session survives the password change"
    assert not user.must_change_password
    assert user.check_password(NEW_PASSWORD)
    assert user.password.startswith("argon2")
    assert actions(user) == ["holder_login_created", "login_password_changed"]
    assert client.get(reverse("portal:security")).status_code == 200  # no more redirects


def test_after_the_change_only_the_new_password_works(student):
    client = Client()
    login(client, student, INITIAL_ALICE)
    change(client, INITIAL_ALICE, NEW_PASSWORD)

    again = Client()
    response = login(again, student, INITIAL_ALICE)
    assert response.status_code == 200
    assert form_errors(response) == [message(response, "login_failed")]
    assert logged_in_user(again) is None
    response = login(again, student, NEW_PASSWORD)
    assert response.status_code == 302
    assert logged_in_user(again) == User.objects.get(person=student)


def test_later_changes_need_the_current_password(student):
    user = holder(student)
    assert code_of(lambda: password_change(user=user, old_password=INITIAL_ALICE, new_password="Another-pass-9",
                                           new_password_again="Another-pass-9")) == "password_wrong"
    password_change(user=user, old_password=NEW_PASSWORD, new_password="Another-pass-9",
                    new_password_again="Another-pass-9")
    user.refresh_from_db()
    assert user.check_password("Another-pass-9")


def test_a_deactivated_holder_cannot_log_in_even_with_the_initial_password(student):
    login(Client(), student, INITIAL_ALICE)
    user = User.objects.get(person=student)
    user.is_active = False
    user.save()
    client = Client()
    response = login(client, student, INITIAL_ALICE)
    assert response.status_code == 200
    assert logged_in_user(client) is None


# --- throttling -----------------------------------------------------------------------------------------


def test_wrong_passwords_lock_the_account(student, staff_member):
    """N wrong passwords (settings.LOGIN_MAX_FAILURES) lock the account; even the right one then fails."""
    limit = settings.LOGIN_MAX_FAILURES
    minutes = -(-settings.LOGIN_LOCK_SECONDS // 60)
    client = Client()
    with clock.frozen_at(NOW):
        for attempt in range(1, limit + 1):
            response = login(client, student, f"wrong-{attempt}")
            expected = "login_locked" if attempt == limit else "login_failed"
            assert form_errors(response) == [message(response, expected, minutes=minutes)], attempt
        response = login(client, student, INITIAL_ALICE)
        assert response.status_code == 200
        assert form_errors(response) == [message(response, "login_locked", minutes=minutes)]
        assert logged_in_user(client) is None
        student.refresh_from_db()
        assert student.user is None  # the locked login did not even create the account

        # other accounts are not affected
        other = Client()
        assert login(other, staff_member, INITIAL_BOB).status_code == 302
        assert logged_in_user(other) is not None

    with clock.frozen_at(NOW + dt.timedelta(seconds=settings.LOGIN_LOCK_SECONDS - 59)):
        response = login(client, student, INITIAL_ALICE)
        assert form_errors(response) == [message(response, "login_locked", minutes=1)]
    with clock.frozen_at(NOW + dt.timedelta(seconds=settings.LOGIN_LOCK_SECONDS + 1)):
        assert login(client, student, INITIAL_ALICE).status_code == 302  # the lock has run out


def test_lock_applies_to_a_changed_password_too(student):
    holder(student)
    client = Client()
    for attempt in range(settings.LOGIN_MAX_FAILURES):
        login(client, student, f"wrong-{attempt}")
    response = login(client, student, NEW_PASSWORD)
    assert response.status_code == 200
    assert logged_in_user(client) is None


def test_a_successful_login_resets_the_count(student):
    client = Client()
    for attempt in range(settings.LOGIN_MAX_FAILURES - 1):
        login(client, student, f"wrong-{attempt}")
    assert login(client, student, INITIAL_ALICE).status_code == 302
    client.post(reverse("portal:logout"))
    for attempt in range(settings.LOGIN_MAX_FAILURES - 1):
        login(client, student, f"wrong-{attempt}")
    assert login(client, student, INITIAL_ALICE).status_code == 302


@override_settings(LOGIN_MAX_FAILURES=2)
def test_the_limit_is_configuration(student):
    client = Client()
    login(client, student, "wrong-1")
    response = login(client, student, "wrong-2")
    assert form_errors(response) == [message(response, "login_locked",
                                             minutes=-(-settings.LOGIN_LOCK_SECONDS // 60))]


def test_a_stranger_at_another_address_cannot_lock_the_holder_out(student):
    """#18 item 9: five wrong passwords locked any account (numbers are sequential) for everyone."""
    stranger, owner = Client(REMOTE_ADDR="10.9.9.9"), Client(REMOTE_ADDR="10.1.1.1")
    with clock.frozen_at(NOW):
        for attempt in range(settings.LOGIN_MAX_FAILURES + 2):
            response = login(stranger, student, f"wrong-{attempt}")
        assert form_errors(response)[0] == message(response, "login_locked",
                                                   minutes=-(-settings.LOGIN_LOCK_SECONDS // 60))
        assert login(owner, student, INITIAL_ALICE).status_code == 302


@override_settings(LOGIN_ACCOUNT_MAX_FAILURES=6)
def test_guessing_one_account_from_many_addresses_locks_it_everywhere(student):
    with clock.frozen_at(NOW):
        for attempt in range(6):
            login(Client(REMOTE_ADDR=f"10.0.0.{attempt + 1}"), student, f"wrong-{attempt}")
        response = login(Client(REMOTE_ADDR="10.1.1.1"), student, INITIAL_ALICE)
        assert response.status_code == 200 and form_errors(response)[0].startswith(
            message(response, "login_locked", minutes=1)[:4])


def test_spraying_numbers_from_one_address_stops_at_the_address_limit(institution, student):
    """#18 item 9: 40 accounts sprayed from one address were all tried."""
    sprayer = Client(REMOTE_ADDR="10.6.6.6")
    with clock.frozen_at(NOW):
        answers = [portal_login(sprayer, institution=institution.code, number=f"2099{n:06d}", password="123456")
                   for n in range(40)]
        codes = ["login_locked" if form_errors(r)[0] != message(r, "login_failed") else "login_failed" for r in answers]
        # the attempt that reaches the limit is tried and answered "locked", as for one account
        assert codes.count("login_failed") == settings.LOGIN_ADDRESS_MAX_FAILURES - 1
        # the real holder's right password from that address waits too; from elsewhere it works
        assert login(sprayer, student, INITIAL_ALICE).status_code == 200
        assert login(Client(REMOTE_ADDR="10.1.1.1"), student, INITIAL_ALICE).status_code == 302
    with clock.frozen_at(NOW + dt.timedelta(seconds=settings.LOGIN_ADDRESS_WINDOW_SECONDS + 1)):
        assert login(sprayer, student, INITIAL_ALICE).status_code == 302  # minutes, not a long lock-out


@override_settings(TRUSTED_PROXIES=["127.0.0.1"])
def test_the_client_address_comes_from_a_trusted_proxy_only(rf):
    from campuscard.identity.throttle import client_address

    via_proxy = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 10.2.3.4, 127.0.0.1")
    assert client_address(via_proxy) == "10.2.3.4"  # what a client wrote before the proxy's entry is ignored
    direct = rf.get("/", REMOTE_ADDR="10.7.7.7", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_address(direct) == "10.7.7.7"  # not from the proxy: the header is not believed
    with override_settings(TRUSTED_PROXIES=[]):
        assert client_address(via_proxy) == "127.0.0.1"


# --- ID-5: payment password ----------------------------------------------------------------------------


def test_setting_the_payment_password_needs_the_login_password(student):
    """ID-5: the payment password is set separately, confirmed with the login password."""
    user = holder(student)
    assert code_of(lambda: payment_password_set(user=user, login_password="wrong",
                                                new_payment_password="246813")) == "password_wrong"
    student.refresh_from_db()
    assert student.payment_password == "" and student.payment_password_changed_at is None
    with clock.frozen_at(NOW):
        payment_password_set(user=user, login_password=NEW_PASSWORD, new_payment_password="246813")
    student.refresh_from_db()
    assert student.payment_password.startswith("argon2")  # a hash, never the digits
    assert "246813" not in student.payment_password
    assert student.payment_password_changed_at == NOW
    assert payment_password_verify(person=student, secret="246813")
    assert not payment_password_verify(person=student, secret="246814")
    assert actions(student) == ["payment_password_set"]
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)  # the login password is untouched


@pytest.mark.parametrize("secret", ["12345", "1234567", "12345a", "１２３４５６", "١٢٣٤٥٦", " 123456", "123456\n", ""])
def test_payment_password_must_be_six_digits(student, secret):
    user = holder(student)
    assert code_of(lambda: payment_password_set(user=user, login_password=NEW_PASSWORD,
                                                new_payment_password=secret)) == "payment_password_format"
    student.refresh_from_db()
    assert not student.has_payment_password


def test_payment_password_may_not_equal_the_initial_login_password(staff_member):
    """ID-5: they may not be equal — here the login password is still the initial "074528"."""
    user = services.holder_user_ensure(person=staff_member)
    assert code_of(lambda: payment_password_set(user=user, login_password=INITIAL_BOB,
                                                new_payment_password=INITIAL_BOB)) == "payment_password_same_as_login"
    staff_member.refresh_from_db()
    assert not staff_member.has_payment_password
    payment_password_set(user=user, login_password=INITIAL_BOB, new_payment_password="135724")
    staff_member.refresh_from_db()
    assert payment_password_verify(person=staff_member, secret="135724")


@override_settings(AUTH_PASSWORD_VALIDATORS=[])
def test_payment_password_may_not_equal_the_login_password(student):
    """ID-5, payment → login direction, with validators that allow a six-digit login password."""
    user = holder(student, password="135724")
    assert code_of(lambda: payment_password_set(user=user, login_password="135724",
                                                new_payment_password="135724")) == "payment_password_same_as_login"
    student.refresh_from_db()
    assert not student.has_payment_password and actions(student) == []


@override_settings(AUTH_PASSWORD_VALIDATORS=[])
def test_login_password_may_not_equal_the_payment_password(student):
    """ID-5, login → payment direction: a new login password equal to the payment password is refused."""
    user = holder(student, password="Old-login-1")
    payment_password_set(user=user, login_password="Old-login-1", new_payment_password="246813")
    before = user.password
    assert code_of(lambda: password_change(user=user, old_password="Old-login-1", new_password="246813",
                                           new_password_again="246813")) == "password_same_as_payment"
    user.refresh_from_db()
    assert user.password == before and user.check_password("Old-login-1")


def test_with_the_default_validators_a_six_digit_login_password_is_refused_anyway(student):
    """ID-5 by construction: login passwords are 8+ characters, not only digits; payment passwords 6 digits."""
    user = holder(student, password="Old-login-1")
    payment_password_set(user=user, login_password="Old-login-1", new_payment_password="246813")
    before = user.password
    assert code_of(lambda: password_change(user=user, old_password="Old-login-1", new_password="246813",
                                           new_password_again="246813")) == "password_invalid"
    user.refresh_from_db()
    assert user.password == before


def test_changing_the_payment_password_needs_the_current_one(student):
    user = holder(student)
    payment_password_set(user=user, login_password=NEW_PASSWORD, new_payment_password="246813")
    student.refresh_from_db()
    stored = student.payment_password
    for current in ("", "000000", NEW_PASSWORD):
        assert code_of(lambda c=current: payment_password_set(
            user=user, login_password=NEW_PASSWORD, current_payment_password=c,
            new_payment_password="975312")) == "payment_password_wrong"
    student.refresh_from_db()
    assert student.payment_password == stored
    payment_password_set(user=user, login_password="", current_payment_password="246813",
                         new_payment_password="975312")  # the change needs the payment password only
    student.refresh_from_db()
    assert payment_password_verify(person=student, secret="975312")
    assert not payment_password_verify(person=student, secret="246813")
    assert actions(student) == ["payment_password_set", "payment_password_changed"]


def test_only_holders_have_a_payment_password(make_operator, institution):
    operator = make_operator(institution, "card_center_operator")
    assert code_of(lambda: payment_password_set(user=operator, login_password="Operator-pass-1",
                                                new_payment_password="246813")) == "forbidden"


def test_payment_password_on_the_security_page(client, student):
    login(client, student, INITIAL_ALICE)
    change(client, INITIAL_ALICE, NEW_PASSWORD)
    url = reverse("portal:security")
    first = {"form": "payment", "new_payment_password": "246813", "new_payment_password_again": "246813"}
    response = client.post(url, {**first, "login_password": "nope"})
    assert response.status_code == 200
    assert list(response.context["payment_form"].non_field_errors()) == [message(response, "password_wrong")]
    response = client.post(url, {**first, "login_password": NEW_PASSWORD})
    assert response.status_code == 302 and response.url == url
    student.refresh_from_db()
    assert payment_password_verify(person=student, secret="246813")


def test_the_payment_password_form_asks_only_what_applies_and_twice(client, student):
    """#17 item 11: the first payment password is confirmed with the login password (no "current payment
    password" field), a change with the current one (no login password field); the new one twice."""
    login(client, student, INITIAL_ALICE)
    change(client, INITIAL_ALICE, NEW_PASSWORD)
    url = reverse("portal:security")
    fields = list(client.get(url).context["payment_form"].fields)
    assert fields == ["login_password", "new_payment_password", "new_payment_password_again"]
    mismatch = client.post(url, {"form": "payment", "login_password": NEW_PASSWORD, "new_payment_password": "246813",
                                 "new_payment_password_again": "246831"})
    assert list(mismatch.context["payment_form"].non_field_errors()) == [
        message(mismatch, "payment_password_mismatch")]
    student.refresh_from_db()
    assert not student.payment_password and actions(student) == []
    client.post(url, {"form": "payment", "login_password": NEW_PASSWORD, "new_payment_password": "246813",
                      "new_payment_password_again": "246813"})
    fields = list(client.get(url).context["payment_form"].fields)
    assert fields == ["current_payment_password", "new_payment_password", "new_payment_password_again"]
    missing = client.post(url, {"form": "payment", "new_payment_password": "975312",
                                "new_payment_password_again": "975312"})
    assert "current_payment_password" in missing.context["payment_form"].errors
    mismatch = client.post(url, {"form": "payment", "current_payment_password": "246813",
                                 "new_payment_password": "975312", "new_payment_password_again": "975321"})
    assert list(mismatch.context["payment_form"].non_field_errors()) == [
        message(mismatch, "payment_password_mismatch")]
    student.refresh_from_db()
    assert payment_password_verify(person=student, secret="246813")
    changed = client.post(url, {"form": "payment", "current_payment_password": "246813",
                                "new_payment_password": "975312", "new_payment_password_again": "975312"})
    assert changed.status_code == 302
    student.refresh_from_db()
    assert payment_password_verify(person=student, secret="975312")
    assert actions(student) == ["payment_password_set", "payment_password_changed"]


# --- ID-6: query password ----------------------------------------------------------------------------


def test_query_password_defaults_to_the_last_six_of_the_id(student):
    """ID-6: the default query password is the last six of the ID number."""
    assert student.query_password == ""
    assert query_password_verify(person=student, secret=INITIAL_ALICE)
    assert query_password_verify(person=student, secret=INITIAL_ALICE.lower())
    assert not query_password_verify(person=student, secret="31002Y")
    assert not query_password_verify(person=student, secret=ID_ALICE)


def test_changing_the_query_password_needs_the_login_password(student):
    user = holder(student)
    assert code_of(lambda: query_password_set(user=user, login_password="wrong",
                                              new_query_password="bind-me-77")) == "password_wrong"
    for bad in ("12345", "x" * 21, ""):
        assert code_of(lambda b=bad: query_password_set(user=user, login_password=NEW_PASSWORD,
                                                        new_query_password=b)) == "query_password_format"
    student.refresh_from_db()
    assert student.query_password == "" and actions(student) == []

    query_password_set(user=user, login_password=NEW_PASSWORD, new_query_password="bind-me-77")
    student.refresh_from_db()
    assert student.query_password.startswith("argon2")
    assert check_password("bind-me-77", student.query_password)
    assert query_password_verify(person=student, secret="bind-me-77")
    assert not query_password_verify(person=student, secret=INITIAL_ALICE)  # the default is gone
    assert actions(student) == ["query_password_changed"]
    assert AuditLog.objects.get(action="query_password_changed").actor == user


def test_query_password_on_the_security_page(client, student):
    login(client, student, INITIAL_ALICE)
    change(client, INITIAL_ALICE, NEW_PASSWORD)
    response = client.post(reverse("portal:security"),
                           {"form": "query", "login_password": NEW_PASSWORD, "new_query_password": "123456"})
    assert response.status_code == 302
    student.refresh_from_db()
    assert query_password_verify(person=student, secret="123456")
    assert not payment_password_verify(person=student, secret="123456")  # ID-5: separate secrets
