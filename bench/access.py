"""Class-change rush at the gates (issue 6): the real server on PostgreSQL, G signed gate devices sending
decisions for N holders (physical-card NFC UIDs and one-time holder QR codes) at teaching areas, campus
gates, dormitories (with residents), a laboratory (with permits) and a library — then a check that every
acknowledged decision has exactly one AccessEvent with the answered rule, and the counts match.
Also: in-process offline decisions/s (``offline.decide_offline`` on a gate's snapshot).

    python bench/access.py [--quick] [--holders N] [--gates G] [--rate R] [--gate-connections K]
                           [--seconds S] [--clients C]
                           [--server granian|gunicorn-sync|gunicorn-gthread] [--workers W] [--threads T]

After a short warm-up (NFC taps, not measured, as a server is warm before the class change), two
runs on the same server. **The rush** (the issue's figures): C gate connections (16) that send their
next decision as soon as the last one is answered — as many decisions as the server can answer with
that many gates in flight. **Paced** (full runs, or ``--paced``): R decisions/s (1,500) offered on a
schedule (Poisson arrivals) over K gate connections (64), whatever the server's speed: holders tap
when they arrive, not when the server is ready; the latency is what a holder waits at that load.
The load generator is wrk replaying pre-signed requests (bench/replay.lua), so it leaves the CPU to the
server. Compared in the same run with raw `pgbench` (simple-update, same database, same client count).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import tempfile
import time

from _common import (
    ROOT,
    SERVERS,
    emit,
    fresh_database,
    merged_percentiles,
    parse_args,
    pgbench_tps,
    replay_in_segments,
    run_in_batches,
    settle_database,
    start_server,
    wrk_replay,
)

PORT = 8766
REDIS_URL = "redis://127.0.0.1:6379/8"
PATH = "/api/v1/access/gate/decide"
ZONES = ["south-gate", "teach-1", "teach-2", "dorm-a", "dorm-b", "lab-1", "library"]
ZONE_WEIGHTS = [15, 30, 20, 12, 8, 5, 10]
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def extra_args(parser):
    parser.add_argument("--holders", type=int, default=None)
    parser.add_argument("--gates", type=int, default=24)
    parser.add_argument("--seconds", type=int, default=None, help="length of the rush (the paced run: half)")
    parser.add_argument("--clients", type=int, default=16, help="gate connections of the rush (no pause)")
    parser.add_argument("--paced", action="store_true", help="also the paced run in a --quick run")
    parser.add_argument("--rate", type=int, default=1500, help="decisions/s the paced run offers")
    parser.add_argument("--gate-connections", type=int, default=64, help="gate connections of the paced run")
    parser.add_argument("--server", choices=SERVERS, default="granian")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (granian, gunicorn-gthread)")
    parser.add_argument("--history", type=int, default=0, help="past events in the log before the run")
    parser.add_argument("--qr-share", type=float, default=0.3, help="share of holder QR codes (rest: NFC taps)")


def token(i: int, prefix: int) -> str:
    n, out = i + prefix * 32**8, []
    for _ in range(10):
        n, r = divmod(n, 32)
        out.append(_B32[r])
    return "".join(reversed(out))


def populate(holders: int, gates: int) -> dict:
    """Bulk set-up through the same tables the services write."""
    from django.db import transaction
    from stdnum import luhn

    from campuscard.access.models import CampusEntryApproval, DormResidence, LabPermit, Zone
    from campuscard.cards import codes
    from campuscard.cards.models import Card, Credential, PackageAddon
    from campuscard.core import clock
    from campuscard.core.actors import Actor
    from campuscard.core.models import Area, Building, Campus, Institution
    from campuscard.devices.models import Device
    from campuscard.devices.services import device_register
    from campuscard.identity.models import Person

    institution = Institution.objects.create(code="rush", name="课间大学", name_en="Class Change University")
    campus = Campus.objects.create(institution=institution, code="main", name="Main")
    area = Area.objects.create(campus=campus, code="a1", name="A1")
    now = clock.now()
    today = clock.local_date(institution, now)

    def building(code, kind):
        return Building.objects.create(area=area, code=code, name=code, kind=kind)

    dorm_a, dorm_b = building("dorm-a", Building.Kind.DORMITORY), building("dorm-b", Building.Kind.DORMITORY)
    levels = {"south-gate": ("campus_gate", None), "teach-1": ("teaching", building("t1", Building.Kind.TEACHING)),
              "teach-2": ("teaching", building("t2", Building.Kind.TEACHING)), "dorm-a": ("dormitory", dorm_a),
              "dorm-b": ("dormitory", dorm_b), "lab-1": ("laboratory", building("lab", Building.Kind.LABORATORY)),
              "library": ("library", building("lib", Building.Kind.LIBRARY))}
    zones = {code: Zone.objects.create(institution=institution, campus=campus, code=code, name=code, level=level,
                                       building=b) for code, (level, b) in levels.items()}
    with transaction.atomic():
        people = Person.objects.bulk_create([Person(
            institution=institution, number=f"R{i:07d}", name=f"学生{i}",
            kind="staff" if i % 10 == 9 else "undergraduate", status="active" if i % 10 == 9 else "full_time",
            id_number=f"P{i:09d}", id_type="passport") for i in range(holders)], batch_size=5000)
        cards = Card.objects.bulk_create([Card(
            institution=institution, person=p, kind="student", number=f"77{i:09d}" + luhn.calc_check_digit(
                f"77{i:09d}"), state="lost" if i % 50 == 7 else "active", wallet_account_id=i, issued_at=now,
            state_changed_at=now) for i, p in enumerate(people)], batch_size=5000)
        qr = Credential.objects.bulk_create([Credential(
            card=c, kind="qr", token=token(i, 1), secret=codes.new_secret(), created_at=now)
            for i, c in enumerate(cards)], batch_size=5000)
        Credential.objects.bulk_create([Credential(card=c, kind="nfc", token=token(i, 2), uid=f"04{i:012X}",
                                                   created_at=now) for i, c in enumerate(cards)], batch_size=5000)
        DormResidence.objects.bulk_create([DormResidence(
            person=p, building=dorm_a if i % 2 else dorm_b, valid_from=today - dt.timedelta(days=60))
            for i, p in enumerate(people) if i % 3 == 0], batch_size=5000)
        CampusEntryApproval.objects.bulk_create([CampusEntryApproval(
            institution=institution, person=p, state="approved", requested_at=now, decided_at=now)
            for i, p in enumerate(people) if i % 4 != 0], batch_size=5000)
        chemists = [p for i, p in enumerate(people) if i % 10 == 1]
        PackageAddon.objects.bulk_create([PackageAddon(person=p, addon="lab", granted_at=now) for p in chemists],
                                         batch_size=5000)
        LabPermit.objects.bulk_create([LabPermit(
            institution=institution, person=p, zone=zones["lab-1"], state="approved",
            weekly_slots=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)],
            valid_from=today - dt.timedelta(days=1), valid_to=today + dt.timedelta(days=30), requested_at=now)
            for i, p in enumerate(chemists) if i % 2 == 0], batch_size=5000)
    devices = {}
    for g in range(gates):
        device, secret = device_register(actor=Actor.system("bench"), institution=institution, kind=Device.Kind.GATE,
                                         code=f"gate-{g:03d}", name=f"Gate {g}")
        devices[device.code] = secret
        for zone in zones.values():
            zone.gates.add(device)
    return {"holders": [(f"04{i:012X}", c.token, c.secret) for i, c in enumerate(qr)], "gates": devices,
            "institution_id": institution.pk}


def fill_history(events: int, institution_id: int) -> None:
    """``events`` past decisions (the last 30 days) for the log to hold, as a log in service does;
    set-based, in batches with progress (``run_in_batches``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        run_in_batches(cursor, "history: access events", events, """
            INSERT INTO access_accessevent (institution_id, zone_id, device_id, person_id, card_id, credential_kind,
                                            decided_at, admitted, rule, source, received_at)
            SELECT %(inst)s, z.ids[1 + g %% array_length(z.ids, 1)], d.ids[1 + g %% array_length(d.ids, 1)],
                   c.person_id, c.id, 'nfc', now() - (g %% 2592000) * interval '1 second', true, 'admit_teaching',
                   'online', now() - (g %% 2592000) * interval '1 second'
              FROM generate_series(%(lo)s, %(hi)s) g
              CROSS JOIN (SELECT array_agg(id) AS ids FROM access_zone WHERE institution_id = %(inst)s) z
              CROSS JOIN (SELECT array_agg(id) AS ids FROM devices_device WHERE institution_id = %(inst)s) d
              JOIN cards_card c ON c.id = (SELECT min(id) FROM cards_card) + g %% (SELECT count(*) FROM cards_card)
        """, {"inst": institution_id})


def signed_decisions(data: dict, count: int, step: int, step_seconds: int, qr_share: float,
                     rng: random.Random) -> list:
    """`count` signed gate requests: NFC taps of any holder, and one-time QR codes of `step` (each holder
    shows a QR code at most once a step)."""
    import pyotp

    from campuscard.devices.signing import sign_headers

    gates = list(data["gates"].items())
    unshown = list(range(len(data["holders"])))
    rng.shuffle(unshown)
    requests = []
    for n in range(count):
        zone = rng.choices(ZONES, ZONE_WEIGHTS)[0]
        if unshown and rng.random() < qr_share:
            _uid, tok, secret = data["holders"][unshown.pop()]
            digits = pyotp.TOTP(secret, digits=8, interval=step_seconds).at(step * step_seconds)
            credential = {"code": f"CC1.{tok}.{digits}"}
        else:
            credential = {"nfc_uid": rng.choice(data["holders"])[0]}
        body = json.dumps({"zone": zone, **credential}).encode()
        device_code, secret = gates[n % len(gates)]
        headers = {**sign_headers(device_code=device_code, secret=secret, method="POST", path=PATH, body=body),
                   "Content-Type": "application/json"}
        requests.append(("POST", PATH, headers, body))
    return requests


ID_PATTERN = '"admitted":%s*(%a+),%s*"rule":%s*"([^"]+)".-"event_id":%s*(%d+)'


def _acked(ids: list[str]) -> list[tuple[int, bool, str]]:
    return [(int(event_id), admitted == "true", rule)
            for admitted, rule, event_id in (captured.split("|") for captured in ids)]


def rush(data: dict, seconds: int, connections: int, qr_share: float, step_seconds: int, *, rate: int,
         rng: random.Random, used: set) -> dict:
    """Signed decisions replayed in segments (see ``replay_in_segments``): as fast as answered, or with
    ``rate`` on that schedule."""
    totals = replay_in_segments(
        seconds, step_seconds, lambda step, span: signed_decisions(data, int(span * (rate or 4000) * 1.3) + 2000,
                                                                   step, step_seconds, qr_share, rng),
        port=PORT, clients=connections, rate=rate, used=used,
        id_pattern=ID_PATTERN)
    totals["acked"] = _acked(totals["ids"])
    totals["rate"] = len(totals["acked"]) / totals["seconds"]
    totals["p50"], totals["p95"], totals["p99"] = merged_percentiles(totals["latencies"])
    return totals


def offline_rate(data: dict, seconds: float) -> tuple[float, dict]:
    from campuscard.access import offline
    from campuscard.core import clock
    from campuscard.devices.models import Device

    device = Device.objects.get(code=next(iter(data["gates"])))
    snapshot = offline.snapshot_build(device=device)
    rng = random.Random(7)
    uids = [uid for uid, _t, _s in data["holders"]]
    moment = clock.now()
    n, outcomes, begin = 0, {}, time.perf_counter()
    while time.perf_counter() - begin < seconds:
        for _ in range(200):
            decision = offline.decide_offline(snapshot, zone_code=rng.choices(ZONES, ZONE_WEIGHTS)[0], moment=moment,
                                              nfc_uid=rng.choice(uids))
            outcomes[decision.admitted] = outcomes.get(decision.admitted, 0) + 1
            n += 1
    return n / (time.perf_counter() - begin), {"admitted": outcomes.get(True, 0), "refused": outcomes.get(False, 0),
                                               "snapshot_bytes": len(json.dumps(snapshot))}


def verify_outcome(acked: list) -> dict:
    from django.db.models import Count

    from campuscard.access.models import AccessEvent

    rows = dict(AccessEvent.objects.filter(source="online").values_list("id", "rule"))
    ids = [event_id for event_id, _a, _r in acked]
    missing = sum(1 for event_id in ids if event_id not in rows)
    wrong_rule = sum(1 for event_id, _a, rule in acked if event_id in rows and rows[event_id] != rule)
    shared = len(ids) - len(set(ids))  # two answers naming one event
    counts = {admitted: n for admitted, n in AccessEvent.objects.filter(source="online").values_list("admitted")
              .annotate(n=Count("id")).values_list("admitted", "n")}
    return {"events": len(rows), "missing": missing, "wrong_rule": wrong_rule, "shared": shared,
            "db_admitted": counts.get(True, 0), "db_refused": counts.get(False, 0),
            "unanswered_events": len(rows) - len(set(ids))}


def main() -> None:
    args = parse_args(__doc__, extra_args)
    holders = args.holders or (10_000 if args.quick else 40_000)
    seconds = args.seconds or (12 if args.quick else 40)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    db_url = fresh_database("postgres", "access")
    from django.conf import settings
    from django.db import connection

    t0 = time.perf_counter()
    data = populate(holders, args.gates)
    if args.history:
        fill_history(args.history, data["institution_id"])
    setup_s = time.perf_counter() - t0
    settle_database()
    offline_per_s, offline_info = offline_rate(data, 3 if args.quick else 8)
    connection.close()
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": REDIS_URL, "DEBUG": "false",
           "DJANGO_SETTINGS_MODULE": "campuscard.settings", "LOG_LEVEL": "WARNING",
           "CAMPUSCARD_DATA_DIR": tempfile.mkdtemp(prefix="access-"), "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(["redis-cli", "-n", "8", "FLUSHDB"], capture_output=True)
    server = start_server(env, PORT, args.server, args.workers, args.threads)
    rng, used = random.Random(11), set()
    paced = None
    try:
        warm = wrk_replay(signed_decisions(data, 8000, 0, settings.QR_STEP_SECONDS, 0.0, rng), port=PORT,
                          connections=args.clients, seconds=2, id_pattern=ID_PATTERN)
        print(f"warm-up: {warm['requests']:,} NFC taps, not measured", flush=True)
        print(f"rush: {args.clients} gate connections, no pause", flush=True)
        flat = rush(data, seconds, args.clients, args.qr_share, settings.QR_STEP_SECONDS, rate=0, rng=rng,
                    used=used)
        if args.paced or not args.quick:
            print(f"paced: {args.gate_connections} gate connections offering {args.rate:,} decisions/s", flush=True)
            paced = rush(data, max(6, seconds // 2), args.gate_connections, args.qr_share, settings.QR_STEP_SECONDS,
                         rate=args.rate, rng=rng, used=used)
    finally:
        server.terminate()
        server.wait(10)
    runs = [flat] + ([paced] if paced else [])
    acked = _acked(warm["ids"]) + [a for run in runs for a in run["acked"]]
    failed: dict[str, int] = {}
    for refused in [warm["refused"]] + [run["refused"] for run in runs]:
        for code, n in refused.items():
            failed[code] = failed.get(code, 0) + n
    errors = warm["errors"] + sum(run["errors"] for run in runs)
    verify = verify_outcome(acked)
    tps = pgbench_tps(db_url, args.clients, 6 if args.quick else 20)
    admitted = sum(1 for _e, a, _r in acked if a)
    rules_seen: dict[str, int] = {}
    for _e, _a, rule in acked:
        rules_seen[rule] = rules_seen.get(rule, 0) + 1
    server_kind = f"{args.server}, {args.workers} workers" + ("" if args.server == "gunicorn-sync" else
                                                             f" × {args.threads} threads")
    emit("access", [
        ("machine load before the run", load),
        ("holders / gates / zones", f"{holders:,} / {args.gates} / {len(ZONES)}"),
        ("server", server_kind),
        ("load", f"wrk (keep-alive), {args.qr_share:.0%} QR codes, rest NFC taps"),
        ("set-up", f"{setup_s:.1f} s"),
        ("rush", f"{args.clients} gate connections, no pause, {flat['seconds']:.0f} s"),
        ("  decisions / s answered", f"{flat['rate']:,.0f}"),
        ("  latency p50 / p95 / p99", f"{flat['p50']:.1f} / {flat['p95']:.1f} / {flat['p99']:.1f} ms"),
        ("paced", f"{args.gate_connections} gate connections, {args.rate:,}/s offered, {paced['seconds']:.0f} s"
         if paced else "not run (--quick; add --paced)"),
        *([("  decisions / s answered", f"{paced['rate']:,.0f}"),
           ("  latency p50 / p95 / p99", f"{paced['p50']:.1f} / {paced['p95']:.1f} / {paced['p99']:.1f} ms")]
          if paced else []),
        ("decisions acknowledged (all runs)", f"{len(acked):,} ({admitted:,} admitted)"),
        ("rules answered", json.dumps(dict(sorted(rules_seen.items())))),
        ("failed requests (by code)", json.dumps(failed) if failed else "none"),
        ("transport errors", f"{errors}"),
        ("pgbench simple-update tps (same DB, the rush's clients)", f"{tps:,.0f}"),
        ("rush decisions / pgbench", f"{flat['rate'] / tps:.2f}"),
        ("offline decisions / s (in process, one core)", f"{offline_per_s:,.0f}"),
        ("events missing / wrong rule / shared", f"{verify['missing']} / {verify['wrong_rule']} / {verify['shared']}"),
        ("events admitted / refused (DB) vs answered",
         f"{verify['db_admitted']:,} / {verify['db_refused']:,} vs {admitted:,} / {len(acked) - admitted:,}"),
    ], {"decisions_per_s": round(flat["rate"]), "p50_ms": round(flat["p50"], 1), "p95_ms": round(flat["p95"], 1),
        "p99_ms": round(flat["p99"], 1), "offline_decisions_per_s": round(offline_per_s), "pgbench_tps": round(tps),
        "ratio_to_pgbench": round(flat["rate"] / tps, 3),
        **({"paced_offered_per_s": args.rate, "paced_gate_connections": args.gate_connections,
            "paced_decisions_per_s": round(paced["rate"]), "paced_p50_ms": round(paced["p50"], 1),
            "paced_p99_ms": round(paced["p99"], 1)} if paced else {}),
        "holders": holders, "gates": args.gates,
        "clients": args.clients,
        "server": server_kind, "decisions": len(acked), "admitted": admitted, "refused": len(acked) - admitted,
        "events": verify["events"], "events_missing": verify["missing"], "events_wrong_rule": verify["wrong_rule"],
        "events_shared": verify["shared"], "db_admitted": verify["db_admitted"], "db_refused": verify["db_refused"],
        "failed": sum(failed.values()), "transport_errors": errors,
        "offline_admitted": offline_info["admitted"], "offline_refused": offline_info["refused"],
        "load_before": load.split("load average:")[-1].strip()})


if __name__ == "__main__":
    main()
