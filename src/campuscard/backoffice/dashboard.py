"""Back-office home: what an operator wants to see at a glance, as figures and charts."""

from __future__ import annotations

import json

from django.utils.translation import gettext as _

from campuscard.core import selectors as core_selectors
from campuscard.identity import selectors as identity_selectors
from campuscard.identity.models import Person
from campuscard.ledger import selectors as ledger_selectors

PALETTE = ["#0b5cad", "#2f9e72", "#e8a33d", "#b54ad8", "#d0463b", "#5b6b82", "#15a3b8"]


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
        "kpis": [
            {"title": _("People"), "value": sum(r["n"] for r in rows)},
            {"title": _("Institutions"), "value": len(institutions)},
            {"title": _("Campuses"), "value": core_selectors.campuses_visible(user=user).count()},
            {"title": _("Service points & kiosks"), "value": core_selectors.service_points_visible(user=user).count()},
        ],
        "people_chart": json.dumps(chart),
        "worker": core_selectors.worker_status(),
        "reconciliation": ledger_selectors.last_runs() if user.is_superuser else None,
        "recent_audit": core_selectors.audit_recent(user=user, limit=8),
    })
    return context
