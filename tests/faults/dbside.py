"""The fault drills' Django side, run as a subprocess with DATABASE_URL naming the drill's own cluster
(the test process's Django is bound to the test database): migrate, set up holders and devices with the
benchmarks' set-up (bench/lunch_rush.py, bench/access.py), and verify a run.

    python tests/faults/dbside.py migrate
    python tests/faults/dbside.py setup-pay  OUT.json [--holders N] [--terminals M]
    python tests/faults/dbside.py setup-gate OUT.json [--holders N] [--gates G]
    python tests/faults/dbside.py verify-pay  RUN.json      # RUN: {"before": ids before the run, "acked": [[code, txn, amount]…],
    python tests/faults/dbside.py verify-gate RUN.json      #       "planned": {txn: [code, amount]}} / gate: acked ids

Each prints one JSON line last.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campuscard.settings")
    import django

    django.setup()


def migrate() -> dict:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)  # no REDIS_URL here: the cache (device nonces) is a table
    return {"migrated": True}


def setup_pay(out: str, holders: int, terminals: int) -> dict:
    from lunch_rush import pick_payers, populate

    data = populate(holders, terminals, 0)
    payers = pick_payers(holders, holders)
    Path(out).write_text(json.dumps({"terminals": data["terminals"], "holders": payers,
                                     "institution_id": data["institution_id"]}))
    return {"holders": len(payers), "terminals": len(data["terminals"])}


def setup_gate(out: str, holders: int, gates: int) -> dict:
    import access as access_bench  # bench/access.py

    data = access_bench.populate(holders, gates)
    Path(out).write_text(json.dumps({"gates": data["gates"], "holders": data["holders"]}))
    return {"holders": len(data["holders"]), "gates": len(data["gates"])}


def _ledger(action: str) -> bool:
    """``campuscard ledger check|verify``, the operator's command (here in this process): clean or not."""
    from django.core.management import CommandError, call_command

    try:
        call_command("ledger", action, stdout=sys.stderr, stderr=sys.stderr)
    except CommandError:
        return False
    return True


def verify_pay(run_file: str) -> dict:
    """Every acknowledged payment exactly once with its amount and its journal row; none doubled, none
    that no terminal sent, no wallet below zero; the ledger check and verify clean."""
    from django.db.models import Count

    from campuscard.ledger.models import Balance, Transfer
    from campuscard.payments.models import Payment
    from lunch_rush import verify_outcome

    run = json.loads(Path(run_file).read_text())
    acked = [tuple(row) for row in run["acked"]]
    planned = {txn: tuple(v) for txn, v in run["planned"].items()}
    new = Payment.objects.filter(id__gt=run["before"]["payment_id"])
    found = list(new.values_list("terminal__device__code", "txn_id", "amount", "transfer_id"))
    journal = dict(Transfer.objects.filter(id__in=[t for *_x, t in found]).values_list("id", "amount"))
    rows: dict[tuple[str, str], list[int]] = {}
    for code, txn, amount, transfer_id in found:  # -1: no journal row with the payment's amount
        rows.setdefault((code, txn), []).append(amount if journal.get(transfer_id) == amount else -1)
    found_once = sum(1 for code, txn, amount in acked if rows.get((code, txn)) == [amount])
    lost = sum(1 for code, txn, _amount in acked if (code, txn) not in rows)
    wrong = sum(1 for code, txn, amount in acked if (code, txn) in rows and amount not in rows[(code, txn)])
    doubled = sum(1 for found in rows.values() if len(found) > 1)
    doubled += new.values("terminal", "txn_id").annotate(n=Count("id")).filter(n__gt=1).count()
    acked_keys = {(code, txn) for code, txn, _a in acked}
    phantom = sum(1 for (code, txn) in rows if planned.get(txn, (None,))[0] != code)
    committed_unanswered = sum(1 for key in rows if key not in acked_keys)
    negative = Balance.objects.filter(floor__isnull=False).extra(
        where=["credits_posted - debits_posted - debits_pending < 0"]).count()
    bench = verify_outcome([(code, txn, amount) for code, txn, amount in acked], {}, run["before"]["payment_id"])
    return {"attempted": len(planned), "acknowledged": len(acked), "found_once": found_once, "doubled": doubled,
            "lost": lost, "wrong_amount": wrong, "phantom": phantom, "committed_unanswered": committed_unanswered,
            "negative_wallets": negative, "bench_lost": bench["lost"], "bench_doubled": bench["doubled"],
            "ledger_check": _ledger("check"), "ledger_verify": _ledger("verify")}


def verify_gate(run_file: str) -> dict:
    """Every acknowledged decision logged exactly once with the answered rule; no gate and holder with
    two events (each gate takes each holder once, and resends the same request)."""
    from django.db.models import Count

    import access as access_bench
    from campuscard.access.models import AccessEvent

    run = json.loads(Path(run_file).read_text())
    acked = [tuple(row) for row in run["acked"]]  # (event_id, admitted, rule)
    new = AccessEvent.objects.filter(id__gt=run["before"]["event_id"], source="online")
    rows = dict(new.values_list("id", "rule"))
    found_once = sum(1 for event_id, _a, rule in acked if rows.get(event_id) == rule)
    lost = sum(1 for event_id, _a, _r in acked if event_id not in rows)
    shared = len(acked) - len({event_id for event_id, _a, _r in acked})  # two answers naming one event
    doubled = new.values("device_id", "person_id").annotate(n=Count("id")).filter(n__gt=1).count()
    bench = access_bench.verify_outcome(acked)
    return {"attempted": run["attempted"], "acknowledged": len(acked), "found_once": found_once,
            "doubled": doubled + shared, "lost": lost, "logged": len(rows),
            "logged_unanswered": len(rows) - len({e for e, _a, _r in acked}),
            "bench_missing": bench["missing"], "bench_wrong_rule": bench["wrong_rule"]}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["migrate", "setup-pay", "setup-gate", "verify-pay", "verify-gate"])
    parser.add_argument("file", nargs="?")
    parser.add_argument("--holders", type=int, default=12_000)
    parser.add_argument("--terminals", type=int, default=16)
    parser.add_argument("--gates", type=int, default=8)
    args = parser.parse_args()
    _django()
    result = {"migrate": migrate,
              "setup-pay": lambda: setup_pay(args.file, args.holders, args.terminals),
              "setup-gate": lambda: setup_gate(args.file, args.holders, args.gates),
              "verify-pay": lambda: verify_pay(args.file),
              "verify-gate": lambda: verify_gate(args.file)}[args.action]()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
