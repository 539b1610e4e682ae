"""Reads that may lag go to the replica; money never does (#18 item 2).

With ``DATABASE_REPLICA_URL`` set, settings add the ``replica`` database (a streaming standby) and this
router. Every query goes to the primary unless it runs inside ``lagging_reads()`` — a context manager
and decorator that report and statement selectors put around themselves — and even then not inside a
transaction on the primary (a service that reads what it is about to write sees its own rows). Money
paths never enter it: payments, charges, holds and the ledger's services read and write the primary only,
and their fast paths use the primary's connection directly. Without a replica the router changes nothing.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from django.db import connections

REPLICA = "replica"
_lagging = contextvars.ContextVar("campuscard_lagging_reads", default=False)


@contextmanager
def lagging_reads():
    """Within it, ORM reads may be answered by the replica (seconds behind at worst; with
    ``synchronous_commit = remote_apply`` on the primary, never behind an acknowledged write)."""
    token = _lagging.set(True)
    try:
        yield
    finally:
        _lagging.reset(token)


def reading_lagging() -> bool:
    return _lagging.get()


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if _lagging.get() and REPLICA in connections.settings and not connections["default"].in_atomic_block:
            return REPLICA
        return None  # the primary

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica is a copy of the primary: the same rows

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"  # the standby follows the primary's WAL
