"""Getting a card without an application (issue #16 items 6 and 7): bulk issuing for a roster slice
(APP-7, HIT FAQ §4) and one card at the Card Center's window.

**Bulk issuing.** The Card Center selects a slice of the roster (department, class / programme, intake
year, kind of person). Everyone in it who is registered (full-time students, active staff), has an
**approved photo** and has **no live card of their kind** gets a physical card (the virtual card works at
once). The cards are grouped in **one batch per unit** (the department): the batch sheet is printed, the
batch is **handed over to the unit** (who received it, when — the holders are told to collect there) and
each holder then **signs for their card at the unit**. People without an approved photo are listed on
the run and told to upload one and collect their card at the Card Center. The run is idempotent (the
same selection again issues nothing twice) and works in chunks of ``CHUNK`` people, each in its own
transaction, so a run over thousands of people reports progress and a crash loses at most one chunk
(running it again finishes the rest).

**At the window.** An operator issues one card to one person (a new staff member mid-year, a temporary
worker, a visitor, staff from the HR roster) with the same checks: the kind follows the person
(``card_kind_for``), one live card per kind (CARD-1), an approved photo for a physical card (ID-7).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils.translation import gettext_lazy as _
from huey.contrib.djhuey import db_task

from campuscard.cards.models import Card, IssueBatch, IssueRun, Photo, Production
from campuscard.cards.services import KIND_FOR_PERSON, card_issue, card_kind_for, card_ready_notify
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import Institution, ServicePoint
from campuscard.core.permissions import authorize
from campuscard.identity.models import Person
from campuscard.identity.selectors import acting_user
from campuscard.support.models import Notification
from campuscard.support.services import notify

CHUNK = 200  # people per transaction of a run
Progress = Callable[[int, int], None]  # (done, total)

# Who a bulk run may give a card to: registered students and active staff / temporary workers.
BULK_KINDS = (Person.Kind.UNDERGRADUATE, Person.Kind.GRADUATE, Person.Kind.EXCHANGE, Person.Kind.STAFF,
              Person.Kind.TEMPORARY)
BULK_STATUSES = (Person.Status.FULL_TIME, Person.Status.ACTIVE)
# Who may get a card at the window: anyone on the rosters who is still here (visitors included).
WINDOW_REFUSED_STATUSES = (Person.Status.LEFT, Person.Status.SUSPENDED)
NO_UNIT = "—"


def _authorize(actor: Actor, permission: str, institution_id: int) -> None:
    if actor.kind == "system":  # jobs and the demo loader
        return
    authorize(actor.user, permission, institution_id)


# --- bulk issuing (APP-7) ---------------------------------------------------------------------------

def _selection(run: IssueRun) -> QuerySet[Person]:
    people = Person.objects.filter(institution_id=run.institution_id, kind__in=BULK_KINDS,
                                   status__in=BULK_STATUSES)
    if run.department:
        people = people.filter(department=run.department)
    if run.title:
        people = people.filter(title=run.title)
    if run.enrollment_year:
        people = people.filter(enrollment_year=run.enrollment_year)
    if run.person_kind:
        people = people.filter(kind=run.person_kind)
    return people.order_by("department", "number")


def issue_batch_create(*, actor: Actor, institution: Institution, department: str = "", title: str = "",
                       enrollment_year: int | None = None, person_kind: str = "", background: bool = False,
                       progress: Progress | None = None) -> IssueRun:
    """Select a roster slice and issue its cards in batches per unit (or queue that for the worker)."""
    _authorize(actor, "cards.add_issuerun", institution.pk)
    department, title = department.strip()[:100], title.strip()[:100]
    if not (department or title or enrollment_year):
        raise DomainError("issue_selection_empty")
    if person_kind and person_kind not in BULK_KINDS:
        raise DomainError("issue_selection_kind", kind=person_kind)
    with transaction.atomic():
        run = IssueRun.objects.create(institution=institution, department=department, title=title,
                                      enrollment_year=enrollment_year, person_kind=person_kind,
                                      created_by=acting_user(actor), created_at=clock.now())
        audit_record(actor=actor, action="issue_run_created", obj=run, institution_id=institution.pk,
                     after={"department": department, "title": title, "enrollment_year": enrollment_year,
                            "person_kind": person_kind})
        if background:
            transaction.on_commit(lambda: issue_run(run_pk=run.pk))
    if not background:
        issue_run_execute(actor=actor, run=run, progress=progress)
        run.refresh_from_db()
    return run


def issue_run_execute(*, actor: Actor, run: IssueRun, progress: Progress | None = None) -> IssueRun:
    """Issue the cards of a run, chunk by chunk; safe to run again (it only does what is left)."""
    claimed = IssueRun.objects.filter(pk=run.pk, state__in=[IssueRun.State.QUEUED, IssueRun.State.FAILED]).update(
        state=IssueRun.State.RUNNING)
    if not claimed:  # running elsewhere, or done
        return IssueRun.objects.get(pk=run.pk)
    try:
        _execute(actor, IssueRun.objects.get(pk=run.pk), progress)
    except Exception as error:
        IssueRun.objects.filter(pk=run.pk).update(state=IssueRun.State.FAILED, error=str(error)[:300])
        raise
    return IssueRun.objects.get(pk=run.pk)


def _execute(actor: Actor, run: IssueRun, progress: Progress | None) -> None:
    people = list(_selection(run).values("pk", "kind", "number", "name", "department"))
    ids = [p["pk"] for p in people]
    live: set[tuple[int, str]] = set()
    with_photo: set[int] = set()
    for start in range(0, len(ids), 5000):  # set-based: two reads per 5,000 people
        part = ids[start:start + 5000]
        live.update(Card.objects.filter(person_id__in=part, state__in=Card.LIVE_STATES)
                    .values_list("person_id", "kind"))
        with_photo.update(Photo.objects.filter(person_id__in=part, state=Photo.State.APPROVED)
                          .values_list("person_id", flat=True))
    to_issue: dict[str, list[int]] = defaultdict(list)
    missing: list[dict[str, Any]] = []
    already = 0
    for p in people:
        if (p["pk"], KIND_FOR_PERSON[p["kind"]]) in live:
            already += 1
        elif p["pk"] not in with_photo:
            missing.append({"id": p["pk"], "number": p["number"], "name": p["name"],
                            "department": p["department"]})
        else:
            to_issue[p["department"] or NO_UNIT].append(p["pk"])
    total = len(people)
    IssueRun.objects.filter(pk=run.pk).update(total=total, done=already + len(missing), already=already,
                                              missing_photo=missing)
    done = already + len(missing)
    if progress:
        progress(done, total)
    _notify_missing(run, missing)
    issued = 0
    for unit, person_ids in sorted(to_issue.items()):
        batch, _created = IssueBatch.objects.get_or_create(
            run=run, unit=unit, defaults={"institution_id": run.institution_id, "created_at": clock.now()})
        for start in range(0, len(person_ids), CHUNK):
            chunk = person_ids[start:start + CHUNK]
            with transaction.atomic():
                made = 0
                for person in Person.objects.filter(pk__in=chunk).select_related("institution").order_by("number"):
                    try:
                        card_issue(actor=actor, person=person, physical=True, batch_id=batch.pk,
                                   collect_unit=unit if unit != NO_UNIT else "")
                        made += 1
                    except DomainError as error:  # issued meanwhile (a parallel run, the window): skip
                        if error.code != "card_kind_exists":
                            raise
                IssueRun.objects.filter(pk=run.pk).update(done=F("done") + len(chunk), issued=F("issued") + made)
            issued += made
            done += len(chunk)
            if progress:
                progress(done, total)
    empty = IssueBatch.objects.filter(run=run, productions__isnull=True)
    empty.delete()  # every candidate of a unit got a card elsewhere meanwhile: no sheet to print
    IssueRun.objects.filter(pk=run.pk).update(state=IssueRun.State.DONE, finished_at=clock.now(), error="")
    audit_record(actor=actor, action="issue_run_done", obj=run, institution_id=run.institution_id,
                 after={"total": total, "issued": issued, "already": already, "missing_photo": len(missing)})


def _notify_missing(run: IssueRun, missing: list[dict[str, Any]]) -> None:
    """Each person without an approved photo is told once (not again by a later run of the same slice)."""
    told: set[int] = set()
    for earlier in (IssueRun.objects.filter(institution_id=run.institution_id).exclude(pk=run.pk)
                    .values_list("missing_photo", flat=True)):
        told.update(entry["id"] for entry in earlier or [])
    people = Person.objects.in_bulk([m["id"] for m in missing if m["id"] not in told])
    with transaction.atomic():
        for person in people.values():
            notify(person=person, kind=Notification.Kind.PHOTO, title=_("Upload a photo for your campus card"),
                   body=_("Your campus card could not be made with your unit's cards: there is no approved "
                          "certificate photo. Upload a photo in the portal; once it is approved, collect your "
                          "card at the Card Center."), link="/cards/photo/")


def issue_batch_print(*, actor: Actor, batch: IssueBatch) -> IssueBatch:
    """The batch sheet and the cards were printed: every card of the batch moves to ``printed``."""
    _authorize(actor, "cards.change_issuebatch", batch.institution_id)
    with transaction.atomic():
        batch = IssueBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.state not in (IssueBatch.State.OPEN, IssueBatch.State.PRINTED):
            raise DomainError("issue_batch_state", state=batch.get_state_display())
        now = clock.now()
        moved = Production.objects.filter(batch=batch, state=Production.State.REQUESTED).update(
            state=Production.State.PRINTED, printed_at=now)
        if batch.state == IssueBatch.State.OPEN:
            batch.state, batch.printed_at = IssueBatch.State.PRINTED, now
            batch.save(update_fields=["state", "printed_at"])
        audit_record(actor=actor, action="issue_batch_printed", obj=batch, institution_id=batch.institution_id,
                     after={"cards": moved})
    return batch


def issue_batch_handover(*, actor: Actor, batch: IssueBatch, received_by: str) -> IssueBatch:
    """The printed batch goes to the unit: who received it, when; each holder is told to collect there."""
    _authorize(actor, "cards.change_issuebatch", batch.institution_id)
    received_by = received_by.strip()[:100]
    if not received_by:
        raise DomainError("issue_receiver_required")
    with transaction.atomic():
        batch = IssueBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.state != IssueBatch.State.PRINTED:
            raise DomainError("issue_batch_state", state=batch.get_state_display())
        now = clock.now()
        productions = list(Production.objects.filter(batch=batch, state=Production.State.PRINTED)
                           .select_related("card__person"))
        Production.objects.filter(pk__in=[p.pk for p in productions]).update(state=Production.State.AT_KIOSK,
                                                                             ready_at=now)
        batch.state, batch.handed_over_at, batch.received_by = IssueBatch.State.HANDED_OVER, now, received_by
        batch.handed_over_by = acting_user(actor)
        batch.save(update_fields=["state", "handed_over_at", "received_by", "handed_over_by"])
        audit_record(actor=actor, action="issue_batch_handed_over", obj=batch, institution_id=batch.institution_id,
                     after={"received_by": received_by, "cards": len(productions), "unit": batch.unit})
        for production in productions:
            card_ready_notify(production=production)
    return batch


def issue_batch_person_handover(*, actor: Actor, batch: IssueBatch, card: Card, signed_by: str) -> Production:
    """The holder signs for their card at the unit; the batch is done when every card is handed out."""
    _authorize(actor, "cards.change_issuebatch", batch.institution_id)
    signed_by = signed_by.strip()[:100]
    if not signed_by:
        raise DomainError("issue_signature_required")
    with transaction.atomic():
        batch = IssueBatch.objects.select_for_update().get(pk=batch.pk)
        production = Production.objects.select_for_update().filter(batch=batch, card_id=card.pk).first()
        if production is None:
            raise DomainError("issue_card_not_in_batch")
        if batch.state != IssueBatch.State.HANDED_OVER or production.state != Production.State.AT_KIOSK:
            raise DomainError("issue_batch_state", state=batch.get_state_display())
        production.state, production.collected_at, production.signed_by = (Production.State.COLLECTED,
                                                                           clock.now(), signed_by)
        production.save(update_fields=["state", "collected_at", "signed_by"])
        audit_record(actor=actor, action="issue_batch_card_handed_out", obj=card, institution_id=batch.institution_id,
                     after={"batch": batch.pk, "signed_by": signed_by})
        if not Production.objects.filter(batch=batch).exclude(state=Production.State.COLLECTED).exists():
            batch.state = IssueBatch.State.DONE
            batch.save(update_fields=["state"])
    return production


# --- one card at the window ------------------------------------------------------------------------

def _window_of(person: Person) -> ServicePoint | None:
    windows = ServicePoint.objects.filter(kind=ServicePoint.Kind.WINDOW, area__campus__institution_id=person.institution_id)
    return (windows.filter(area__campus=person.campus_id).first() if person.campus_id else None) or windows.first()


def card_window_issue(*, actor: Actor, person: Person, physical: bool = False,
                      collect_point: ServicePoint | None = None) -> Card:
    """An operator issues one card to one person at the window (new staff mid-year, a temporary worker, a
    visitor, staff from the HR roster): their kind's card, one live per kind, a photo for a physical card.
    The physical card is collected at ``collect_point`` (by default a Card Center window of their campus)."""
    _authorize(actor, "cards.add_card", person.institution_id)
    if person.status in WINDOW_REFUSED_STATUSES:
        raise DomainError("card_holder_ineligible", status=person.get_status_display())
    kind = card_kind_for(person=person)
    if Card.objects.filter(person=person, kind=kind, state__in=Card.LIVE_STATES).exists():
        raise DomainError("card_kind_exists", kind=Card.Kind(kind).label)
    return card_issue(actor=actor, person=person, physical=physical, kind=kind,
                      collect_point=(collect_point or _window_of(person)) if physical else None)


@db_task()
def issue_run(*, run_pk: int) -> int:
    """A bulk-issuing run started in the back office or the API, in the worker (progress on the run)."""
    run = IssueRun.objects.select_related("created_by").get(pk=run_pk)
    actor = Actor.by_user(run.created_by) if run.created_by else Actor.system("job:issue_run")
    return issue_run_execute(actor=actor, run=run).issued
