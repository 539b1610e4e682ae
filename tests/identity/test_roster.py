"""Roster import from the registrar and HR (ID-1): CSV/XLSX, every bad row reported, all rows or none."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import AuditLog, Campus
from campuscard.identity.documents import IdType
from campuscard.identity.models import Person
from campuscard.identity.roster import roster_import
from tests.conftest import ID_ALICE
from tests.helpers import (
    HR_COLUMNS,
    csv_bytes,
    resident_id,
    staff_row,
    student_row,
    table,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db

TESTER = Actor.system("test")
CHINESE_HEADERS = ["学号", "姓名", "类别", "学籍状态", "证件号码", "校区"]


def run(institution, data: bytes, *, source="registrar", name="roster.csv", actor=TESTER, **kwargs):
    return roster_import(institution=institution, source=source, name=name, stream=io.BytesIO(data),
                         actor=actor, **kwargs)


def refused(institution, data: bytes, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        run(institution, data, **kwargs)
    return caught.value


def bad_cells(error: DomainError) -> list[tuple[int, str]]:
    assert error.code == "roster_invalid", error
    return [(e["line"], e["column"]) for e in error.details["errors"]]


def snapshot():
    """Everything an import could touch: people (all written fields) and the audit trail."""
    people = tuple(Person.objects.order_by("pk").values_list(
        "pk", "institution_id", "number", "name", "kind", "status", "id_type", "id_number", "campus_id",
        "department", "source", "updated_at"))
    return people, AuditLog.objects.count()


# --- good files --------------------------------------------------------------------------------------


def test_good_csv_creates_people(institution):
    """ID-1: the registrar feed creates students (undergraduate, graduate, exchange)."""
    rows = [student_row(1), student_row(2, category="graduate", status="part_time"),
            student_row(3, category="exchange", id_number=ID_ALICE.lower())]
    report = run(institution, csv_bytes(table(rows)))
    assert (report.source, report.rows, report.created, report.updated, report.unchanged) == ("registrar", 3, 3, 0, 0)
    assert report.errors == []
    people = {p.number: p for p in Person.objects.filter(institution=institution)}
    assert set(people) == {"2025000001", "2025000002", "2025000003"}
    first = people["2025000001"]
    assert (first.name, first.kind, first.status, first.id_type, first.source) == (
        "学生1", Person.Kind.UNDERGRADUATE, Person.Status.FULL_TIME, IdType.RESIDENT, Person.Source.REGISTRAR)
    assert first.campus == Campus.objects.get(institution=institution, code="main")
    assert first.id_number == resident_id(1)
    assert (people["2025000002"].kind, people["2025000002"].status) == (Person.Kind.GRADUATE,
                                                                      Person.Status.PART_TIME)
    assert people["2025000003"].kind == Person.Kind.EXCHANGE
    assert people["2025000003"].id_number == ID_ALICE  # x → X (ID-2/ID-3)
    assert people["2025000003"].user is None  # the login is created at the first login (ID-3)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_chinese_headers_and_values_in_every_supported_encoding(institution, encoding):
    """Registrar exports come as UTF-8, UTF-8 with BOM (Excel) or GB18030, with Chinese column names."""
    rows = [student_row(1, name="张晓雪", category="本科生", status="全日制"),
            student_row(2, name="李研", category="研究生", status="非全日制"),
            student_row(3, name="Ana Silva", category="交换生", status="全日制")]
    data = csv_bytes(table(rows, headers=CHINESE_HEADERS), encoding=encoding)
    if encoding == "utf-8-sig":
        assert data.startswith(b"\xef\xbb\xbf")
    report = run(institution, data)
    assert report.created == 3
    people = {p.number: p for p in Person.objects.all()}
    assert (people["2025000001"].name, people["2025000001"].kind) == ("张晓雪", Person.Kind.UNDERGRADUATE)
    assert (people["2025000002"].name, people["2025000002"].status) == ("李研", Person.Status.PART_TIME)
    assert people["2025000003"].kind == Person.Kind.EXCHANGE


def test_optional_columns_and_special_certificates(institution):
    """ID-2: passports and HK/Macau/Taiwan permits are accepted for students."""
    columns = ["number", "name", "category", "status", "id_type", "id_number", "campus", "department",
               "enrollment_year", "phone", "email"]
    rows = [
        student_row(1, id_type="", department="计算机学院", enrollment_year="2025", phone="13800000001",
                    email="a@stu.example.cn"),
        student_row(2, category="exchange", id_type="护照", id_number="e1234 5678"),
        student_row(3, category="exchange", id_type="回乡证", id_number="H12345678"),
        student_row(4, category="exchange", id_type="tw_permit", id_number="12345678"),
    ]
    run(institution, csv_bytes(table(rows, columns)))
    people = {p.number: p for p in Person.objects.all()}
    one = people["2025000001"]
    assert (one.department, one.enrollment_year, one.phone, one.email) == (
        "计算机学院", 2025, "13800000001", "a@stu.example.cn")
    assert (people["2025000002"].id_type, people["2025000002"].id_number) == (IdType.PASSPORT, "E12345678")
    assert people["2025000003"].id_type == IdType.HKMO_PERMIT
    assert people["2025000004"].id_type == IdType.TW_PERMIT


def test_xlsx_roster(institution):
    """ID-1: XLSX works like CSV, including cells Excel stores as numbers."""
    lines = [["学号", "姓名", "类别", "学籍状态", "证件号码", "校区", "入学年份"],
             [2025000001, "张晓雪", "本科生", "全日制", resident_id(1), "main", 2025],
             [None, None, None, None, None, None, None],  # an empty row is skipped, but still counts as a line
             ["2025000002", "王研", "graduate", "full_time", resident_id(2), "main", None]]
    report = run(institution, xlsx_bytes(lines), name="学籍名单.xlsx")
    assert (report.rows, report.created) == (2, 2)
    one = Person.objects.get(number="2025000001")
    assert (one.name, one.kind, one.enrollment_year) == ("张晓雪", Person.Kind.UNDERGRADUATE, 2025)
    assert Person.objects.get(number="2025000002").enrollment_year is None


def test_xlsx_bad_rows_report_spreadsheet_line_numbers(institution):
    lines = [["number", "name", "category", "status", "id_number", "campus"],
             ["2025000001", "甲", "undergraduate", "full_time", resident_id(1), "main"],
             [None] * 6,
             ["2025000002", "乙", "undergraduate", "full_time", resident_id(2), "nowhere"]]
    error = refused(institution, xlsx_bytes(lines), name="roster.XLSX")
    assert bad_cells(error) == [(4, "campus")]
    assert Person.objects.count() == 0


def test_hr_roster_creates_staff(institution):
    """ID-1: the HR feed creates staff; status defaults to active, 离职 means left."""
    rows = [staff_row(1), staff_row(2, status="离职"), staff_row(3, status="在职")]
    columns = [*HR_COLUMNS, "status"]
    report = run(institution, csv_bytes(table(rows, columns)), source="hr")
    assert report.created == 3
    staff = {p.number: p for p in Person.objects.all()}
    assert {p.kind for p in staff.values()} == {Person.Kind.STAFF}
    assert {p.source for p in staff.values()} == {Person.Source.HR}
    assert [staff[n].status for n in ("T00001", "T00002", "T00003")] == [
        Person.Status.ACTIVE, Person.Status.LEFT, Person.Status.ACTIVE]
    assert staff["T00001"].department == "计算机学院"


def test_reimport_is_an_upsert(institution):
    """Re-importing the same file changes nothing; a changed row is updated in place."""
    rows = [student_row(i) for i in range(1, 6)]
    run(institution, csv_bytes(table(rows)))
    ids_before = dict(Person.objects.values_list("number", "pk"))

    again = run(institution, csv_bytes(table(rows)))
    assert (again.rows, again.created, again.updated, again.unchanged) == (5, 0, 0, 5)

    rows[1] = student_row(2, name="改名", status="suspended")
    rows.append(student_row(6))
    changed = run(institution, csv_bytes(table(rows)))
    assert (changed.rows, changed.created, changed.updated, changed.unchanged) == (6, 1, 1, 4)
    person = Person.objects.get(number="2025000002")
    assert (person.name, person.status) == ("改名", Person.Status.SUSPENDED)
    assert person.pk == ids_before["2025000002"]  # same row, not a new person
    assert Person.objects.count() == 6


def test_rosters_of_two_institutions_do_not_touch_each_other(institution, other_institution):
    """TEN-1: the same student number may exist in two institutions; an import only touches its own."""
    run(institution, csv_bytes(table([student_row(1)])))
    run(other_institution, csv_bytes(table([student_row(1, name="另一个人")])))
    assert Person.objects.get(institution=institution).name == "学生1"
    assert Person.objects.get(institution=other_institution).name == "另一个人"


def test_audit_row_is_written_on_success(institution, make_operator):
    operator = make_operator(institution, "card_center_operator")
    run(institution, csv_bytes(table([student_row(1), student_row(2)])), actor=Actor.by_user(operator))
    row = AuditLog.objects.get(action="roster_imported_registrar")
    assert row.institution_id == institution.pk
    assert row.actor == operator
    assert row.object_type == "roster"
    assert row.after == {"source": "registrar", "rows": 2, "created": 2, "updated": 0, "unchanged": 0}


def test_audit_names_a_system_actor(institution):
    run(institution, csv_bytes(table([staff_row(1)], HR_COLUMNS)), source="hr", actor=Actor.system("cli:import_roster"))
    row = AuditLog.objects.get(action="roster_imported_hr")
    assert (row.actor, row.actor_label, row.institution_id) == (None, "cli:import_roster", institution.pk)


def test_progress_is_reported(institution):
    seen = []
    run(institution, csv_bytes(table([student_row(i) for i in range(3)])),
        progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert ("validate", 3, 3) in seen
    assert ("write", 3, 3) in seen


# --- bad files: every bad row, with its line, and nothing imported --------------------------------


def test_every_bad_row_is_reported_with_line_and_column_and_nothing_is_imported(institution):
    """ID-1: each bad row gets a clear error with its line number (header = line 1); nothing half-imported."""
    Person.objects.create(institution=institution, number="2025000099", name="已在校", kind=Person.Kind.UNDERGRADUATE,
                          status=Person.Status.FULL_TIME, id_number=resident_id(99))
    rows = [
        student_row(1),  # line 2: good
        student_row(2, id_number=resident_id(2)[:-1] + ("1" if resident_id(2)[-1] != "1" else "2")),  # 3: checksum
        student_row(3, campus="nowhere"),  # 4: unknown campus
        student_row(1, id_number=resident_id(4)),  # 5: number already on line 2
        student_row(5, id_number=resident_id(1)),  # 6: ID already on line 2
        student_row(6, category="postdoc"),  # 7: unknown category
        student_row(7, status="retired"),  # 8: unknown status
        student_row(8, status="active"),  # 9: a staff status is not a registration status
        student_row(9, name=""),  # 10: empty required cell
        student_row(10, id_type="驾驶证"),  # 11: unknown document type
        student_row(11, category="", campus="nowhere"),  # 12: two problems on one line
        student_row(12),  # 13: good
        student_row(99, name="改名"),  # 14: good update of an existing person
    ]
    columns = ["number", "name", "category", "status", "id_type", "id_number", "campus"]
    before = snapshot()
    error = refused(institution, csv_bytes(table(rows, columns)))
    assert bad_cells(error) == [
        (3, "id_number"), (4, "campus"), (5, "number"), (6, "id_number"), (7, "category"), (8, "status"),
        (9, "status"), (10, "name"), (11, "id_type"), (12, "category"),
    ]
    assert error.status == 422
    assert error.details["rows"] == 13 and error.details["created"] == 0
    assert snapshot() == before  # nothing imported, nothing updated, no audit row
    messages = {e["line"]: e["message"] for e in error.details["errors"]}
    assert "nowhere" in messages[4]
    assert "2" in messages[5]  # "also on line 2"
    assert "postdoc" in messages[7]
    assert str(10) in error.message  # "The roster has 10 bad rows …"


def test_a_row_with_two_problems_reports_both(institution):
    error = refused(institution, csv_bytes(table([student_row(1, category="postdoc", campus="nowhere")])))
    assert sorted(bad_cells(error)) == [(2, "campus"), (2, "category")]


def test_blank_lines_keep_the_line_numbers_of_the_file(institution):
    lines = [*table([student_row(1)]), [], [""] * 6, table([student_row(2, campus="nowhere")])[1]]
    error = refused(institution, csv_bytes(lines))
    assert bad_cells(error) == [(5, "campus")]
    assert error.details["rows"] == 2


def test_missing_column_is_reported_on_the_header_line(institution):
    columns = ["number", "name", "category", "status", "id_number"]  # no campus
    error = refused(institution, csv_bytes(table([student_row(1), student_row(2)], columns)))
    assert bad_cells(error) == [(1, "campus")]
    assert Person.objects.count() == 0


def test_missing_columns_are_all_named(institution):
    error = refused(institution, csv_bytes([["number", "name"], ["2025000001", "甲"]]))
    assert bad_cells(error) == [(1, "category,status,id_number,campus")]


def test_a_short_row_is_reported_on_its_own_line_not_as_missing_columns(institution):
    """A row with fewer cells than the header lacks values, not columns: its own line is named."""
    lines = table([student_row(1), student_row(2)])
    lines[1] = lines[1][:3]  # line 2 stops after "category"
    error = refused(institution, csv_bytes(lines))
    assert bad_cells(error) == [(2, "status"), (2, "id_number"), (2, "campus")]


def test_empty_file_is_unreadable(institution):
    error = refused(institution, b"")
    assert error.code == "roster_unreadable"
    assert error.status == 422


def test_empty_workbook_is_unreadable(institution):
    error = refused(institution, xlsx_bytes([]), name="roster.xlsx")
    assert error.code == "roster_unreadable"


def test_a_broken_workbook_is_unreadable(institution):
    error = refused(institution, b"PK\x03\x04 this is not a workbook", name="roster.xlsx")
    assert error.code == "roster_unreadable"


def test_text_in_an_unknown_encoding_is_unreadable(institution):
    error = refused(institution, b"number,name\r\n\xff\xfe\xfa,\x80\x80\r\n")
    assert error.code == "roster_unreadable"


def test_a_field_over_the_csv_limit_is_unreadable_not_a_crash(institution):
    """#18 item 9: a field over 131,072 characters was a 500."""
    lines = table([student_row(1), student_row(2)])
    lines[2] = [*lines[2][:-1], "x" * 140_000]
    error = refused(institution, csv_bytes(lines))
    assert error.code == "roster_unreadable" and "line 3" in str(error.params)
    assert not Person.objects.filter(institution=institution).exists()


