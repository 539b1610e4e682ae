"""Ledger jobs: nightly seal + reconciliation + verification; hold expiry."""

from __future__ import annotations

import logging

from django.db import IntegrityError
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from campuscard.core import clock
from campuscard.core.db import money_transaction
from campuscard.core.errors import DomainError
from campuscard.ledger.checks import ledger_check, ledger_seal, ledger_verify
from campuscard.ledger.models import Transfer
from campuscard.ledger.services import transfer_void

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="30", hour="2"))
def ledger_nightly() -> dict:
    """LED-5: nightly trial balance and reconciliation; differences are stored and logged loudly."""
    ledger_seal()
    check, verify = ledger_check(), ledger_verify()
    for run in (check, verify):
        if not run.ok:
            log.error("ledger %s found %d problem(s): %s", run.kind, len(run.problems), run.problems[:5])
    return {"check_ok": check.ok, "verify_ok": verify.ok}


@db_periodic_task(crontab(minute="*/5"))
def holds_expire() -> int:
    """Void holds past their expiry so held money comes back."""
    expired = (Transfer.objects.filter(phase=Transfer.Phase.PENDING, expires_at__lt=clock.now())
               .exclude(resolutions__phase__in=[Transfer.Phase.POST, Transfer.Phase.VOID])
               .values_list("id", flat=True)[:1000])
    done = 0
    for hold_id in expired:
        try:
            money_transaction(transfer_void)(key=f"expire:{hold_id}", pending_id=hold_id,
                                             metadata={"reason": "expired"})
            done += 1
        except (DomainError, IntegrityError):
            pass  # resolved meanwhile by its owner: nothing to expire
    return done
