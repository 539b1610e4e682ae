"""Bulk issuing (APP-7, HIT FAQ §4) and one card at the window (issue #16 item 7)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from campuscard.cards import issuing
from campuscard.cards.models import Card, IssueBatch, IssueRun, Production
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import Area, AuditLog, ServicePoint
from campuscard.identity.models import Person
from campuscard.support.models import Notification
from tests.cards.conftest import make_person

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


def refused(code, fn, **kwargs):
    with pytest.raises(DomainError) as error:
        fn(**kwargs)
    assert error.value.code == code, error.value.code
    return error.value


@pytest.fixture
def intake(institution, approve_photo):
    """2026 intake: 3 of 计算机学院 and 2 of 化学学院 with approved photos, 2 without; people outside the slice."""
    def person(dept, photo=True, year=2026, **kw):
        p = make_person(institution, department=dept, enrollment_year=year, title=kw.pop("title", "2026级1班"), **kw)
        if photo:
            approve_photo(p)
        return p

    cs = [person("计算机学院") for _ in range(3)]
    chem = [person("化学学院") for _ in range(2)]
    no_photo = [person("计算机学院", photo=False), person("化学学院", photo=False)]
    suspended = person("计算机学院")
    Person.objects.filter(pk=suspended.pk).update(status=Person.Status.SUSPENDED)
    outside = [person("计算机学院", year=2025), suspended]
    return {"cs": cs, "chem": chem, "no_photo": no_photo, "outside": outside}


@pytest.fixture
def operator_actor(operator):
    return Actor.by_user(operator)


def test_bulk_issues_only_to_people_with_a_photo_in_one_batch_per_unit(institution, intake, operator_actor):
    run = issuing.issue_batch_create(actor=operator_actor, institution=institution, enrollment_year=2026)
    assert (run.state, run.total, run.issued, run.already) == ("done", 7, 5, 0)
    assert run.done == run.total
    batches = {b.unit: b for b in run.batches.all()}
    assert set(batches) == {"计算机学院", "化学学院"}
    assert {p.card.person for p in batches["计算机学院"].productions.select_related("card__person")} == set(intake["cs"])
    assert {p.card.person for p in batches["化学学院"].productions.select_related("card__person")} == set(intake["chem"])
    for production in Production.objects.filter(batch__run=run).select_related("card"):
        assert production.collect_unit == production.batch.unit and production.collect_point is None
        assert production.card.physical and production.card.state == Card.State.ACTIVE  # virtual works at once
    for person in intake["outside"] + intake["no_photo"]:
        assert not person.cards.exists()
    assert {m["id"] for m in run.missing_photo} == {p.pk for p in intake["no_photo"]}
    assert AuditLog.objects.filter(action="issue_run_done", object_id=str(run.pk)).exists()


def test_people_without_a_photo_are_listed_and_notified_once(institution, intake, approve_photo):
    run = issuing.issue_batch_create(actor=SYSTEM, institution=institution, enrollment_year=2026)
    lacking = intake["no_photo"][0]
    note = Notification.objects.get(person=lacking, kind=Notification.Kind.PHOTO)
    assert "Card Center" in note.body or "卡务中心" in note.body
    assert note.link == "/cards/photo/"
    again = issuing.issue_batch_create(actor=SYSTEM, institution=institution, enrollment_year=2026)
    assert Notification.objects.filter(person=lacking, kind=Notification.Kind.PHOTO).count() == 1  # not twice
    assert {m["id"] for m in again.missing_photo} == {p.pk for p in intake["no_photo"]}  # still listed
    assert run.pk != again.pk


def test_running_the_same_selection_twice_issues_no_second_card(institution, intake, approve_photo):
    first = issuing.issue_batch_create(actor=SYSTEM, institution=institution, enrollment_year=2026)
    cards = Card.objects.count()
    second = issuing.issue_batch_create(actor=SYSTEM, institution=institution, enrollment_year=2026)
    assert (second.issued, second.already, Card.objects.count()) == (0, 5, cards)
    assert not second.batches.exists()  # nothing new: no empty sheet
    # a late photo: the next run issues that one card only, in a new batch of its unit
    approve_photo(intake["no_photo"][0])
    third = issuing.issue_batch_create(actor=SYSTEM, institution=institution, enrollment_year=2026,
                                       department="计算机学院")
    assert (third.issued, third.already) == (1, 3) and [b.unit for b in third.batches.all()] == ["计算机学院"]
    assert first.state == "done"


def test_the_selection_narrows_by_department_class_and_kind(institution, intake):
    staff = make_person(institution, Person.Kind.STAFF, department="计算机学院", title="2026级1班")
    run = issuing.issue_batch_create(actor=SYSTEM, institution=institution, department="计算机学院",
                                     title="2026级1班", person_kind=Person.Kind.UNDERGRADUATE)
    # no intake year: the 2026 intake (3 with photos, 1 without) and the 2025 student; not the suspended one
    assert run.total == 5 and run.issued == 4 and len(run.missing_photo) == 1
    assert not staff.cards.exists()
    refused("issue_selection_empty", issuing.issue_batch_create, actor=SYSTEM, institution=institution)
    refused("issue_selection_kind", issuing.issue_batch_create, actor=SYSTEM, institution=institution,
            department="计算机学院", person_kind=Person.Kind.VISITOR)
    assert IssueRun.objects.count() == 1  # refusals change nothing


def test_batch_printed_handed_over_to_the_unit_then_to_each_person(institution, intake, operator, operator_actor):
    run = issuing.issue_batch_create(actor=operator_actor, institution=institution, enrollment_year=2026)
    batch = run.batches.get(unit="化学学院")
    one, two = [p.card for p in batch.productions.select_related("card")]
    refused("issue_batch_state", issuing.issue_batch_handover, actor=operator_actor, batch=batch, received_by="王老师")
    batch = issuing.issue_batch_print(actor=operator_actor, batch=batch)
    assert set(batch.productions.values_list("state", flat=True)) == {"printed"}
    refused("issue_receiver_required", issuing.issue_batch_handover, actor=operator_actor, batch=batch,
            received_by="  ")
    refused("issue_batch_state", issuing.issue_batch_person_handover, actor=operator_actor, batch=batch, card=one,
            signed_by="x")  # not at the unit yet
    batch = issuing.issue_batch_handover(actor=operator_actor, batch=batch, received_by="王老师（化学学院办公室）")
    assert (batch.state, batch.received_by, batch.handed_over_by) == ("handed_over", "王老师（化学学院办公室）",
                                                                      operator)
    assert batch.handed_over_at is not None
    ready = Notification.objects.get(person=one.person, kind=Notification.Kind.CARD_READY)
    assert "化学学院" in ready.body
    refused("issue_signature_required", issuing.issue_batch_person_handover, actor=operator_actor, batch=batch,
            card=one, signed_by="")
    other_card = run.batches.get(unit="计算机学院").productions.first().card
    refused("issue_card_not_in_batch", issuing.issue_batch_person_handover, actor=operator_actor, batch=batch,
            card=other_card, signed_by="x")
    done = issuing.issue_batch_person_handover(actor=operator_actor, batch=batch, card=one, signed_by=one.person.name)
    assert (done.state, done.signed_by) == ("collected", one.person.name) and done.collected_at
    batch.refresh_from_db()
    assert batch.state == "handed_over"
    refused("issue_batch_state", issuing.issue_batch_person_handover, actor=operator_actor, batch=batch, card=one,
            signed_by="again")
    issuing.issue_batch_person_handover(actor=operator_actor, batch=batch, card=two, signed_by=two.person.name)
    batch.refresh_from_db()
    assert batch.state == "done"
    assert AuditLog.objects.filter(action="issue_batch_card_handed_out").count() == 2


def test_the_cli_shows_progress_and_lists_who_has_no_photo(institution, intake):
    out, err = io.StringIO(), io.StringIO()
    call_command("issue_cards", "--institution", institution.code, "--year", "2026", stdout=out, stderr=err)
    assert "5 cards issued" in out.getvalue() and "without an approved photo" in out.getvalue()
    assert intake["no_photo"][0].number in out.getvalue()
    assert "people" in err.getvalue() and "7/7" in err.getvalue()  # the tqdm bar


def test_a_large_slice_runs_in_chunks_with_progress(institution, approve_photo, monkeypatch):
    monkeypatch.setattr(issuing, "CHUNK", 3)
    people = [make_person(institution, department="数学学院", enrollment_year=2027) for _ in range(8)]
    for p in people:
        approve_photo(p)
    seen = []
    run = issuing.issue_batch_create(actor=SYSTEM, institution=institution, enrollment_year=2027,
                                     progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 8), (3, 8), (6, 8), (8, 8)] and run.issued == 8
    assert run.batches.get().productions.count() == 8


def test_background_run_through_the_worker(institution, intake, operator_actor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = issuing.issue_batch_create(actor=operator_actor, institution=institution, enrollment_year=2026,
                                         background=True)
        assert run.state == "queued"  # the request returns at once
    run.refresh_from_db()
    assert (run.state, run.issued) == ("done", 5)  # Huey runs immediately in the tests


# --- authorisation -------------------------------------------------------------------------------

def test_an_operator_of_another_institution_changes_nothing(institution, other_institution, intake, make_operator,
                                                              operator_actor):
    theirs = Actor.by_user(make_operator(other_institution, "card_center_operator", "theirs"))
    refused("forbidden", issuing.issue_batch_create, actor=theirs, institution=institution, enrollment_year=2026)
    run = issuing.issue_batch_create(actor=operator_actor, institution=institution, enrollment_year=2026)
    batch = run.batches.first()
    refused("forbidden", issuing.issue_batch_print, actor=theirs, batch=batch)
    issuing.issue_batch_print(actor=operator_actor, batch=batch)
    refused("forbidden", issuing.issue_batch_handover, actor=theirs, batch=batch, received_by="x")
    issuing.issue_batch_handover(actor=operator_actor, batch=batch, received_by="x")
    card = batch.productions.first().card
    refused("forbidden", issuing.issue_batch_person_handover, actor=theirs, batch=batch, card=card, signed_by="x")
    refused("forbidden", issuing.card_window_issue, actor=theirs, person=intake["no_photo"][0])
    auditor = Actor.by_user(make_operator(institution, "auditor", "aud"))
    refused("forbidden", issuing.issue_batch_create, actor=auditor, institution=institution, enrollment_year=2026)
    assert IssueRun.objects.count() == 1
    assert Production.objects.get(card=card).state == "at_kiosk"


# --- one card at the window -----------------------------------------------------------------------

@pytest.fixture
def window(institution):
    return ServicePoint.objects.create(area=Area.objects.get(code="area1"), code="w22", kind="window",
                                       name="卡务中心22号窗口", location="行政楼一楼")


@pytest.mark.parametrize("kind, card_kind", [(Person.Kind.STAFF, "staff"), (Person.Kind.TEMPORARY, "temporary"),
                                             (Person.Kind.VISITOR, "visitor")])
def test_the_window_issues_one_card_of_the_person_s_kind(institution, operator_actor, approve_photo, window, kind,
                                                         card_kind):
    person = make_person(institution, kind)
    virtual = issuing.card_window_issue(actor=operator_actor, person=person)
    assert (virtual.kind, virtual.physical, virtual.state) == (card_kind, False, "active")
    log = AuditLog.objects.get(action="card_issued", object_id=str(virtual.pk))
    assert log.actor is not None  # the operator, not a job
    refused("card_kind_exists", issuing.card_window_issue, actor=operator_actor, person=person, physical=True)
    assert person.cards.count() == 1


def test_a_physical_card_at_the_window_needs_a_photo_and_is_collected_at_the_window(institution, operator_actor,
                                                                                    approve_photo, window):
    newcomer = make_person(institution, Person.Kind.STAFF, source=Person.Source.HR, campus=institution.campuses.get())
    refused("photo_missing", issuing.card_window_issue, actor=operator_actor, person=newcomer, physical=True)
    assert not newcomer.cards.exists()
    approve_photo(newcomer)
    card = issuing.card_window_issue(actor=operator_actor, person=newcomer, physical=True)
    assert card.physical and card.production.collect_point == window


def test_the_window_refuses_people_who_left(institution, operator_actor):
    gone = make_person(institution, Person.Kind.STAFF)
    gone.status = Person.Status.LEFT
    gone.save()
    refused("card_holder_ineligible", issuing.card_window_issue, actor=operator_actor, person=gone)
    assert not gone.cards.exists()


def test_bulk_and_window_agree_on_one_card_per_kind(institution, intake, operator_actor):
    early = intake["cs"][0]
    issuing.card_window_issue(actor=operator_actor, person=early)
    run = issuing.issue_batch_create(actor=operator_actor, institution=institution, enrollment_year=2026)
    assert (run.issued, run.already) == (4, 1) and early.cards.count() == 1
    assert IssueBatch.objects.filter(run=run).count() == 2


# --- back office and API ----------------------------------------------------------------------------

def test_back_office_bulk_issue_print_handover_and_sign(client, institution, intake, operator,
                                                        django_capture_on_commit_callbacks):
    client.force_login(operator)
    assert client.get("/backoffice/cards/issuerun/").status_code == 200
    assert client.get("/backoffice/cards/issuerun/add/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/backoffice/cards/issuerun/add/", {"enrollment_year": "2026", "department": "化学学院"})
    run = IssueRun.objects.get()
    assert started.status_code == 302 and started.url.endswith(f"/cards/issuerun/{run.pk}/change/")
    page = client.get(started.url).content.decode()
    assert "化学学院" in page and intake["no_photo"][1].number in page  # the list of who has no photo
    batch = run.batches.get()
    sheet = client.get(f"/backoffice/cards/issuebatch/{batch.pk}/sheet/").content.decode()
    for production in batch.productions.select_related("card__person"):
        assert production.card.number in sheet and production.card.person.name in sheet
    listing = client.get("/backoffice/cards/issuebatch/").content.decode()
    assert 'id="batch-states"' in listing and f'id="sheet-{batch.pk}"' in listing
    handover = f"/backoffice/cards/issuebatch/{batch.pk}/handover/"
    assert client.get(f"/backoffice/cards/issuebatch/{batch.pk}/change/").url == handover
    client.post(handover, {"step": "print"})
    client.post(handover, {"step": "unit", "received_by": "王老师"})
    batch.refresh_from_db()
    assert (batch.state, batch.received_by) == ("handed_over", "王老师")
    card = batch.productions.first().card
    client.post(handover, {"step": "person", "card": card.pk, "signed_by": card.person.name})
    assert Production.objects.get(card=card).signed_by == card.person.name
    refused_page = client.post(handover, {"step": "person", "card": card.pk, "signed_by": "x"}, follow=True)
    assert "This batch cannot do that" in refused_page.content.decode() or "不能" in refused_page.content.decode()


def test_back_office_of_another_institution_sees_and_changes_nothing(client, institution, other_institution, intake,
                                                                      make_operator):
    run = issuing.issue_batch_create(actor=SYSTEM, institution=institution, enrollment_year=2026)
    batch = run.batches.first()
    client.force_login(make_operator(other_institution, "card_center_operator", "theirs"))
    assert str(batch.unit) not in client.get("/backoffice/cards/issuebatch/").content.decode()
    assert client.get(f"/backoffice/cards/issuerun/{run.pk}/change/").status_code == 302  # not found → list
    for url in (f"/backoffice/cards/issuebatch/{batch.pk}/sheet/", f"/backoffice/cards/issuebatch/{batch.pk}/handover/"):
        assert client.get(url).status_code == 404
    assert client.post(f"/backoffice/cards/issuebatch/{batch.pk}/handover/", {"step": "print"}).status_code == 404
    batch.refresh_from_db()
    assert batch.state == "open"
    stranger = intake["no_photo"][0]
    response = client.post("/backoffice/cards/card/issue/", {"person": stranger.pk})
    assert response.status_code == 200 and not stranger.cards.exists()  # not one of theirs: a form error


def test_back_office_window_issue_from_the_person_page(client, institution, operator, approve_photo):
    temp = make_person(institution, Person.Kind.TEMPORARY)
    client.force_login(operator)
    person_page = client.get(f"/backoffice/identity/person/{temp.pk}/change/").content.decode()
    assert 'id="issue-card"' in person_page
    assert client.get("/backoffice/cards/card/add/").url.endswith("/cards/card/issue/")
    form = client.get(f"/backoffice/cards/card/issue/?person={temp.pk}")
    assert form.status_code == 200
    no_photo = client.post("/backoffice/cards/card/issue/", {"person": temp.pk, "physical": "on"})
    assert no_photo.status_code == 200 and not temp.cards.exists()
    made = client.post("/backoffice/cards/card/issue/", {"person": temp.pk})
    card = temp.cards.get()
    assert made.status_code == 302 and card.kind == "temporary" and not card.physical
    again = client.post("/backoffice/cards/card/issue/", {"person": temp.pk})
    assert again.status_code == 200 and temp.cards.count() == 1


def test_api_runs_batches_and_window(client, institution, other_institution, intake, operator, make_operator):
    client.force_login(operator)
    made = client.post("/api/v1/issuing/runs", {"enrollment_year": 2026, "wait": True}, content_type="application/json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["issued"] == 5 and {b["unit"] for b in body["batches"]} == {"计算机学院", "化学学院"}
    assert {m["number"] for m in body["missing_photo"]} == {p.number for p in intake["no_photo"]}
    batch_id = next(b["id"] for b in body["batches"] if b["unit"] == "化学学院")
    assert client.post(f"/api/v1/issuing/batches/{batch_id}/handover", {"received_by": "王"},
                       content_type="application/json").json()["code"] == "issue_batch_state"
    assert client.post(f"/api/v1/issuing/batches/{batch_id}/printed").json()["state"] == "printed"
    assert client.post(f"/api/v1/issuing/batches/{batch_id}/handover", {"received_by": "王"},
                       content_type="application/json").json()["state"] == "handed_over"
    cards = client.get(f"/api/v1/issuing/batches/{batch_id}/cards").json()
    signed = client.post(f"/api/v1/issuing/batches/{batch_id}/handout", {"card": cards[0]["card"], "signed_by": "张"},
                         content_type="application/json").json()
    assert signed["state"] == "collected" and signed["signed_by"] == "张"
    again = client.post("/api/v1/issuing/runs", {"enrollment_year": 2026, "wait": True}, content_type="application/json")
    assert again.json()["issued"] == 0
    staff = make_person(institution, Person.Kind.STAFF)
    window = client.post("/api/v1/issuing/window", {"person": staff.number}, content_type="application/json")
    assert window.status_code == 201 and window.json()["kind"] == "staff"
    assert client.post("/api/v1/issuing/window", {"person": staff.number},
                       content_type="application/json").json()["code"] == "card_kind_exists"
    client.force_login(make_operator(other_institution, "card_center_operator", "theirs"))
    assert client.get(f"/api/v1/issuing/runs/{body['id']}").status_code == 404
    assert client.get("/api/v1/issuing/batches").json() == []
    assert client.post(f"/api/v1/issuing/batches/{batch_id}/printed").status_code == 404
    assert client.post("/api/v1/issuing/window", {"person": intake["no_photo"][0].number},
                       content_type="application/json").status_code == 404


def test_staff_from_the_hr_roster_in_bulk_by_unit(institution, approve_photo):
    """The HR path: the Card Center issues a unit's staff their cards in bulk (or one by one at the window)."""
    staff = [make_person(institution, Person.Kind.STAFF, department="后勤处", source=Person.Source.HR)
             for _ in range(3)]
    for member in staff[:2]:
        approve_photo(member)
    student = make_person(institution, department="后勤处")
    approve_photo(student)
    run = issuing.issue_batch_create(actor=SYSTEM, institution=institution, department="后勤处",
                                     person_kind=Person.Kind.STAFF)
    assert (run.total, run.issued, len(run.missing_photo)) == (3, 2, 1)
    assert set(Card.objects.filter(person__in=staff).values_list("kind", flat=True)) == {"staff"}
    assert not student.cards.exists()
