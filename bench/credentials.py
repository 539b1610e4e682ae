"""Dynamic payment codes (issue 4, CARD-3): issue and verify one-time TOTP codes, in process.

Cards are issued through the real service (each with a QR and an HCE credential). Then, for a few
30 s steps (the clock is moved, not waited for), every credential's current code is computed
(``current_code``, what the portal does on each refresh) and every code is verified once by
``code_accept`` inside its own transaction (what a POS payment does before it moves money): look up
the credential, check the card, match the TOTP, record the used step. A sample is then presented
again and must be refused as a replay.

    python bench/credentials.py [--quick] [--db postgres|sqlite] [--cards N] [--rounds R]
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

from _common import emit, fresh_database, parse_args


def options(parser) -> None:
    parser.add_argument("--cards", type=int, help="cards to issue (each has a QR and an HCE credential)")
    parser.add_argument("--rounds", type=int, help="30 s steps to issue and verify codes in")


def make_people(institution, count: int) -> list:
    from stdnum.cn import ric

    from campuscard.identity.models import Person

    people = []
    for i in range(count):
        base = f"11010520000101{i % 1000:03d}"
        people.append(Person(institution=institution, number=f"2025{i:07d}", name=f"学生{i}",
                             kind=Person.Kind.UNDERGRADUATE, status=Person.Status.FULL_TIME,
                             id_number=base + ric.calc_check_digit(base + "0")))
    Person.objects.bulk_create(people, batch_size=2000)
    return list(Person.objects.filter(institution=institution).select_related("institution"))


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def commit_ceiling_per_s(count: int) -> float:
    """The machine's own limit for one small durable write per transaction (a one-row INSERT + COMMIT)."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_commit (id integer)")
    start = time.perf_counter()
    for i in range(count):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_commit (id) VALUES (%s)", [i])
    return count / (time.perf_counter() - start)


def main() -> None:
    args = parse_args(__doc__, options)
    cards = args.cards or (1_000 if args.quick else 5_000)
    rounds = args.rounds or (2 if args.quick else 3)
    fresh_database(args.db, "credentials")
    from django.conf import settings
    from django.db import transaction

    from campuscard.cards import codes
    from campuscard.cards.models import Credential, UsedCode
    from campuscard.cards.services import card_issue
    from campuscard.core.actors import Actor
    from campuscard.core.clock import frozen_at
    from campuscard.core.errors import DomainError
    from campuscard.core.models import Campus, Institution

    institution = Institution.objects.create(code="bench", name="Bench University")
    Campus.objects.create(institution=institution, code="main", name="Main")
    people = make_people(institution, cards)

    start = time.perf_counter()
    for person in people:
        card_issue(actor=Actor.system("bench"), person=person)
    issue_cards_s = time.perf_counter() - start
    credentials = list(Credential.objects.filter(card__institution=institution)
                       .exclude(kind=Credential.Kind.NFC).order_by("pk"))
    assert len(credentials) == 2 * cards

    step = settings.QR_STEP_SECONDS
    base = dt.datetime.now(dt.UTC).replace(microsecond=0)
    base -= dt.timedelta(seconds=int(base.timestamp()) % step)
    issue_s = verify_s = 0.0
    latencies: list[float] = []
    replays_refused = 0
    for r in range(rounds):
        with frozen_at(base + dt.timedelta(seconds=r * step)):
            t0 = time.perf_counter()
            batch = [codes.current_code(credential) for credential in credentials]
            issue_s += time.perf_counter() - t0

            t0 = time.perf_counter()
            for code in batch:
                t1 = time.perf_counter()
                with transaction.atomic():
                    codes.code_accept(institution_id=institution.pk, code=code)
                latencies.append(time.perf_counter() - t1)
            verify_s += time.perf_counter() - t0

            for code in batch[:: max(1, len(batch) // 200)]:
                try:
                    with transaction.atomic():
                        codes.code_accept(institution_id=institution.pk, code=code)
                except DomainError as error:
                    replays_refused += error.code == "qr_replayed"
                else:
                    raise AssertionError("a replayed code was accepted")

    ceiling = commit_ceiling_per_s(min(len(latencies), 2_000))
    issued = verified = len(credentials) * rounds
    assert UsedCode.objects.count() == verified
    issued_per_s, verified_per_s = issued / issue_s, verified / verify_s
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    emit("credentials", [
        ("database", args.db),
        ("cards issued (card_issue: card, wallet, QR + HCE)", f"{cards:,} in {issue_cards_s:.2f} s "
                                                              f"({cards / issue_cards_s:,.0f} cards/s)"),
        ("credentials x 30 s steps", f"{len(credentials):,} x {rounds}"),
        ("codes issued (current_code)", f"{issued:,} in {issue_s:.3f} s  ({issued_per_s:,.0f} codes/s)"),
        ("codes verified once (code_accept in a transaction)",
         f"{verified:,} in {verify_s:.2f} s  ({verified_per_s:,.0f} codes/s)"),
        ("verify latency p50 / p99", f"{p50:.2f} ms / {p99:.2f} ms"),
        ("one-row INSERT + COMMIT (the ceiling)", f"{ceiling:,.0f} /s  (verify / ceiling {verified_per_s / ceiling:.2f})"),
        ("replays presented again and refused", f"{replays_refused}"),
    ], {"codes_issued": issued, "codes_issued_per_s": round(issued_per_s), "codes_verified": verified,
        "codes_verified_per_s": round(verified_per_s), "verify_p50_ms": round(p50, 3),
        "verify_p99_ms": round(p99, 3), "commit_ceiling_per_s": round(ceiling), "replays_refused": replays_refused, "cards": cards,
        "credentials": len(credentials), "rounds": rounds, "cards_issued_per_s": round(cards / issue_cards_s),
        "db": args.db})


if __name__ == "__main__":
    main()
