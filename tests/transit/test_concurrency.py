"""Concurrent uploads from many validators on PostgreSQL (TRN-2): every tap charged once, the same batch
sent twice at once charges once, no deadlock between batches sharing wallets, the ledger checks clean."""

import datetime as dt
import threading

import pytest
from django.db import connection

from campuscard.cards.services import card_issue, nfc_bind
from campuscard.core import clock
from campuscard.identity.documents import IdType
from campuscard.identity.models import Person
from campuscard.ledger.checks import ledger_check
from campuscard.ledger.models import Transfer
from campuscard.payments.services import recharge_cash
from campuscard.transit import services
from campuscard.transit.models import Tap
from tests.helpers import resident_id
from tests.transit.conftest import SYSTEM, available


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_validators_upload_at_once_each_tap_charged_once(institution, route):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency needs PostgreSQL")
    cards = []
    for i in range(12):
        person = Person.objects.create(institution=institution, number=f"2024{i:06d}", name=f"学生{i}",
                                       kind=Person.Kind.UNDERGRADUATE, status=Person.Status.FULL_TIME,
                                       id_type=IdType.RESIDENT, id_number=resident_id(i))
        card = card_issue(actor=SYSTEM, person=person)
        recharge_cash(channel="window", person=person, amount=1_000 if i % 3 else 150, key=f"f{i}")
        nfc_bind(actor=SYSTEM, card=card, uid=f"04{i:06X}")
        services.binding_create(actor=SYSTEM, card=card, accept_terms=True)
        cards.append(card)
    validators = [services.validator_register(actor=SYSTEM, route=route, code=f"bus-{v}")[0] for v in range(8)]
    start = clock.now() - dt.timedelta(hours=3)
    batches = []
    for v, validator in enumerate(validators):
        for b in range(3):
            batch = [{"counter": b * 40 + n, "uid": f"04{(v + n) % 12:06X}",
                      "tapped_at": (start + dt.timedelta(minutes=b * 40 + n)).isoformat()} for n in range(40)]
            batches += [(validator, batch), (validator, batch[10:30])]  # and an overlapping half, at once
    errors = []

    def go(job):
        validator, batch = job
        try:
            services.taps_upload(device=validator.device, taps=batch)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(job,)) for job in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Tap.objects.count() == 8 * 3 * 40  # every tap stored once
    charged = Tap.objects.filter(state="charged")
    assert Transfer.objects.filter(kind=services.FARE_KIND).count() == charged.count()
    assert Transfer.objects.filter(kind=services.FARE_KIND).values("key").distinct().count() == charged.count()
    for card in cards:
        fares = sum(charged.filter(card=card).values_list("fare", flat=True))
        funded = 1_000 if int(card.person.number[-2:]) % 3 else 150
        assert available(card) == funded - fares
        assert available(card) >= -100  # at most one (student) fare below zero
    assert Tap.objects.filter(refusal="tap_allowance_used").exists()
    check = ledger_check()
    assert check.ok, check.problems