def test_a_big5_roster_is_refused_not_imported_as_mojibake(institution):
    """#18 item 9: Big5 decodes as GB18030 without an error, into other characters."""
    rows = [student_row(1, name="陳美玲", category="本科生", status="全日制"),
            student_row(2, name="林志豪", category="研究生", status="全日制")]
    headers = [h.replace("学", "學").replace("号", "號").replace("类别", "類別").replace("证", "證").replace("码", "碼")
               .replace("区", "區") for h in CHINESE_HEADERS]
    data = "\r\n".join(",".join(r) for r in table(rows, headers=headers)).encode("big5", errors="replace")
    error = refused(institution, data)
    assert error.code == "roster_unreadable" and "Big5" in str(error.params)
    assert not Person.objects.exists()


@override_settings(ROSTER_MAX_BYTES=2000)
def test_a_roster_over_the_size_limit_is_refused_before_it_is_read(institution):
    data = csv_bytes(table([student_row(n) for n in range(1, 40)]))
    assert len(data) > 2000
    stream = io.BytesIO(data)
    with pytest.raises(DomainError) as caught:
        roster_import(institution=institution, source="registrar", name="big.csv", stream=stream,
                      actor=Actor.system("t"))
    assert caught.value.code == "roster_too_large" and caught.value.status == 413
    assert stream.tell() == 2001  # read no further than the limit
    assert not Person.objects.exists()


