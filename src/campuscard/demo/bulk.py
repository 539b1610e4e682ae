"""Demo: a 2026 intake slice ready for bulk issuing (APP-7), and one slice already issued.

软件学院 (two classes, 16 students: 12 with an approved photo, 4 without) waits for the Card Center to
select it (*Cards → Bulk issuing runs → Issue cards in bulk*: intake year 2026, department 软件学院).
电子信息学院 (8 students, 6 with photos) was issued already: its batch is printed and handed over to the
unit, two students have signed for their cards; the two without a photo were told to upload one."""

from __future__ import annotations

import random
from collections.abc import Callable

from django.core.files.uploadedfile import SimpleUploadedFile

from campuscard.core.actors import Actor
from campuscard.core.models import Institution
from campuscard.identity.models import Person, User
from campuscard.identity.services import person_create

READY_UNIT, ISSUED_UNIT = "软件学院", "电子信息学院"


def bulk_intake(institution: Institution, rng: random.Random, *, photo_png: Callable[[random.Random], bytes],
                ids, name: Callable[[random.Random], str]) -> int:
    from campuscard.cards import issuing
    from campuscard.cards.models import IssueRun, Photo
    from campuscard.cards.services import photo_review

    if Person.objects.filter(institution=institution, department__in=[READY_UNIT, ISSUED_UNIT]).exists():
        return 0
    operator = User.objects.filter(username=f"{institution.code}-operator").first()
    actor = Actor.by_user(operator) if operator else Actor.system("demo")
    campus = institution.campuses.order_by("code").first()
    made = 0
    for unit, code, count, without in ((READY_UNIT, "31", 16, 4), (ISSUED_UNIT, "32", 8, 2)):
        for i in range(1, count + 1):
            person = person_create(actor=Actor.system("demo"), institution=institution, number=f"2026{code}{i:04d}",
                                   name=name(rng), kind=Person.Kind.UNDERGRADUATE, id_number=ids.resident(year=2008),
                                   campus=campus, status=Person.Status.FULL_TIME, department=unit,
                                   source=Person.Source.REGISTRAR)
            Person.objects.filter(pk=person.pk).update(enrollment_year=2026, title=f"2026级{1 + i % 2}班")
            if i > without:
                photo = Photo.objects.create(person=person, uploaded_at=_now(), image=SimpleUploadedFile(
                    f"{person.number}.png", photo_png(rng), content_type="image/png"))
                photo_review(actor=actor, photo=photo, approve=True)
            made += 1
    run = issuing.issue_batch_create(actor=actor, institution=institution, enrollment_year=2026,
                                     department=ISSUED_UNIT)
    if run.state == IssueRun.State.DONE:
        for batch in run.batches.all():
            issuing.issue_batch_print(actor=actor, batch=batch)
            issuing.issue_batch_handover(actor=actor, batch=batch, received_by="刘老师（电子信息学院学生工作办公室）")
            for production in batch.productions.select_related("card__person").order_by("card__person__number")[:2]:
                issuing.issue_batch_person_handover(actor=actor, batch=batch, card=production.card,
                                                    signed_by=production.card.person.name)
    return made


def _now():
    from campuscard.core import clock

    return clock.now()
