"""Bulk issuing (APP-7) and one card at the window for the Card Center's own tools: operators of the
institution (session or integration token with the role's permissions); thin — the rules are in
``cards.issuing``."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Router, Schema, Status

from campuscard.cards import issuing
from campuscard.cards.models import Card, IssueBatch, IssueRun
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import ServicePoint
from campuscard.core.permissions import restrict
from campuscard.identity.models import Person

router = Router(tags=["card issuing"])


class RunIn(Schema):
    department: str = ""
    title: str = Field("", description="class / programme, as on the roster")
    enrollment_year: int | None = None
    person_kind: str = Field("", description="undergraduate, graduate, exchange, staff or temporary; empty: all")
    wait: bool = Field(False, description="run in the request (small slices); otherwise queued for the worker")


class UnissuedOut(Schema):
    number: str
    name: str
    department: str


class BatchOut(Schema):
    id: int
    unit: str
    state: str
    cards: int
    received_by: str
    handed_over_at: datetime | None


class RunOut(Schema):
    id: int
    state: str
    total: int
    done: int
    issued: int
    already: int
    missing_photo: list[UnissuedOut]
    batches: list[BatchOut]


class CardRowOut(Schema):
    card: str
    person_number: str
    name: str
    state: str
    signed_by: str
    collected_at: datetime | None


class HandoverIn(Schema):
    received_by: str


class PersonHandoverIn(Schema):
    card: str = Field(description="card number")
    signed_by: str


class WindowIssueIn(Schema):
    person: str = Field(description="student / staff number")
    physical: bool = False
    collect_point: str = Field("", description="service point code (a window or kiosk); empty: a Card Center window")


class WindowCardOut(Schema):
    number: str
    kind: str
    physical: bool
    collect_at: str


def _batch_out(batch: IssueBatch) -> dict:
    return {"id": batch.pk, "unit": batch.unit, "state": batch.state, "cards": batch.productions.count(),
            "received_by": batch.received_by, "handed_over_at": batch.handed_over_at}


def _run_out(run: IssueRun) -> dict:
    return {"id": run.pk, "state": run.state, "total": run.total, "done": run.done, "issued": run.issued,
            "already": run.already, "missing_photo": run.missing_photo,
            "batches": [_batch_out(b) for b in run.batches.order_by("unit")]}


def _institution(request):
    if request.auth.institution_id is None:
        raise DomainError("forbidden")
    return request.auth.institution


def _run(request, pk: int) -> IssueRun:
    run = restrict(IssueRun.objects.all(), request.auth, "view").filter(pk=pk).first()
    if run is None:
        raise DomainError("not_found")
    return run


def _batch(request, pk: int) -> IssueBatch:
    batch = restrict(IssueBatch.objects.all(), request.auth, "view").filter(pk=pk).first()
    if batch is None:
        raise DomainError("not_found")
    return batch


@router.post("/issuing/runs", response={201: RunOut, 202: RunOut},
             summary="Issue cards in bulk for a roster slice, in batches per unit (APP-7)")
def run_create(request, payload: RunIn):
    run = issuing.issue_batch_create(actor=Actor.by_user(request.auth), institution=_institution(request),
                                     department=payload.department, title=payload.title,
                                     enrollment_year=payload.enrollment_year, person_kind=payload.person_kind,
                                     background=not payload.wait)
    return Status(201 if payload.wait else 202, _run_out(run))


@router.get("/issuing/runs/{pk}", response=RunOut, summary="A bulk-issuing run: progress, batches, who has no photo")
def run_get(request, pk: int):
    return _run_out(_run(request, pk))


@router.get("/issuing/batches", response=list[BatchOut], summary="Batches of my institution, newest first")
def batches(request, state: str | None = None):
    rows = restrict(IssueBatch.objects.all(), request.auth, "view").order_by("-created_at", "unit")
    if state:
        rows = rows.filter(state=state)
    return [_batch_out(b) for b in rows[:200]]


@router.get("/issuing/batches/{pk}/cards", response=list[CardRowOut], summary="The cards of a batch")
def batch_cards(request, pk: int):
    rows = _batch(request, pk).productions.select_related("card__person").order_by("card__person__number")
    return [{"card": p.card.number, "person_number": p.card.person.number, "name": p.card.person.name,
             "state": p.state, "signed_by": p.signed_by, "collected_at": p.collected_at} for p in rows]


@router.post("/issuing/batches/{pk}/printed", response=BatchOut, summary="The batch's cards and sheet are printed")
def batch_printed(request, pk: int):
    return _batch_out(issuing.issue_batch_print(actor=Actor.by_user(request.auth), batch=_batch(request, pk)))


@router.post("/issuing/batches/{pk}/handover", response=BatchOut, summary="Hand the batch over to its unit")
def batch_handover(request, pk: int, payload: HandoverIn):
    return _batch_out(issuing.issue_batch_handover(actor=Actor.by_user(request.auth), batch=_batch(request, pk),
                                                   received_by=payload.received_by))


@router.post("/issuing/batches/{pk}/handout", response=CardRowOut, summary="A holder signed for their card at the unit")
def batch_handout(request, pk: int, payload: PersonHandoverIn):
    batch = _batch(request, pk)
    card = Card.objects.filter(production__batch=batch, number=payload.card).first()
    if card is None:
        raise DomainError("issue_card_not_in_batch")
    p = issuing.issue_batch_person_handover(actor=Actor.by_user(request.auth), batch=batch, card=card,
                                            signed_by=payload.signed_by)
    return {"card": card.number, "person_number": card.person.number, "name": card.person.name, "state": p.state,
            "signed_by": p.signed_by, "collected_at": p.collected_at}


@router.post("/issuing/window", response={201: WindowCardOut}, summary="One card to one person at the window")
def window_issue(request, payload: WindowIssueIn):
    institution = _institution(request)
    person = Person.objects.filter(institution=institution, number=payload.person).first()
    if person is None:
        raise DomainError("not_found")
    point = None
    if payload.collect_point:
        point = ServicePoint.objects.filter(area__campus__institution=institution, code=payload.collect_point).first()
        if point is None:
            raise DomainError("collect_place_invalid")
    card = issuing.card_window_issue(actor=Actor.by_user(request.auth), person=person, physical=payload.physical,
                                     collect_point=point)
    production = getattr(card, "production", None)
    return Status(201, {"number": card.number, "kind": card.kind, "physical": card.physical,
                        "collect_at": production.collect_where if production else ""})
