"""Campus services under load (#19, SVC-2, SVC-3), on PostgreSQL.

1. Exam-entrance burst: 1,000 holders (--quick: 300) checking in at 20 exam rooms over HTTP against the
   production server (granian), one scanner per room with the invigilator's API token reading card UIDs:
   first as they arrive, evenly within 5 minutes (--quick: 30 s, three times denser) — the latency
   (target p99 ≤ 100 ms); then a second sitting with every scanner sending back to back — the capacity.
2. The nightly library reminder job over 1,000,000 loans (--quick: 200,000), due dates spread over two
   months, a third returned: seconds, loans/s, and the reminders it wrote; then run again (it must send
   nothing more: each loan is reminded once).

    python bench/services.py [--quick]

Prints a table, writes bench/results/services.json and ends with one JSON line.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, emit, free_port, fresh_database, parse_args, start_server  # noqa: E402

ROOMS = 20
PORT = 8431


def extra_args(parser):
    parser.add_argument("--holders", type=int, default=0, help="holders at the exam (default 1,000; quick 300)")
    parser.add_argument("--loans", type=int, default=0, help="loans for the reminder job (default 1,000,000)")
    parser.add_argument("--workers", type=int, default=2, help="server processes")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def populate(holders: int) -> dict:
    from django.contrib.auth.models import Group
    from stdnum import luhn

    from campuscard.cards.models import Card, Credential
    from campuscard.core import clock
    from campuscard.core.models import Campus, Institution
    from campuscard.identity.models import Person, User
    from campuscard.identity.roles import ensure_role_groups
    from campuscard.identity.services import token_issue
    from campuscard.study.models import ExamEntry, ExamRoom, ExamSession

    ensure_role_groups()
    institution = Institution.objects.create(code="bench", name="压测大学", name_en="Bench University")
    campus = Campus.objects.create(institution=institution, code="main", name="主校区", name_en="Main")
    people = Person.objects.bulk_create([
        Person(institution=institution, number=f"2026{n:06d}", name=f"考生{n}", kind=Person.Kind.UNDERGRADUATE,
               status=Person.Status.FULL_TIME, id_number=f"ID{n:016d}", campus=campus) for n in range(holders)])
    # Cards and NFC credentials in bulk, as bench/access.py does: the check-in reads the card, its state and
    # its UID, never its wallet (card_issue per holder took 0.17 s each on a loaded host).
    now = clock.now()
    cards = Card.objects.bulk_create([Card(
        institution=institution, person=p, kind="student", number=f"77{i:09d}" + luhn.calc_check_digit(f"77{i:09d}"),
        state="active", wallet_account_id=i, issued_at=now, state_changed_at=now) for i, p in enumerate(people)])
    uids = [f"04{i:012X}" for i in range(holders)]
    Credential.objects.bulk_create([Credential(card=c, kind="nfc", token=f"N{i:09d}", uid=uids[i], created_at=now)
                                    for i, c in enumerate(cards)])
    group = Group.objects.get(name="invigilator")
    users = []
    for r in range(ROOMS):
        user = User.objects.create_user(username=f"inv-{r}", password="Bench-pass-1", is_staff=True,
                                        institution=institution)
        user.groups.add(group)
        users.append(user)
    tokens = [token_issue(user=user, name="scanner")[1] for user in users]
    # two sittings the same morning with the same holders: the paced entrance, then the saturation run
    sittings = []
    for code in ("final-1", "final-2"):
        session = ExamSession.objects.create(institution=institution, code=code, title="期末考试",
                                             starts_at=now + dt.timedelta(minutes=30), ends_at=now + dt.timedelta(hours=3))
        rooms = [ExamRoom.objects.create(session=session, code=f"R{r + 1:02d}") for r in range(ROOMS)]
        for room, user in zip(rooms, users, strict=True):
            room.invigilators.add(user)
        ExamEntry.objects.bulk_create([ExamEntry(session=session, room=rooms[n % ROOMS], person=person,
                                                 seat=str(n // ROOMS + 1)) for n, person in enumerate(people)])
        sittings.append(rooms)
    queues: list[list[str]] = [[] for _ in range(ROOMS)]
    for n, uid in enumerate(uids):
        queues[n % ROOMS].append(uid)
    return {"institution": institution, "people": people, "sittings": sittings, "tokens": tokens, "queues": queues}


def burst(port: int, data: dict, rooms: list, window: float) -> tuple[list[float], list[str], float]:
    """Each room's scanner checks its holders in; with ``window`` > 0 they arrive evenly over that many
    seconds (holders walking up to the door), with 0 back to back (the server's capacity)."""
    timings: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def scanner(index: int) -> None:
        room, token = rooms[index], data["tokens"][index]
        queue = data["queues"][index]
        gap = window / len(queue) if window and queue else 0.0
        begin = time.perf_counter() + gap * index / ROOMS  # the rooms' arrivals interleave
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for k, uid in enumerate(queue):
            if gap:
                time.sleep(max(0.0, begin + k * gap - time.perf_counter()))
            body = json.dumps({"credential": uid})
            t0 = time.perf_counter()
            try:
                conn.request("POST", f"/api/v1/study/exam-rooms/{room.pk}/checkins", body, headers)
                response = conn.getresponse()
                payload = response.read()
            except OSError as error:
                with lock:
                    errors.append(str(error)[:100])
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                timings.append(elapsed)
                if response.status != 200 or json.loads(payload).get("already"):
                    errors.append(f"{response.status} {payload[:100]!r}")

    threads = [threading.Thread(target=scanner, args=(i,)) for i in range(ROOMS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings, errors, time.perf_counter() - started


def loans_fill(institution, people: list, count: int) -> float:
    """``count`` loans in one INSERT … SELECT over generate_series (set-based, like a library's history)."""
    from django.db import connection

    from campuscard.core import clock

    today = clock.local_date(institution)
    first, last = people[0].pk, people[-1].pk
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO library_loan (institution_id, external_id, person_id, barcode, title, loaned_at, due_on,
                                         returned_at, reminded_at)
               SELECT %s, 'L' || g, %s + (g %% %s), 'B' || g, '书名 ' || g, now() - interval '20 days',
                      %s::date + (g %% 60) - 10, CASE WHEN g %% 3 = 0 THEN now() ELSE NULL END, NULL
               FROM generate_series(1, %s) AS g""",
            [institution.pk, first, last - first + 1, today, count])
        cursor.execute("ANALYZE library_loan")
    return time.perf_counter() - t0


def main() -> None:
    args = parse_args(__doc__, extra_args)
    holders = args.holders or (300 if args.quick else 1000)
    loans = args.loans or (200_000 if args.quick else 1_000_000)
    db_url = fresh_database("postgres", "services")
    t0 = time.perf_counter()
    data = populate(holders)
    setup_s = time.perf_counter() - t0

    env = {**os.environ, "DATABASE_URL": db_url, "DEBUG": "false", "DJANGO_SETTINGS_MODULE": "campuscard.settings",
           "LOG_LEVEL": "WARNING", "HUEY_IMMEDIATE": "false", "PYTHONPATH": str(ROOT / "src")}
    port = free_port(PORT)
    server = start_server(env, port, "granian", args.workers, 4)
    window = 30.0 if args.quick else 300.0
    try:
        timings, errors, _elapsed = burst(port, data, data["sittings"][0], window)
        _t, saturated_errors, saturated_s = burst(port, data, data["sittings"][1], 0.0)
    finally:
        server.terminate()
        server.wait(10)

    from campuscard.library.models import Loan
    from campuscard.library.services import loan_reminders_send
    from campuscard.study.models import ExamEntry
    from campuscard.support.models import Notification

    present = ExamEntry.objects.exclude(checked_in_at=None).count()
    errors += saturated_errors
    fill_s = loans_fill(data["institution"], data["people"], loans)
    # The job claims the loans and writes the notifications; the worker then sends each (e-mail, channels).
    # Timed apart: in this process Huey would run the sends inside the job's commit.
    from campuscard.support import services as support_services
    from campuscard.support.delivery import deliver_notifications

    queued: list[int] = []
    support_services._deliver_after_commit = queued.extend
    t1 = time.perf_counter()
    sent = loan_reminders_send(institution=data["institution"])
    job_s = time.perf_counter() - t1
    t3 = time.perf_counter()
    delivered = sum(deliver_notifications.call_local(queued[start:start + 500]) for start in range(0, len(queued), 500))
    deliver_s = time.perf_counter() - t3
    t2 = time.perf_counter()
    again = loan_reminders_send(institution=data["institution"])
    again_s = time.perf_counter() - t2
    notes = Notification.objects.filter(kind=Notification.Kind.LOAN_DUE).count()
    assert again == 0 and notes == sent == Loan.objects.exclude(reminded_at=None).count(), (sent, again, notes)

    rate = holders / saturated_s if saturated_s else 0.0
    p50, p99 = percentile(timings, 0.5), percentile(timings, 0.99)
    per_million = job_s * 1_000_000 / loans
    load = os.getloadavg()[0]  # the host is shared: read the latency beside the load it ran under
    emit("services", [
        ("host load (1-minute average, 2 cores)", f"{load:.1f}"),
        ("holders / exam rooms (one scanner each)", f"{holders:,} / {ROOMS}"),
        ("server", f"granian {args.workers} workers × 4 threads, PostgreSQL"),
        ("set-up (people, cards, NFC, roster, tokens)", f"{setup_s:.1f} s"),
        ("check-ins recorded (two sittings) / request errors", f"{present:,} / {len(errors)}"
         + (f" ({errors[0]})" if errors else "")),
        ("entrance: holders arriving over", f"{window:.0f} s ({holders / window:.1f} a second, all rooms)"),
        ("entrance: check-in p50 / p99 (target p99 ≤ 100 ms)", f"{p50:.1f} / {p99:.1f} ms"),
        ("capacity: 20 scanners back to back, all in after", f"{saturated_s:.1f} s"),
        ("capacity: check-ins / s", f"{rate:,.0f}"),
        ("loans (one third returned) / filled in", f"{loans:,} / {fill_s:.1f} s"),
        ("reminder job: reminders written", f"{sent:,}"),
        ("reminder job: seconds / loans per s", f"{job_s:.2f} s / {loans / job_s:,.0f}"),
        ("reminder job per million loans", f"{per_million:.2f} s"),
        ("worker: reminders handled (sends: e-mail, channels) / seconds", f"{len(queued):,} ({delivered:,}) / "
         f"{deliver_s:.1f} s = {len(queued) / deliver_s if deliver_s else 0:,.0f} a second"),
        ("second run the same night: reminders / seconds", f"{again} / {again_s:.2f} s"),
    ], {"checkins_per_s": round(rate, 1), "checkin_p99_ms": round(p99, 1), "checkin_p50_ms": round(p50, 1),
        "reminder_job_s_per_million": round(per_million, 2), "reminder_job_s": round(job_s, 2),
        "reminder_loans_per_s": round(loans / job_s), "reminders_sent": sent,
        "reminder_deliveries_per_s": round(len(queued) / deliver_s) if deliver_s else 0, "loans": loans, "holders": holders,
        "rooms": ROOMS, "arrival_window_s": window, "host_load": round(load, 1), "errors": len(errors), "second_run_sent": again, "quick": bool(args.quick)})


if __name__ == "__main__":
    main()
