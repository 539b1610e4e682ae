"""Roster import throughput (issue 2, ID-1): a good registrar file of 50,000 rows, all-or-nothing.

Compared in the same run with the machine's own limit: the same rows written by a raw
``executemany`` INSERT with no validation, on the same database.

    python bench/roster_import.py [--quick] [--db postgres|sqlite]
"""

from __future__ import annotations

import csv
import io
import random
import time

from _common import emit, fresh_database, parse_args


def make_file(rows: int) -> bytes:
    from stdnum.cn import ric

    rng = random.Random(7)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "name", "category", "status", "id_type", "id_number", "campus", "department",
                     "enrollment_year", "phone", "email"])
    seen: set[str] = set()
    for i in range(rows):
        while True:
            base = f"230103{rng.randint(1995, 2008)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
            number = base + ric.calc_check_digit(base + "0")
            if number not in seen:
                seen.add(number)
                break
        writer.writerow([f"2025{i:07d}", "学生" + str(i), "undergraduate", "full_time", "resident", number,
                         "main", "计算机学院", 2025, f"13{i:09d}", f"s{i}@example.edu.cn"])
    return out.getvalue().encode()


def raw_insert_rows_per_s(data: bytes, institution_id: int, campus_id: int) -> float:
    """The ceiling: the same rows inserted with one executemany, no validation, no ORM."""
    from django.db import connection, transaction
    from django.utils import timezone

    rows = list(csv.DictReader(io.StringIO(data.decode())))
    now = timezone.now()
    params = [(institution_id, "R" + r["number"], r["name"], "undergraduate", "full_time", "resident",
               "R" + r["id_number"], campus_id, r["department"], "", 2025, r["phone"], r["email"], "registrar",
               "", "", now, now) for r in rows]
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO identity_person (institution_id, number, name, kind, status, id_type, id_number, campus_id,"
            " department, title, enrollment_year, phone, email, source, payment_password, query_password,"
            " created_at, updated_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", params)
    elapsed = time.perf_counter() - start
    return len(rows) / elapsed


def main() -> None:
    args = parse_args(__doc__)
    rows = 10_000 if args.quick else 50_000
    fresh_database(args.db, "roster")
    from campuscard.core.actors import Actor
    from campuscard.core.models import Campus, Institution
    from campuscard.identity.models import Person
    from campuscard.identity.roster import roster_import

    institution = Institution.objects.create(code="bench", name="Bench University")
    campus = Campus.objects.create(institution=institution, code="main", name="Main")
    data = make_file(rows)

    start = time.perf_counter()
    report = roster_import(institution=institution, source="registrar", name="bench.csv",
                           stream=io.BytesIO(data), actor=Actor.system("bench"))
    first = time.perf_counter() - start
    assert report.created == rows and not report.errors

    start = time.perf_counter()
    again = roster_import(institution=institution, source="registrar", name="bench.csv",
                          stream=io.BytesIO(data), actor=Actor.system("bench"))
    second = time.perf_counter() - start
    assert again.unchanged == rows

    raw = raw_insert_rows_per_s(data, institution.pk, campus.pk)
    assert Person.objects.count() == 2 * rows
    rows_per_s = rows / first
    emit("roster_import", [
        ("database", args.db),
        ("rows", f"{rows:,}"),
        ("first import (validate + insert)", f"{first:.2f} s  ({rows_per_s:,.0f} rows/s)"),
        ("re-import (validate + compare, unchanged)", f"{second:.2f} s  ({rows / second:,.0f} rows/s)"),
        ("raw executemany INSERT, no validation", f"{raw:,.0f} rows/s"),
        ("import / raw ratio", f"{rows_per_s / raw:.2f}"),
    ], {"rows": rows, "rows_per_s": round(rows_per_s), "reimport_rows_per_s": round(rows / second),
        "raw_insert_rows_per_s": round(raw), "ratio_to_raw": round(rows_per_s / raw, 3), "db": args.db})


if __name__ == "__main__":
    main()