def test_unknown_source_is_refused(institution):
    error = refused(institution, csv_bytes(table([student_row(1)])), source="library")
    assert (error.code, error.status) == ("roster_unknown_source", 400)
    assert Person.objects.count() == 0


@override_settings(ROSTER_MAX_ERRORS_SHOWN=2)
def test_error_list_is_capped_but_the_count_is_complete(institution):
    rows = [student_row(i, campus="nowhere") for i in range(1, 6)]
    error = refused(institution, csv_bytes(table(rows)))
    assert bad_cells(error) == [(2, "campus"), (3, "campus")]
    assert error.params["count"] == 5


# --- rows that clash with people already registered ---------------------------------------------------


def test_number_of_a_staff_member_in_a_registrar_file_is_an_error(institution, staff_member):
    """ID-1: the registrar feeds students; it may not turn a staff member into one."""
    before = snapshot()
    rows = [student_row(1), student_row(2, number=staff_member.number)]
    error = refused(institution, csv_bytes(table(rows)))
    assert bad_cells(error) == [(3, "number")]
    assert staff_member.number in error.details["errors"][0]["message"]
    assert snapshot() == before


def test_number_of_a_student_in_an_hr_file_is_an_error(institution, student):
    before = snapshot()
    error = refused(institution, csv_bytes(table([staff_row(1, number=student.number)], HR_COLUMNS)), source="hr")
    assert bad_cells(error) == [(2, "number")]
    assert snapshot() == before


