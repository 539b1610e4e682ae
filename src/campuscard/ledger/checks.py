"""Reconciliation and tamper evidence (LED-5, issue 3): ``campuscard ledger check | verify | seal``.

* ``check``: trial balance is zero; every stored balance stripe equals the sum of its journal rows;
  pending sums equal the unresolved holds; no floor is crossed.
* ``seal``: each finished day's transfers are digested (id + MAC, in id order) and chained.
* ``verify``: every row's MAC is recomputed (an edited field shows), every sealed day is re-digested
  (an inserted or deleted row shows), and the seal chain is re-walked (an edited seal shows).

Problems are returned and stored in a CheckRun; nothing is ever "fixed" silently.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce

from campuscard.core import clock
from campuscard.ledger.mac import day_digest, seal_of, transfer_mac
from campuscard.ledger.models import Balance, CheckRun, Seal, Transfer

Phase = Transfer.Phase
SEAL_GRACE = dt.timedelta(minutes=10)  # in-flight transactions of yesterday have committed by then


def ledger_check() -> CheckRun:
    """Every figure is read from ONE snapshot, so payments committing meanwhile cannot look like
    differences (REPEATABLE READ on PostgreSQL; SQLite transactions are snapshots already)."""
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if snapshot:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        run = _check()
    run.save()
    return run


def _check() -> CheckRun:
    started = clock.now()
    problems: list[dict] = []
    totals = Balance.objects.aggregate(dp=Coalesce(Sum("debits_posted"), 0), cp=Coalesce(Sum("credits_posted"), 0),
                                       dq=Coalesce(Sum("debits_pending"), 0), cq=Coalesce(Sum("credits_pending"), 0))
    if totals["cp"] != totals["dp"]:
        problems.append({"type": "trial_balance", "credits": totals["cp"], "debits": totals["dp"]})
    if totals["cq"] != totals["dq"]:
        problems.append({"type": "pending_trial_balance", "credits": totals["cq"], "debits": totals["dq"]})

    derived: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # dp, cp, dq, cq
    moves = Transfer.objects.filter(phase__in=[Phase.POSTED, Phase.POST])
    for account, stripe, total in moves.values_list("debit_id", "debit_stripe").annotate(t=Sum("amount")):
        derived[(account, stripe)][0] += total
    for account, stripe, total in moves.values_list("credit_id", "credit_stripe").annotate(t=Sum("amount")):
        derived[(account, stripe)][1] += total
    open_holds = (Transfer.objects.filter(phase=Phase.PENDING)
                  .exclude(resolutions__phase__in=[Phase.POST, Phase.VOID]))
    for account, stripe, total in open_holds.values_list("debit_id", "debit_stripe").annotate(t=Sum("amount")):
        derived[(account, stripe)][2] += total
    for account, stripe, total in open_holds.values_list("credit_id", "credit_stripe").annotate(t=Sum("amount")):
        derived[(account, stripe)][3] += total

    accounts = set()
    for row in Balance.objects.values_list("account_id", "stripe", "debits_posted", "credits_posted",
                                           "debits_pending", "credits_pending", "floor").iterator(chunk_size=5000):
        account, stripe, *stored, floor = row
        accounts.add(account)
        journal = derived.pop((account, stripe), [0, 0, 0, 0])
        if list(stored) != journal:
            problems.append({"type": "balance_mismatch", "account": account, "stripe": stripe,
                             "stored": dict(zip(("dp", "cp", "dq", "cq"), stored, strict=True)),
                             "journal": dict(zip(("dp", "cp", "dq", "cq"), journal, strict=True))})
        if floor is not None and stored[1] - stored[0] - stored[2] < floor:
            problems.append({"type": "below_floor", "account": account, "available": stored[1] - stored[0] - stored[2],
                             "floor": floor})
    for (account, stripe), journal in derived.items():
        problems.append({"type": "journal_without_balance_row", "account": account, "stripe": stripe,
                         "journal": journal})
    expired = open_holds.filter(expires_at__lt=clock.now()).count()
    if expired:
        problems.append({"type": "expired_holds_open", "count": expired})
    return CheckRun(kind="check", started_at=started, finished_at=clock.now(), ok=not problems,
                    accounts=len(accounts), transfers=Transfer.objects.count(), problems=problems)


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=_zone())
    return start, start + dt.timedelta(days=1)


def _day_rows(day: dt.date) -> list[tuple[int, str, int]]:
    start, end = _day_bounds(day)
    return list(Transfer.objects.filter(created_at__gte=start, created_at__lt=end).order_by("id")
                .values_list("id", "mac", "amount"))


def ledger_seal() -> list[Seal]:
    """Seal every finished, unsealed day up to yesterday (local time)."""
    now = clock.now()
    last = Seal.objects.order_by("-day").first()
    if last is not None:
        day = last.day + dt.timedelta(days=1)
    else:
        first = Transfer.objects.order_by("created_at").values_list("created_at", flat=True).first()
        if first is None:
            return []
        day = first.astimezone(_zone()).date()
    sealed = []
    previous = last.seal if last else ""
    while _day_bounds(day)[1] + SEAL_GRACE <= now:
        rows = _day_rows(day)
        digest = day_digest([(i, m) for i, m, _a in rows])
        total = sum(a for _i, _m, a in rows)
        seal = seal_of(previous=previous, day=day.isoformat(), digest=digest, count=len(rows), total=total)
        sealed.append(Seal.objects.create(day=day, first_id=rows[0][0] if rows else 0,
                                          last_id=rows[-1][0] if rows else 0, count=len(rows), total=total,
                                          digest=digest, previous=previous, seal=seal, created_at=now))
        previous = seal
        day += dt.timedelta(days=1)
    return sealed


def ledger_verify() -> CheckRun:
    started = clock.now()
    problems: list[dict] = []
    count = 0
    fields = ("id", "institution_id", "key", "phase", "kind", "debit_id", "credit_id", "amount", "pending_id",
              "reverses_id", "created_at", "reference", "mac")
    for row in Transfer.objects.order_by("id").values_list(*fields).iterator(chunk_size=5000):
        count += 1
        (tid, institution_id, key, phase, kind, debit_id, credit_id, amount, pending_id, reverses_id, created_at,
         reference, mac) = row
        expected = transfer_mac(institution_id=institution_id, key=key, phase=phase, kind=kind, debit_id=debit_id,
                                credit_id=credit_id, amount=amount, pending_id=pending_id, reverses_id=reverses_id,
                                created_at_iso=created_at.astimezone(dt.UTC).isoformat(), reference=reference)
        if expected != mac:
            problems.append({"type": "transfer_altered", "transfer": tid})
    previous = ""
    for seal in Seal.objects.order_by("day"):
        rows = _day_rows(seal.day)
        digest = day_digest([(i, m) for i, m, _a in rows])
        if digest != seal.digest or len(rows) != seal.count:
            problems.append({"type": "sealed_day_changed", "day": seal.day.isoformat(), "sealed_count": seal.count,
                             "count_now": len(rows)})
        expected = seal_of(previous=previous, day=seal.day.isoformat(), digest=seal.digest, count=seal.count,
                           total=seal.total)
        if seal.previous != previous or seal.seal != expected:
            problems.append({"type": "seal_chain_broken", "day": seal.day.isoformat()})
        previous = seal.seal
    return CheckRun.objects.create(kind="verify", started_at=started, finished_at=clock.now(), ok=not problems,
                                   transfers=count, problems=problems)
