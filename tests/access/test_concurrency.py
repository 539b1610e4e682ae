"""Requests that race on PostgreSQL (SQLite lets one writer in at a time, so it cannot show these)."""

from __future__ import annotations

import pytest
from django.db import connection

from campuscard.access import services
from campuscard.access.models import AccessEvent
from campuscard.cards.models import PackageAddon
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.core.models import AuditLog
from tests.access.conftest import NOON, holder
from tests.helpers import at_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("races need a database that lets writers run at once")


def test_the_lab_add_on_added_by_many_clicks_at_once_is_one_add_on(institution):
    person, _card, _uid = holder(institution)
    results, errors = at_once(8, lambda _n: services.access_addon_grant(actor=Actor.system("portal"), person=person).pk)
    assert not errors and len(set(results)) == 1
    assert PackageAddon.objects.filter(person=person, revoked_at=None).count() == 1
    assert AuditLog.objects.filter(action="card_package_changed").count() == 1


def test_one_offline_buffer_uploaded_twice_at_once_is_stored_once(institution, place, gate):
    device, _secret = gate
    events = [{"sequence": n, "zone": "teach-1", "decided_at": NOON.isoformat(), "admitted": True,
               "rule": "admit_teaching"} for n in range(1, 201)]
    with frozen_at(NOON):
        results, errors = at_once(4, lambda _n: services.events_upload(device=device, events=events))
    assert not errors and all(r["rejected"] == [] for r in results)
    assert AccessEvent.objects.filter(device=device).count() == 200
    assert sorted(AccessEvent.objects.values_list("sequence", flat=True)) == list(range(1, 201))


def test_two_identical_offline_uploads_at_once_count_each_event_once(institution, place, gate):
    """Both used to answer accepted = 200 for 200 events stored once: the counts must add up to what was stored."""
    device, _secret = gate
    events = [{"sequence": n, "zone": "teach-1", "decided_at": NOON.isoformat(), "admitted": True,
               "rule": "admit_teaching"} for n in range(1, 201)]
    with frozen_at(NOON):
        results, errors = at_once(4, lambda _n: services.events_upload(device=device, events=events))
    assert not errors and len(results) == 4
    assert sum(r["accepted"] for r in results) == 200 == AccessEvent.objects.filter(device=device).count()
    assert all(r["accepted"] + r["duplicates"] == 200 for r in results)
