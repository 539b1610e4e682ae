"""Personal data at rest (#18 item 7): ID and phone numbers, health records and face embeddings encrypted
under PII_KEYS with rotation; ID/phone look-ups through an HMAC blind index; masked except to entitled
operators, each unmasked look audited."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campuscard.core import crypto
from campuscard.core.models import AuditLog
from campuscard.core.privacy import mask_id_number, mask_phone
from campuscard.health.models import Examination, Vaccination
from campuscard.identity.models import Person
from tests.conftest import ID_ALICE

pytestmark = pytest.mark.django_db

PHONE = "13812345678"


def raw(table: str, column: str, pk: int):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def holder(student) -> Person:
    student.phone = PHONE
    student.save()
    return student


def test_numbers_are_stored_encrypted_and_read_back_plain(holder):
    stored_id, stored_phone = raw("identity_person", "id_number", holder.pk), raw("identity_person", "phone", holder.pk)
    assert ID_ALICE not in stored_id and PHONE not in stored_phone
    assert crypto.decrypt_text(stored_id) == ID_ALICE and crypto.decrypt_text(stored_phone) == PHONE
    fresh = Person.objects.get(pk=holder.pk)
    assert (fresh.id_number, fresh.phone) == (ID_ALICE, PHONE)
    assert Person.objects.filter(pk=holder.pk).values_list("id_number", flat=True).get() == ID_ALICE
    assert fresh.id_number_index == crypto.blind_index(ID_ALICE) and len(fresh.id_number_index) == 64


def test_look_ups_go_through_the_blind_index_never_the_plaintext(holder):
    with CaptureQueriesContext(connection) as queries:
        found = list(Person.objects.filter(institution=holder.institution, id_number=ID_ALICE.lower()))
    assert found == [holder]
    sql = queries.captured_queries[-1]["sql"]
    assert "id_number_index" in sql and ID_ALICE not in sql and ID_ALICE.lower() not in sql
    assert list(Person.objects.filter(id_number__in=[ID_ALICE, "E12345678"])) == [holder]
    assert list(Person.objects.filter(phone=f"{PHONE[:3]} {PHONE[3:]}")) == [holder]
    assert not Person.objects.filter(id_number="110105199003074528").exists()
    with pytest.raises(FieldError):
        list(Person.objects.filter(id_number__icontains="1101"))
    with pytest.raises(FieldError):
        list(Person.objects.filter(phone__startswith="138"))


def test_health_records_are_encrypted(holder, institution):
    now = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
    exam = Examination.objects.create(institution=institution, person=holder, external_id="E1",
                                      examined_on=dt.date(2026, 9, 1), height_cm=Decimal("172.5"), systolic=118,
                                      conclusion="健康", received_at=now)
    vaccination = Vaccination.objects.create(institution=institution, person=holder, external_id="V1",
                                             vaccine="乙肝疫苗", dose=2, given_on=dt.date(2026, 3, 1),
                                             batch="B-7", received_at=now)
    for column in ("height_cm", "systolic", "conclusion"):
        assert raw("health_examination", column, exam.pk).startswith("gAAAAA")
    assert raw("health_examination", "weight_kg", exam.pk) is None
    assert "乙肝" not in raw("health_vaccination", "vaccine", vaccination.pk)
    exam = Examination.objects.get(pk=exam.pk)
    assert (exam.height_cm, exam.systolic, exam.conclusion, exam.weight_kg) == (Decimal("172.5"), 118, "健康", None)
    vaccination = Vaccination.objects.get(pk=vaccination.pk)
    assert (vaccination.vaccine, vaccination.dose, vaccination.batch) == ("乙肝疫苗", 2, "B-7")


def test_rotation_re_encrypts_every_row_and_recomputes_the_indexes(holder, settings, institution):
    other = Person.objects.create(institution=institution, number="2025000002", name="李四", kind=holder.kind,
                                  status=holder.status, id_number="110105199003074528", phone="13900001111")
    old_token = raw("identity_person", "id_number", holder.pk)
    settings.PII_KEYS = ["a-new-key", *settings.PII_KEYS]
    settings.PII_INDEX_KEYS = ["a-new-index-key", *settings.PII_INDEX_KEYS]
    # before the rotation: old rows still read, and still found under the old index key
    assert Person.objects.get(id_number=ID_ALICE) == holder
    assert not crypto.is_current(old_token)
    out, err = io.StringIO(), io.StringIO()
    call_command("pii", "rotate", "--batch", "1", stdout=out, stderr=err)
    assert "identity.Person: 2 rewritten" in out.getvalue() and "rows" in err.getvalue()  # and a progress bar
    settings.PII_KEYS, settings.PII_INDEX_KEYS = ["a-new-key"], ["a-new-index-key"]
    assert raw("identity_person", "id_number", holder.pk) != old_token
    assert Person.objects.get(id_number=ID_ALICE) == holder and Person.objects.get(phone="13900001111") == other
    assert (Person.objects.get(pk=holder.pk).phone, Person.objects.get(pk=other.pk).id_number) == (
        PHONE, "110105199003074528")
    assert crypto.rotate()["identity.Person"] == 0  # all current: a rerun rewrites nothing


def test_rotation_covers_the_biometric_blobs(settings):
    from campuscard.enrollment import crypto as biometric

    assert crypto.ENCRYPTED_BLOBS["enrollment.RegistrarPhoto"] == ("image", "embedding")
    labels = {model._meta.label for model, _columns, _indexes in crypto.rotation_targets()}
    assert {"identity.Person", "enrollment.PhoneCode", "enrollment.Application", "enrollment.TerminalFace",
            "enrollment.RegistrarPhoto", "health.Examination", "health.Vaccination", "access.VisitorPass",
            "access.VisitorRequest"} <= labels
    assert biometric.encrypt is crypto.encrypt  # one mechanism


def test_the_data_migration_encrypts_existing_rows_and_back(holder):
    with connection.cursor() as cursor:  # a row as it was before the migration
        cursor.execute("UPDATE identity_person SET id_number = %s, phone = %s, id_number_index = '', "
                       "phone_index = '' WHERE id = %s", [ID_ALICE, PHONE, holder.pk])
    operation = crypto.encrypt_columns("identity", "person", ["id_number", "phone"],
                                       indexes={"id_number_index": "id_number", "phone_index": "phone"})
    editor = SimpleNamespace(connection=connection)
    operation.code(apps, editor)
    assert crypto.decrypt_text(raw("identity_person", "id_number", holder.pk)) == ID_ALICE
    assert Person.objects.get(id_number=ID_ALICE, phone=PHONE) == holder
    operation.reverse_code(apps, editor)
    assert (raw("identity_person", "id_number", holder.pk), raw("identity_person", "phone", holder.pk)) == (
        ID_ALICE, PHONE)


def test_a_row_written_in_plain_around_the_orm_reads_and_rotate_encrypts_it(holder):
    with connection.cursor() as cursor:  # a bulk SQL load (bench/lunch_rush.py clones rows so)
        cursor.execute("UPDATE identity_person SET id_number = %s, id_number_index = '' WHERE id = %s",
                       ["P000000001", holder.pk])
    assert Person.objects.get(pk=holder.pk).id_number == "P000000001"
    assert crypto.rotate()["identity.Person"] == 1
    assert crypto.looks_encrypted(raw("identity_person", "id_number", holder.pk))
    assert Person.objects.get(id_number="P000000001") == holder


def test_masks():
    assert mask_id_number("110101199003071234") == "1101**********1234"
    assert mask_id_number("E12345678") == "E*****678"
    assert mask_phone("13812345678") == "138****5678" and mask_phone("") == ""


def test_person_page_masks_unless_entitled_and_audits_every_unmasked_look(client, holder, make_operator):
    url = reverse("admin:identity_person_overview", args=[holder.pk])
    operator = make_operator(holder.institution, "card_center_operator")
    client.force_login(operator)
    page = client.get(url + "?reveal=1").content.decode()
    assert mask_id_number(ID_ALICE) in page and mask_phone(PHONE) in page
    assert ID_ALICE not in page and PHONE not in page and 'id="person-reveal"' not in page
    assert not AuditLog.objects.filter(action="personal_data_revealed").exists()

    admin = make_operator(holder.institution, "institution_admin")
    client.force_login(admin)
    page = client.get(url).content.decode()
    assert ID_ALICE not in page and 'id="person-reveal"' in page
    page = client.get(url + "?reveal=1").content.decode()
    assert ID_ALICE in page and PHONE in page
    audit = AuditLog.objects.get(action="personal_data_revealed")
    assert (audit.actor, audit.object_id, audit.after["where"]) == (admin, str(holder.pk), "person_page")

    client.get(reverse("admin:identity_person_change", args=[holder.pk]))  # the form shows them: audited too
    assert AuditLog.objects.filter(action="personal_data_revealed", after__where="change_form").count() == 1


def test_admin_finds_a_person_by_whole_id_number_only(client, holder, make_operator):
    client.force_login(make_operator(holder.institution, "card_center_operator"))
    changelist = reverse("admin:identity_person_changelist")
    assert [p.pk for p in client.get(changelist, {"q": ID_ALICE}).context["cl"].result_list] == [holder.pk]
    assert list(client.get(changelist, {"q": ID_ALICE[:6]}).context["cl"].result_list) == []


def settings_env(**env: str) -> subprocess.CompletedProcess:
    code = "import django; from django.conf import settings; django.setup(); print(len(settings.PII_KEYS))"
    environ = {k: v for k, v in os.environ.items()
               if k not in ("PII_KEYS", "PII_INDEX_KEY", "BIOMETRIC_KEY", "SECRET_KEY", "DEBUG", "PRODUCTION")}
    environ.update(DJANGO_SETTINGS_MODULE="campuscard.settings", **env)
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True)


def test_production_without_keys_fails_loudly():
    refused = settings_env(SECRET_KEY="given-by-the-deployment")
    assert refused.returncode != 0 and "PII_KEYS" in refused.stderr
    assert "PII_INDEX_KEY" in settings_env(SECRET_KEY="s", PII_KEYS="k1").stderr
    assert settings_env(SECRET_KEY="s", PII_KEYS="k1,k0", PII_INDEX_KEY="i1").stdout.strip() == "2"
    assert settings_env(PRODUCTION="true", PII_KEYS="k1").returncode != 0
    assert settings_env(SECRET_KEY="s", DEBUG="true").returncode == 0  # a developer's machine
    assert settings_env().returncode == 0  # demo, tests, benchmarks: the generated secret
