"""#18 items 6 and 9: every portal and device page runs under the strict Content-Security-Policy with no
violation, and the back office's main pages run under theirs (campuscard/core/csp.py).

The pages are the accessibility check's own list (PORTAL_PAGES, DEVICE_PAGES, with their `act` steps: a sale,
a gate decision, a question to the assistant), so a new page is checked here too. Violations are collected
twice: the `securitypolicyviolation` DOM event (an init script, which CSP does not govern) and Chromium's own
console message ("Refused to … because it violates the following Content Security Policy directive").
"""

from __future__ import annotations

import pytest

from tests.browser.test_accessibility import DEVICE_PAGES, PASSWORD, PORTAL_PAGES, A11yPage, _open, world  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP-VIOLATION ${e.violatedDirective} blocked=${e.blockedURI} at ${e.sourceFile}:${e.lineNumber} `
                + `sample=${e.sample}`);
});
"""


def watch(page) -> list[str]:
    """Every CSP violation the page reports from now on (across navigations)."""
    seen: list[str] = []
    page.context.add_init_script(WATCH)
    page.on("console", lambda msg: seen.append(f"{page.url}: {msg.text}") if (
        "CSP-VIOLATION" in msg.text or "Content Security Policy" in msg.text) else None)
    return seen


def settle(page):
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # deferred scripts and htmx's start-up have run; their violations are logged


@pytest.fixture
def tablet(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    yield page
    context.close()


@pytest.mark.parametrize("spec", PORTAL_PAGES + DEVICE_PAGES, ids=lambda spec: spec.name)
def test_page_runs_under_the_strict_policy_without_violation(live_server, phone, tablet, screenshot, world,  # noqa: F811
                                                            spec: A11yPage):
    page = phone if spec in PORTAL_PAGES else tablet
    seen = watch(page)
    _open(page, live_server.url, spec, world)
    settle(page)
    screenshot(page, f"csp-{spec.name}")  # styles moved out of <style> blocks: the pages still look the same
    response = page.request.get(live_server.url + spec.url(world))
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert page.evaluate("typeof htmx === 'undefined' || htmx.config.includeIndicatorStyles === false")
    assert not seen, "\n".join(seen)


def test_strict_pages_still_do_what_their_handlers_did(live_server, phone, world):  # noqa: F811
    """The moved handlers work: a preset fills the amount, a confirm can be declined, a month change submits."""
    seen = watch(phone)
    _open(phone, live_server.url, next(s for s in PORTAL_PAGES if s.name == "recharge"), world)
    settle(phone)
    phone.locator(".presets [data-fill]").first.click()
    assert phone.input_value("#amount") == phone.locator(".presets [data-fill]").first.get_attribute("data-value")

    phone.goto(f"{live_server.url}/cards/")
    settle(phone)
    phone.once("dialog", lambda dialog: dialog.dismiss())
    phone.click(f"#lost-{world['card'].number}")
    phone.wait_for_timeout(300)
    world["card"].refresh_from_db()
    assert world["card"].state != "lost"  # declined: nothing was posted

    phone.goto(f"{live_server.url}/wallet/statement/")
    settle(phone)
    with phone.expect_navigation():
        phone.fill("input[name=month]", "2026-01")  # fires change: data-autosubmit submits the form
    settle(phone)
    assert "month=2026-01" in phone.url
    assert not seen, "\n".join(seen)

    # and the watch would see one: an inline script put into the page is refused and reported
    phone.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.ran = 1";
                               document.body.append(s); }""")
    phone.wait_for_timeout(300)
    assert phone.evaluate("window.ran") is None
    assert any("script-src" in line for line in seen), seen


BACKOFFICE_PAGES = [
    ("dashboard", "/backoffice/"),
    ("person-list", "/backoffice/identity/person/"),
    ("person-change", "person"),
]


def test_backoffice_main_pages_run_under_their_policy(live_server, desktop, world, make_operator):  # noqa: F811
    base = live_server.url
    make_operator(world["institution"], "institution_admin", "csp-admin")
    seen = watch(desktop)
    desktop.goto(f"{base}/backoffice/login/")
    settle(desktop)
    header = desktop.request.get(f"{base}/backoffice/login/").headers["content-security-policy"]
    policy = dict(part.strip().split(" ", 1) for part in header.split(";"))
    assert policy["script-src"] == "'self' 'unsafe-eval'"  # unfold's Alpine; never an inline script
    desktop.fill("input[name=username]", "csp-admin")
    desktop.fill("input[name=password]", "Operator-pass-1")
    desktop.click("button[type=submit]")
    desktop.wait_for_load_state()
    settle(desktop)
    assert "/login/" not in desktop.url, desktop.url
    for _name, path in BACKOFFICE_PAGES:
        url = f"/backoffice/identity/person/{world['person'].pk}/change/" if path == "person" else path
        desktop.goto(base + url)
        settle(desktop)
        assert desktop.locator("#content, main, body").first.is_visible()
    assert not seen, "\n".join(seen)
