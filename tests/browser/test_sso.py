"""Single sign-on in a real browser (ID-4): the login page's 统一身份认证 button, the provider's own login
page (a real OpenID Connect provider in its own process), back logged in as the roster's holder; a
subject not on the roster is sent back with the reason. Then a channel bound and revoked (ID-6)."""

import pytest
from django.test import override_settings

from campuscard.identity.models import ChannelBinding, Person
from tests.identity.oidc_provider import running_provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PEOPLE = {
    "xiaoxue": {"password": "Provider-pass-1", "claims": {"student_number": "2024000001"}},
    "stranger": {"password": "Provider-pass-2", "claims": {"student_number": "2099999999"}},
}


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    with running_provider(tmp_path_factory.mktemp("oidc-browser"), PEOPLE) as running:
        yield running


@pytest.fixture
def sso(provider):
    with override_settings(**provider.settings()):
        yield provider


def _log_in_at_provider(page, username: str) -> None:
    page.wait_for_selector("#provider-login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PEOPLE[username]["password"])
    page.click("#provider-login button[type=submit]")


def test_sso_button_logs_the_holder_in_and_a_channel_is_bound_and_revoked(live_server, phone, screenshot, student,
                                                                          card, sso):
    page = phone
    page.goto(f"{live_server.url}/login/")
    assert page.locator("#sso-login").is_visible()
    screenshot(page, "portal-login-sso-zh")
    page.click("#sso-login")
    page.wait_for_url(f"{sso.url}/**")  # the provider's own login page
    screenshot(page, "sso-provider-login")
    _log_in_at_provider(page, "xiaoxue")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("#holder-name").inner_text() == student.name  # no forced password change
    screenshot(page, "portal-home-after-sso")
    person = Person.objects.select_related("user").get(pk=student.pk)
    assert person.user is not None and person.user.username == "uni.2024000001"

    # ID-6 in the same SSO session: bind a channel, see the token once, revoke it
    page.goto(f"{live_server.url}/security/")
    page.click("#channel-bind summary")
    page.fill("#channel-bind-form input[name=channel]", "校园卡小程序")
    page.check("#channel-bind-form input[value=balance]")
    page.check("#channel-bind-form input[value=loss_report]")
    page.click("#channel-bind-form button[type=submit]")
    token = page.locator("#channel-token").inner_text()
    assert token.startswith("ch_") and page.locator("#channel-bound svg").count() == 1
    screenshot(page, "portal-channel-bound")
    binding = ChannelBinding.objects.get()
    assert binding.scopes == ["balance", "loss_report"] and binding.via == ChannelBinding.Via.PORTAL

    page.goto(f"{live_server.url}/security/")
    assert page.locator(f"#binding-{binding.pk} .channel-name").inner_text() == "校园卡小程序"
    screenshot(page, "portal-security-bindings")
    page.click(f"#revoke-{binding.pk}")
    page.wait_for_selector(".flash")
    assert page.locator(f"#revoke-{binding.pk}").count() == 0
    binding.refresh_from_db()
    assert binding.revoked_at is not None
    screenshot(page, "portal-security-binding-revoked")


def test_sso_refuses_someone_not_on_the_roster_with_the_reason(live_server, phone, screenshot, student, sso):
    page = phone
    page.goto(f"{live_server.url}/login/")
    page.click("#sso-login")
    _log_in_at_provider(page, "stranger")
    page.wait_for_url(f"{live_server.url}/login/")
    flash = page.locator(".flash").inner_text()
    assert "2099999999" in flash
    screenshot(page, "portal-login-sso-refused")
    assert page.locator("#sso-login").is_visible()


def test_no_button_without_configuration(live_server, phone, institution):
    phone.goto(f"{live_server.url}/login/")
    assert phone.locator("#sso-login").count() == 0
