"""The database router (#18 item 2): with DATABASE_REPLICA_URL, reports, statements and charts may be
read from the replica; money — a payment, a recharge, the ledger — is read and written on the primary."""

from __future__ import annotations

import pytest
from django.db import connections, transaction

from campuscard.cards import codes
from campuscard.cards.selectors import qr_credential
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.dbrouter import REPLICA, ReplicaRouter, lagging_reads
from campuscard.payments import pos, selectors
from campuscard.payments.models import Payment
from campuscard.payments.services import recharge_cash

pytestmark = pytest.mark.django_db(transaction=True)  # the router keeps reads inside a transaction on the primary


@pytest.fixture
def replica_asked(monkeypatch):
    """A replica configured (its settings only), and every read's routing recorded: the router's own
    answer is kept, the query still runs on the test database."""
    monkeypatch.setitem(connections.settings, REPLICA, dict(connections.settings["default"]))
    asked: list[tuple[str, str | None]] = []
    decide = ReplicaRouter.db_for_read

    def spy(self, model, **hints):
        asked.append((model.__name__, decide(self, model, **hints)))
        return None

    monkeypatch.setattr(ReplicaRouter, "db_for_read", spy)
    return asked


def test_the_router_sends_only_lagging_reads_to_the_replica(monkeypatch):
    router = ReplicaRouter()
    assert router.db_for_read(Payment) is None  # no replica configured: the primary
    monkeypatch.setitem(connections.settings, REPLICA, dict(connections.settings["default"]))
    assert router.db_for_read(Payment) is None
    with lagging_reads():
        assert router.db_for_read(Payment) == REPLICA
        with transaction.atomic():  # inside a transaction on the primary: its own rows, so the primary
            assert router.db_for_read(Payment) is None
    assert router.db_for_write(Payment) == "default"
    assert router.allow_migrate(REPLICA, "payments") is False and router.allow_migrate("default", "payments")


def test_money_paths_use_the_primary_and_statements_may_use_the_replica(replica_asked, terminal, funded,
                                                                         student):
    term, _secret = terminal
    recharge_cash(channel="window", person=student, amount=1_000, key="router")
    pos.payment_authorize(terminal=term, txn_id="router-1", amount=650, code=codes.current_code(qr_credential(funded)))
    pos.payment_refund(actor=Actor.system("t"), payment=Payment.objects.get(txn_id="router-1"), amount=100,
                       reason="", key="router-r")
    money = list(replica_asked)
    assert money, "the money paths read through the ORM (else this test proves nothing)"
    assert {choice for _model, choice in money} == {None}, money

    replica_asked.clear()
    month = clock.institution_now(student.institution).strftime("%Y-%m")
    data = selectors.statement(student, month)
    assert data["rows"]
    assert {choice for _model, choice in replica_asked} == {REPLICA}
    replica_asked.clear()
    selectors.spending(student, month)
    assert {choice for _model, choice in replica_asked} == {REPLICA}
