"""The operator's one person page (#17 item 5): every card event with who did it, readable wallet kinds,
applications, appeals, access entries — scoped to the operator's institution (TEN-1)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from campuscard.backoffice.person_selectors import ACTION_LABELS, person_overview
from campuscard.cards import services as cards
from campuscard.cards.models import Card
from campuscard.core.actors import Actor
from campuscard.core.models import AuditLog
from campuscard.identity.models import Person
from campuscard.payments.selectors import KIND_LABELS
from campuscard.payments.services import recharge_cash
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(institution, make_operator):
    return make_operator(institution, "card_center_operator", "window-op")


def a_busy_day(student, card, operator):
    """A loss report, a taken-back report, another loss report and a replacement at the window."""
    recharge_cash(channel="window", person=student, amount=24_050, key="seed", operator=operator)
    by = Actor.by_user(operator)
    cards.card_report_lost(actor=by, card=card, channel="window")
    cards.card_unreport(actor=by, card=card, channel="window")
    cards.card_report_lost(actor=by, card=card, channel="window")
    return cards.card_replace(actor=by, card=card, physical=False, channel="window")


def test_every_card_event_is_on_the_timeline_with_who_did_it(student, card, operator):
    new = a_busy_day(student, card, operator)
    overview = person_overview(person=student, user=operator)
    sections = {section.card.number: section for section in overview.cards}
    old_events = [(e.label, e.who) for e in sections[card.number].events]
    labels = [label for label, _who in old_events]
    expected = [str(ACTION_LABELS[a]) for a in ("card_issued", "card_reported_lost", "card_unreported",
                                                 "card_reported_lost", "card_replaced", "balance_move_started")]
    assert [label for label in labels if label in expected] == expected  # in order, each recorded
    assert all(who == "window-op" for label, who in old_events[1:] if label in expected[1:])  # who did it
    # no offline device to wait for: the move completes at once, by the system's job
    completed = [who for label, who in old_events if label == str(ACTION_LABELS["balance_moved"])]
    assert len(completed) == 1 and "balance_move" in completed[0]
    new_labels = [e.label for e in sections[new.number].events]
    assert new_labels[0] == str(ACTION_LABELS["card_issued"])
    move = next(e for e in sections[card.number].events if e.label == str(ACTION_LABELS["balance_move_started"]))
    assert card.number in move.detail and new.number in move.detail
    assert AuditLog.objects.filter(action="balance_move_started", actor=operator).exists()


def test_wallet_rows_have_readable_kinds_and_who(student, card, operator):
    a_busy_day(student, card, operator)
    with translation.override("zh-hans"):
        overview = person_overview(person=student, user=operator)
        kinds = {row.label for row in overview.wallet.rows}
        expected = {str(KIND_LABELS[code]) for code in ("recharge_window", "fee", "balance_move")}
    assert kinds == expected and "余额转移" in kinds  # the translated labels, never the codes
    recharge = next(row for row in overview.wallet.rows if row.signed == 24_050)
    assert recharge.who == "window-op"
    by_kind = {(row.label, row.signed > 0): row.who for row in overview.wallet.rows}
    with translation.override("zh-hans"):
        moved, fee = str(KIND_LABELS["balance_move"]), str(KIND_LABELS["fee"])
    assert by_kind[(fee, False)] == "window-op"  # the replacement's fee, taken by who replaced the card
    # nothing offline to wait for: all of it moved at once, out of the old card and into the new, by the same
    assert by_kind[(moved, True)] == by_kind[(moved, False)] == "window-op"


def test_person_page_shows_the_day_and_links(client, student, card, operator):
    new = a_busy_day(student, card, operator)
    client.force_login(operator)
    page = client.get(reverse("admin:identity_person_overview", args=[student.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    for number in (card.number, new.number):
        assert f'data-card="{number}"' in html
    assert html.count('data-testid="card-event"') >= 7
    # reachable from the list, the person form and the card page
    listing = client.get(reverse("admin:identity_person_changelist") + f"?q={student.number}").content.decode()
    assert reverse("admin:identity_person_overview", args=[student.pk]) in listing
    card_page = client.get(reverse("admin:cards_card_change", args=[card.pk])).content.decode()
    assert reverse("admin:identity_person_overview", args=[student.pk]) in card_page


def test_person_page_authorization(student, card, institution, other_institution, make_operator, operator):
    url = reverse("admin:identity_person_overview", args=[student.pk])
    merchant = make_operator(institution, "merchant_operator", "canteen")
    other = make_operator(other_institution, "card_center_operator", "other-op")

    def shows_the_person(response):
        assert student.name in response.content.decode()

    def shows_nothing(response):
        assert student.name not in response.content.decode()

    assert_authorization(
        lambda client: client.get(url),
        anonymous=Expect(ANONYMOUS, 302),
        wrong_role=Expect(Principal.session(merchant), 404, shows_nothing),
        wrong_institution=Expect(Principal.session(other), 404, shows_nothing),
        allowed=Expect(Principal.session(operator), 200, shows_the_person),
        snapshot=lambda: (tuple(Person.objects.values_list("pk", "name")),
                          tuple(Card.objects.values_list("pk", "state")), AuditLog.objects.count()),
    )


def test_sections_a_role_may_not_see_are_left_out(student, card, institution, make_operator):
    zone_manager = make_operator(institution, "zone_manager", "zones")
    overview = person_overview(person=student, user=zone_manager)
    assert overview.cards == [] and not overview.wallet.allowed and not overview.appeals.allowed
    assert overview.access.allowed


def test_the_audit_trail_names_actions_in_words(client, student, card, institution, make_operator):
    admin = make_operator(institution, "institution_admin", "head")
    cards.card_report_lost(actor=Actor.by_user(admin), card=card, channel="window")
    client.force_login(admin)
    with translation.override("zh-hans"):
        expected = str(ACTION_LABELS["card_reported_lost"])
    html = client.get(reverse("admin:core_auditlog_changelist") + "?action=card_reported_lost").content.decode()
    assert expected in html and ">card_reported_lost<" not in html


def test_production_and_collection_at_the_kiosk_are_on_the_timeline(student, institution, operator):
    from campuscard.cards.models import Photo, Production
    from campuscard.core.clock import now
    from campuscard.core.models import Area, ServicePoint
    from campuscard.devices.services import device_register

    Photo.objects.create(person=student, image="photos/x.jpg", state=Photo.State.APPROVED, uploaded_at=now())
    kiosk_point = ServicePoint.objects.create(area=Area.objects.get(campus__institution=institution), name="一食堂自助机",
                                              kind=ServicePoint.Kind.KIOSK)
    physical = cards.card_issue(actor=Actor.by_user(operator), person=student, physical=True,
                                collect_point=kiosk_point)
    production = Production.objects.get(card=physical)
    by = Actor.by_user(operator)
    cards.production_advance(actor=by, production=production, target=Production.State.PRINTED)
    cards.production_advance(actor=by, production=production, target=Production.State.AT_KIOSK)
    kiosk, _secret = device_register(actor=Actor.system("t"), institution=institution, kind="kiosk", code="kiosk-7",
                                     name="Kiosk 7")
    cards.production_advance(actor=Actor.by_device(kiosk), production=production, target=Production.State.COLLECTED)
    with translation.override("en"):
        section = person_overview(person=student, user=operator).cards[0]
        events = [(str(e.label), str(e.who)) for e in section.events]
        assert [label for label, _who in events] == [str(ACTION_LABELS[a]) for a in (
            "card_issued", "card_production_printed", "card_production_at_kiosk", "card_production_collected")]
    assert events[-1][1] == "device kiosk-7" and events[1][1] == "window-op"
    assert section.production.collect_where.startswith("一食堂自助机")
