"""Desks that race on PostgreSQL (SQLite lets one writer in at a time): a return sent twice at once charges
the rate once; one item checked out by two desks at once goes out once, with one deposit held."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from campuscard.core import clock
from campuscard.ledger.checks import ledger_check
from campuscard.ledger.selectors import account_balances
from campuscard.payments.models import Hold, Payment
from campuscard.rental import services
from campuscard.rental.models import Rental
from tests.access.test_concurrency import at_once
from tests.rental.conftest import UID

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("races need PostgreSQL, which lets writers run at once")


def test_a_return_sent_twice_at_once_charges_the_rate_once(funded, camera, desk):
    with clock.frozen_at(T0):
        card = services.desk_identify(actor=desk, institution_id=funded.institution_id, nfc_uid=UID)
        rental = services.rental_checkout(actor=desk, card=card, item_code=camera.code, key="race")
    with clock.frozen_at(T0 + dt.timedelta(hours=3, minutes=30)):  # 4 started hours × ¥8 = ¥32: ¥12 beyond the deposit
        results, errors = at_once(4, lambda _n: services.rental_return(actor=desk, rental=rental).fee)
    assert not errors and results == [3200] * 4
    assert sorted(Payment.objects.values_list("amount", flat=True)) == [1200, 2000]
    assert account_balances(account_id=funded.wallet_account_id).posted == 50_000 - 3200
    assert Rental.objects.get().settled_at is not None
    assert ledger_check().ok


def test_one_item_checked_out_by_two_desks_at_once_goes_out_once(funded, racket, desk):
    with clock.frozen_at(T0):
        card = services.desk_identify(actor=desk, institution_id=funded.institution_id, nfc_uid=UID)

        def attempt(n: int):
            return services.rental_checkout(actor=desk, card=card, item_code=racket.code, key=f"desk-{n}").pk

        results, errors = at_once(4, attempt)
    assert len(results) == 1 and {e.code for e in errors} == {"rental_item_out"}
    assert Rental.objects.count() == 1 and Hold.objects.count() == 1
    assert account_balances(account_id=funded.wallet_account_id).available == 47_000
    assert ledger_check().ok
