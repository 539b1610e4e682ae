"""Back-office home: the work waiting first (counts linking to the filtered lists, #17 item 6), then
figures and charts."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.models import Model
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campuscard.access.models import CampusEntryApproval, LabPermit
from campuscard.backoffice.person_selectors import action_label
from campuscard.cards.models import IssueBatch, Photo, Production
from campuscard.core import selectors as core_selectors
from campuscard.enrollment.models import Application
from campuscard.identity import selectors as identity_selectors
from campuscard.identity.models import Person
from campuscard.ledger import selectors as ledger_selectors
from campuscard.payments.models import Appeal
from campuscard.transit.models import Dispute


@dataclass(frozen=True)
class Queue:
    """One kind of work waiting: rows of `model` whose `field` is `value`, listed by its admin filtered so."""

    key: str
    label: str | Promise
    model: type[Model]
    field: str
    value: str
    icon: str  # inner SVG markup on a 24×24 grid


# The work an operator acts on, in the order of a card's life: to add one, append a Queue.
QUEUES = [
    Queue("applications", gettext_lazy("Applications to review"), Application, "state", Application.State.REVIEW,
          '<path d="M14 3H6a1 1 0 0 0-1 1v16a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1V8z"/><path d="M14 3v5h5M9 14l2 2 4-4"/>'),
    Queue("photos", gettext_lazy("Photos to review"), Photo, "state", Photo.State.PENDING,
          '<rect x="3" y="5" width="18" height="15" rx="2"/><circle cx="12" cy="12.5" r="3.5"/><path d="M8 5l1.5-2h5L16 5"/>'),
    Queue("appeals", gettext_lazy("Payment appeals"), Appeal, "state", Appeal.State.OPEN,
          '<path d="M12 3l9 16H3z"/><path d="M12 10v4M12 17v.5"/>'),
    Queue("disputes", gettext_lazy("Bus tap disputes"), Dispute, "state", Dispute.State.OPEN,
          '<rect x="4" y="3" width="16" height="15" rx="2"/><path d="M4 11h16M7 18v3M17 18v3"/>'
          '<circle cx="8" cy="14.5" r="1"/><circle cx="16" cy="14.5" r="1"/>'),
    Queue("production", gettext_lazy("Cards to print"), Production, "state", Production.State.REQUESTED,
          '<path d="M7 9V3h10v6M7 17H4v-7a1 1 0 0 1 1-1h14a1 1 0 0 1 1 1v7h-3"/><rect x="7" y="14" width="10" height="7"/>'),
    Queue("printed", gettext_lazy("Printed, to send to the pickup place"), Production, "state",
          Production.State.PRINTED,
          '<rect x="2.5" y="5" width="19" height="14" rx="2"/><path d="M2.5 10h19M15 15h3"/>'),
    Queue("collection", gettext_lazy("Waiting for collection"), Production, "state", Production.State.AT_KIOSK,
          '<path d="M3 9l9-5 9 5v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1z"/><path d="M9 20v-6h6v6"/>'),
    Queue("handovers", gettext_lazy("Batches to hand over to units"), IssueBatch, "state", IssueBatch.State.PRINTED,
          '<path d="M3 7l9-4 9 4-9 4zM3 7v10l9 4 9-4V7M12 11v10"/>'),
    Queue("permits", gettext_lazy("Lab permits to decide"), LabPermit, "state", LabPermit.State.REQUESTED,
          '<path d="M9 3h6M10 3v6l-5 9a2 2 0 0 0 1.8 3h10.4a2 2 0 0 0 1.8-3l-5-9V3"/><path d="M7.5 15h9"/>'),
    Queue("campus_entry", gettext_lazy("Campus-entry applications"), CampusEntryApproval, "state",
          CampusEntryApproval.State.REQUESTED,
          '<path d="M3 21V8l9-5 9 5v13"/><path d="M8 21v-8h8v8M3 21h18"/>'),
]


def work_waiting(request) -> list[dict]:
    """Each queue this operator may see, counted through its admin list's own queryset (so the count is the
    number of rows the link shows: institution and merchant scoping included), with the filtered list's link."""
    from django.contrib import admin

    rows = []
    for queue in QUEUES:
        model_admin = admin.site._registry.get(queue.model)
        if model_admin is None or not model_admin.has_view_permission(request):
            continue
        meta = queue.model._meta
        count = model_admin.get_queryset(request).filter(**{queue.field: queue.value}).count()
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        rows.append({"key": queue.key, "label": queue.label, "count": count, "icon": queue.icon,
                     "url": f"{url}?{queue.field}__exact={queue.value}"})
    return rows


PALETTE = ["#0b5cad", "#2f9e72", "#e8a33d", "#b54ad8", "#d0463b", "#5b6b82", "#15a3b8"]


def _labelled(row):
    row.label = action_label(row.action)  # the operator reads words, not audit codes
    return row


def dashboard_callback(request, context):
    user = request.user
    rows = identity_selectors.people_by_kind(user=user)
    institutions = sorted({r["institution__code"] for r in rows})
    kinds = [k for k in Person.Kind.values if any(r["kind"] == k for r in rows)]
    counts = {(r["institution__code"], r["kind"]): r["n"] for r in rows}
    chart = {
        "labels": [str(Person.Kind(k).label) for k in kinds],
        "datasets": [{"label": code, "data": [counts.get((code, k), 0) for k in kinds],
                      "backgroundColor": PALETTE[i % len(PALETTE)], "displayYAxis": True,
                      "maxBarThickness": 48, "borderRadius": 4}
                     for i, code in enumerate(institutions)],
    }
    context.update({
        "work": work_waiting(request),
        "kpis": [
            {"title": _("People"), "value": sum(r["n"] for r in rows)},
            {"title": _("Institutions"), "value": len(institutions)},
            {"title": _("Campuses"), "value": core_selectors.campuses_visible(user=user).count()},
            {"title": _("Service points & kiosks"), "value": core_selectors.service_points_visible(user=user).count()},
        ],
        "people_chart": json.dumps(chart),
        "worker": core_selectors.worker_status(),
        "reconciliation": ledger_selectors.last_runs() if user.is_superuser else None,
        "recent_audit": [_labelled(row) for row in core_selectors.audit_recent(user=user, limit=8)],
    })
    return context