def test_registrar_file_cannot_take_over_a_temporary_holder(institution):
    """ID-1: temporary holders are entered by hand; a registrar row with their number is an error."""
    temporary = Person.objects.create(institution=institution, number="L20260001", name="临时工",
                                      kind=Person.Kind.TEMPORARY, status=Person.Status.ACTIVE,
                                      id_number=resident_id(700), source=Person.Source.MANUAL)
    before = snapshot()
    error = refused(institution, csv_bytes(table([student_row(1, number=temporary.number)])))
    assert bad_cells(error) == [(2, "number")]
    assert snapshot() == before
    temporary.refresh_from_db()
    assert temporary.kind == Person.Kind.TEMPORARY


def test_clashes_with_registered_people_are_reported_together_with_bad_rows(institution, staff_member, student):
    """ID-1: every bad row in one report — a bad cell does not hide a clash further down."""
    rows = [student_row(1, campus="nowhere"), student_row(2, number=staff_member.number),
            student_row(3, id_number=student.id_number), student_row(4)]
    before = snapshot()
    error = refused(institution, csv_bytes(table(rows)))
    assert bad_cells(error) == [(2, "campus"), (3, "number"), (4, "id_number")]
    assert snapshot() == before


def test_alumni_may_be_listed_again_by_the_registrar(institution):
    Person.objects.create(institution=institution, number="2025000001", name="学生1", kind=Person.Kind.ALUMNUS,
                          status=Person.Status.GRADUATED, id_number=resident_id(1))
    report = run(institution, csv_bytes(table([student_row(1, category="graduate")])))
    assert report.updated == 1
    assert Person.objects.get(number="2025000001").kind == Person.Kind.GRADUATE


