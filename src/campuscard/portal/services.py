"""The holder's home, as one registry: every service tile the home shows is one `Service` here (#17 item 6).

To add a service to the home, append one `Service(...)` to `SERVICES` below: the portal URL name it opens,
an inline SVG icon (paths on a 24×24 grid, drawn with `stroke="currentColor"`; never an emoji — the fonts
the README installs render emoji as empty boxes), a short label and hint (gettext_lazy), and, when not
every holder has it, a `visible(person)` check (e.g. the holder's package has the add-on). The tile's
element id is `tile-<key>` (tests click it). `section="account"` puts it under "Account and security"
instead of the services grid. Presentation only: a check calls the owning app's selectors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from campuscard.cards.models import Card
from campuscard.dorm import selectors as dorm_selectors
from campuscard.enrollment import selectors as enrollment_selectors
from campuscard.identity.models import Person

SERVICES_SECTION = "services"
ACCOUNT_SECTION = "account"


def _always(person: Person) -> bool:
    return True


def _applying(person: Person) -> bool:
    """The application tile: for a holder without an active card, or while their application is open."""
    if not Card.objects.filter(person=person, state=Card.State.ACTIVE).exists():
        return True
    application = enrollment_selectors.application_of(person=person)
    return application is not None and application.state in application.OPEN_STATES


@dataclass(frozen=True)
class Service:
    key: str
    url_name: str  # a portal URL name ("portal:wallet"); or a path starting with "/"
    icon: str  # inner SVG markup on a 24×24 grid (paths, rects, circles)
    label: str | Promise
    hint: str | Promise = ""
    visible: Callable[[Person], bool] = _always
    section: str = SERVICES_SECTION
    anchor: str = ""

    @property
    def url(self) -> str:
        target = self.url_name if self.url_name.startswith("/") else reverse(self.url_name)
        return target + (f"#{self.anchor}" if self.anchor else "")

    @property
    def svg(self) -> SafeString:
        return mark_safe(  # noqa: S308 — the markup is this module's own constant, never user input
            f'<svg class="svc-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">{self.icon}</svg>')


SERVICES: list[Service] = [
    Service("cards", "portal:cards",
            '<rect x="2.5" y="5" width="19" height="14" rx="2"/><circle cx="8" cy="11" r="2"/>'
            '<path d="M5.5 16c.6-1.4 1.5-2 2.5-2s1.9.6 2.5 2M14 10h5M14 14h4"/>',
            _("My cards"), _("loss, replacement, photo")),
    Service("wallet", "portal:wallet",
            '<rect x="2.5" y="5" width="19" height="14" rx="2"/><path d="M2.5 10h19M6 15h4"/>',
            _("Wallet"), _("balance and transactions")),
    Service("payments", "portal:payments",
            '<path d="M6 3h12v18l-3-2-3 2-3-2-3 2z"/><path d="M9 8h6M9 12h6M9 16h3"/>',
            _("My payments"), _("receipts and appeals")),
    Service("canteens", "portal:canteens",
            '<path d="M4 11h16a8 8 0 0 1-16 0zM9 7c0-1.5 1-1.5 1-3M13 7c0-1.5 1-1.5 1-3M3 21h18"/>',
            _("Canteens now"), _("find a quieter one")),
    Service("access", "portal:access",
            '<path d="M4 21V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v17M2 21h20M16 5h3a1 1 0 0 1 1 1v15"/>'
            '<circle cx="12.5" cy="12" r="1"/>',
            _("Access"), _("campus entry, labs, visitors")),
    Service("limits", "portal:payment_limits",
            '<path d="M4 20V10M10 20V4M16 20v-7M22 20H2"/>',
            _("Spending limit"), _("daily limit, payment password")),
    Service("apply", "portal:apply",
            '<path d="M14 3H6a1 1 0 0 0-1 1v16a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1V8z"/><path d="M14 3v5h5M9 13h6M9 17h4"/>',
            _("Apply for a campus card"), _("application and its status"), visible=_applying),
    Service("rentals", "portal:rentals",
            '<circle cx="12" cy="12" r="8"/><path d="M4.5 9.5c3 1 12 1 15 0M4.5 14.5c3-1 12-1 15 0M12 4c-2.5 2.5-2.5 13.5 0 16"/>',
            _("Equipment rental"), _("sports and lab equipment")),
    Service("health", "portal:health",
            '<path d="M12 20s-7-4.4-7-10a4 4 0 0 1 7-2.6A4 4 0 0 1 19 10c0 5.6-7 10-7 10z"/><path d="M9 11h6M12 8v6"/>',
            _("Health records"), _("examinations, vaccinations, who read them")),
    Service("study", "portal:study",
            '<path d="M3 10h18M5 10v9M19 10v9M8 10V6h8v4M9 19h6"/>',
            _("Study rooms"), _("free seats, book a desk")),
    Service("exams", "portal:exams",
            '<rect x="5" y="3" width="14" height="18" rx="1"/><path d="M9 8h6M9 12h6M9 16l2 2 4-4"/>',
            _("My exams"), _("room, seat, check-in code")),
    Service("library", "portal:library",
            '<path d="M4 5a2 2 0 0 1 2-2h5v17H6a2 2 0 0 0-2 2zM20 5a2 2 0 0 0-2-2h-5v17h5a2 2 0 0 1 2 2z"/>',
            _("Library loans"), _("due dates and reminders")),
    Service("dorm", "portal:dorm",
            '<path d="M13 2 5 13h6l-1 9 8-11h-6z"/>',
            _("Dorm electricity"), _("room balance, top up"), visible=dorm_selectors.shows_electricity),
    Service("laundry", "portal:laundry",
            '<rect x="4" y="2.5" width="16" height="19" rx="2"/><circle cx="12" cy="13" r="5"/>'
            '<path d="M7 6h2M14 6h3M9.5 14.5c1.5 1 3.5 1 5 0"/>',
            _("Laundry"), _("book a machine"), visible=dorm_selectors.shows_laundry),
    Service("transit", "portal:transit",
            '<rect x="5" y="3" width="14" height="15" rx="2"/><path d="M5 11h14M8 21l1-3M16 21l-1-3"/>'
            '<circle cx="8.5" cy="14.5" r=".8"/><circle cx="15.5" cy="14.5" r=".8"/>',
            _("City buses"), _("bind your card, rides, student fare")),
    Service("messages", "portal:notifications",
            '<path d="M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0"/>',
            _("Messages"), _("notifications")),
    Service("assistant", "portal:assistant",
            '<path d="M4 5h16v11H9l-5 4z"/><path d="M8 9h8M8 12h5"/>',
            _("Ask the assistant"), _("24-hour help, in Chinese or English")),
    Service("service-points", "portal:service_points",
            '<path d="M12 21s-6-5.6-6-11a6 6 0 0 1 12 0c0 5.4-6 11-6 11z"/><circle cx="12" cy="10" r="2.2"/>',
            _("Service points"), _("kiosks and windows open now")),
    Service("payment-password", "portal:security",
            '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>'
            '<circle cx="12" cy="16" r="1.2"/>',
            _("Payment password"), _("set or change"), section=ACCOUNT_SECTION),
    Service("query-password", "portal:security",
            '<path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1"/>'
            '<path d="M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"/>',
            _("Query password"), _("bind other channels"), section=ACCOUNT_SECTION, anchor="query"),
    Service("login-password", "portal:password_change",
            '<path d="M12 3l8 3v6c0 4.5-3.4 8.3-8 9-4.6-.7-8-4.5-8-9V6z"/><path d="M9 12l2 2 4-4"/>',
            _("Login password"), _("change"), section=ACCOUNT_SECTION),
]


def services_for(*, person: Person, section: str = SERVICES_SECTION) -> list[Service]:
    """The tiles this holder sees, in registry order."""
    return [service for service in SERVICES if service.section == section and service.visible(person)]