def test_id_number_held_by_another_registered_person_is_an_error(institution, student):
    rows = [student_row(1), student_row(2, id_number=student.id_number)]
    before = snapshot()
    error = refused(institution, csv_bytes(table(rows)))
    assert bad_cells(error) == [(3, "id_number")]
    assert student.number in error.details["errors"][0]["message"]
    assert snapshot() == before


def test_id_number_of_someone_who_left_may_be_reused(institution):
    """A graduate who studied here before gets a second record under a new number."""
    Person.objects.create(institution=institution, number="2019000001", name="老生", kind=Person.Kind.ALUMNUS,
                          status=Person.Status.GRADUATED, id_number=resident_id(1))
    assert run(institution, csv_bytes(table([student_row(1)]))).created == 1


# --- the command line ---------------------------------------------------------------------------------


def test_cli_imports_a_roster(institution, tmp_path: Path):
    path = tmp_path / "registrar.csv"
    path.write_bytes(csv_bytes(table([student_row(1), student_row(2)]), encoding="gb18030"))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_roster", str(path), institution=institution.code, source="registrar", stdout=out, stderr=err)
    assert "2 rows: 2 created, 0 updated, 0 unchanged" in out.getvalue()
    assert Person.objects.filter(institution=institution).count() == 2
    audit = AuditLog.objects.get(action="roster_imported_registrar")
    assert audit.actor_label == "cli:import_roster"


def test_cli_reports_every_bad_row_and_imports_nothing(institution, tmp_path: Path):
    path = tmp_path / "hr.xlsx"
    path.write_bytes(xlsx_bytes(table([staff_row(1), staff_row(2, campus="nowhere"), staff_row(3, id_number="123")],
                                      HR_COLUMNS)))
    before = snapshot()
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_roster", str(path), institution=institution.code, source="hr", stdout=io.StringIO(),
                     stderr=err)
    assert str(caught.value) == "roster_invalid"
    assert caught.value.returncode == 2
    text = err.getvalue()
    assert "line      3  campus" in text
    assert "line      4  id_number" in text
    assert snapshot() == before


def test_cli_refuses_an_unknown_institution_or_missing_file(institution, tmp_path: Path):
    path = tmp_path / "r.csv"
    path.write_bytes(csv_bytes(table([student_row(1)])))
    with pytest.raises(CommandError, match="institution_unknown"):
        call_command("import_roster", str(path), institution="nope", source="registrar", stdout=io.StringIO(),
                     stderr=io.StringIO())
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_roster", str(tmp_path / "missing.csv"), institution=institution.code,
                     source="registrar")
    assert Person.objects.count() == 0
