"""Equipment rental (SVC-4) at its edges: the deposit held at check-out and released at return, the rate
charged per started hour and once however often the return is retried, overdue flagged once at the due
minute, what a desk must refuse, and the usage statistics."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from campuscard.cards import codes
from campuscard.cards.models import Card
from campuscard.cards.selectors import qr_credential
from campuscard.cards.services import card_issue, card_report_lost
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.identity.models import Person
from campuscard.identity.services import holder_user_ensure, payment_password_set
from campuscard.ledger.checks import ledger_check
from campuscard.ledger.selectors import account_balances
from campuscard.payments.models import Hold, Payment
from campuscard.payments.services import recharge_cash
from campuscard.rental import selectors, services
from campuscard.rental.models import Rental
from campuscard.support.models import Notification
from tests.authz import ANONYMOUS, Expect, Principal, assert_authorization
from tests.conftest import ID_ALICE
from tests.rental.conftest import UID

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def wallet(card: Card):
    return account_balances(account_id=card.wallet_account_id)


def checkout(desk, card, item, key="k1", password=None, at=T0):
    with clock.frozen_at(at):
        identified = services.desk_identify(actor=desk, institution_id=card.institution_id, nfc_uid=UID)
        return services.rental_checkout(actor=desk, card=identified, item_code=item.code, key=key, password=password)


def give_back(desk, rental, at, password=None):
    with clock.frozen_at(at):
        return services.rental_return(actor=desk, rental=rental, password=password)


# --- the deposit: a hold, released on return ----------------------------------------------------------

def test_deposit_is_held_at_checkout_and_released_on_return(funded, racket, desk, student):
    rental = checkout(desk, funded, racket)
    assert (rental.deposit, rental.person, rental.due_at) == (3000, student, T0 + dt.timedelta(hours=4))
    assert wallet(funded).posted == 50_000 and wallet(funded).available == 47_000
    assert Hold.objects.get(pk=rental.hold_id).state == Hold.State.HELD
    assert Notification.objects.filter(person=student, kind="rental").count() == 1
    back = give_back(desk, rental, T0 + dt.timedelta(minutes=50))
    assert back.fee == 0 and back.settled_at is not None
    assert Hold.objects.get(pk=rental.hold_id).state == Hold.State.RELEASED
    assert wallet(funded).posted == 50_000 and wallet(funded).available == 50_000
    assert not Payment.objects.exists()
    again = give_back(desk, back, T0 + dt.timedelta(minutes=55))  # a retried return changes nothing
    assert again.returned_at == back.returned_at and wallet(funded).available == 50_000
    assert ledger_check().ok


def test_deposit_above_the_password_free_amount_needs_the_payment_password(funded, racket, desk, student):
    racket.deposit = 6000
    racket.save()
    payment_password_set(user=holder_user_ensure(person=student), login_password=ID_ALICE[-6:],
                         new_payment_password="135790")
    with pytest.raises(DomainError) as refused:
        checkout(desk, funded, racket)
    assert refused.value.code == "payment_password_required"
    assert not Rental.objects.exists() and not Hold.objects.exists() and wallet(funded).available == 50_000
    assert checkout(desk, funded, racket, key="k2", password="135790").deposit == 6000


def test_not_enough_for_the_deposit_changes_nothing(student, card, racket, desk):
    from campuscard.cards.services import nfc_bind

    recharge_cash(channel="window", person=student, amount=2000, key="poor")
    nfc_bind(actor=Actor.system("t"), card=card, uid=UID)
    with pytest.raises(DomainError) as refused:
        checkout(desk, card, racket)
    assert refused.value.code == "insufficient_funds"
    assert not Rental.objects.exists() and wallet(card).available == 2000


# --- the rate: per started hour, charged once ---------------------------------------------------------

def test_rate_is_charged_per_started_hour_once_on_a_retried_return(funded, scope, desk, room):
    rental = checkout(desk, funded, scope)
    assert rental.deposit == 0 and rental.hold_id is None
    back = give_back(desk, rental, T0 + dt.timedelta(minutes=61))
    assert back.fee == 1000  # two started hours × ¥5
    for minutes in (62, 200):  # the desk's retry, and a click much later: the fee was fixed at the return
        assert give_back(desk, rental, T0 + dt.timedelta(minutes=minutes)).fee == 1000
    payment = Payment.objects.get()
    assert (payment.amount, payment.merchant, payment.method, payment.txn_id) == (1000, room, "desk",
                                                                                   f"rental:{rental.pk}:fee")
    assert wallet(funded).posted == 49_000
    assert account_balances(account_id=room.account_id).posted == 1000
    assert ledger_check().ok


@pytest.mark.parametrize(("minutes", "fee"), [(1, 500), (60, 500), (60 * 24, 12_000)])
def test_fee_edges(scope, minutes, fee):
    assert services.fee_for(item=scope, out_at=T0, back_at=T0 + dt.timedelta(minutes=minutes)) == fee
    assert services.fee_for(item=scope, out_at=T0, back_at=T0 + dt.timedelta(minutes=minutes, seconds=1)) == fee + (
        500 if minutes % 60 == 0 else 0)


def test_deposit_and_rate_capture_from_the_hold_and_charge_the_rest(funded, camera, desk):
    short = checkout(desk, funded, camera)
    short = give_back(desk, short, T0 + dt.timedelta(minutes=30))
    assert short.fee == 800 and Hold.objects.get(pk=short.hold_id).state == Hold.State.CAPTURED
    assert wallet(funded).posted == 50_000 - 800 and wallet(funded).available == 50_000 - 800
    long = checkout(desk, funded, camera, key="k2", at=T0 + dt.timedelta(hours=1))
    long = give_back(desk, long, T0 + dt.timedelta(hours=4, minutes=5))  # 3 h 5 min: 4 hours × ¥8 = ¥32 > ¥20
    assert long.fee == 3200 and long.settled_at is not None
    assert sorted(Payment.objects.values_list("amount", flat=True)) == [800, 1200, 2000]  # captures + the rest
    assert wallet(funded).posted == 50_000 - 800 - 3200 and wallet(funded).available == wallet(funded).posted
    assert ledger_check().ok


def test_a_refused_fee_leaves_the_item_back_and_the_fee_owed(student, card, scope, desk):
    from campuscard.cards.services import nfc_bind

    recharge_cash(channel="window", person=student, amount=300, key="low")
    nfc_bind(actor=Actor.system("t"), card=card, uid=UID)
    rental = checkout(desk, card, scope)
    with pytest.raises(DomainError) as refused:
        give_back(desk, rental, T0 + dt.timedelta(minutes=20))
    assert refused.value.code == "insufficient_funds"
    rental.refresh_from_db()
    assert rental.returned_at is not None and rental.settled_at is None and rental.fee == 500
    assert selectors.unsettled_of(student) == [rental]
    # the item can go out again; the holder recharges and the desk settles the same fee
    assert not Rental.objects.filter(item=scope, returned_at=None).exists()
    recharge_cash(channel="window", person=student, amount=1000, key="more")
    settled = services.rental_settle(actor=desk, rental=rental)
    assert settled.settled_at is not None and wallet(card).posted == 800


# --- overdue -----------------------------------------------------------------------------------------

def test_overdue_is_flagged_at_the_due_minute_once(funded, racket, desk, student):
    rental = checkout(desk, funded, racket)
    due = rental.due_at
    before = Notification.objects.filter(person=student).count()
    assert services.overdue_flag(now=due - dt.timedelta(seconds=1)) == 0
    assert services.overdue_flag(now=due) == 1
    assert services.overdue_flag(now=due + dt.timedelta(minutes=5)) == 0  # the job ran again
    rental.refresh_from_db()
    assert rental.overdue_at == due and rental.is_overdue
    notes = Notification.objects.filter(person=student).order_by("-created_at")
    assert notes.count() == before + 1 and racket.name in notes[0].title
    back = give_back(desk, rental, due + dt.timedelta(minutes=10))
    assert not back.is_overdue and services.overdue_flag(now=due + dt.timedelta(hours=1)) == 0


def test_a_returned_item_is_never_flagged(funded, racket, desk):
    rental = checkout(desk, funded, racket)
    give_back(desk, rental, rental.due_at - dt.timedelta(minutes=1))
    assert services.overdue_flag(now=rental.due_at + dt.timedelta(hours=1)) == 0


# --- what a desk must refuse -------------------------------------------------------------------------

def test_the_desk_refuses_offline_codes_and_leaves_them_usable(funded, racket, desk):
    offline = codes.offline_codes_issue(credential=qr_credential(funded))[0]
    with pytest.raises(DomainError) as refused:
        services.desk_identify(actor=desk, institution_id=funded.institution_id, code=offline)
    assert refused.value.code == "rental_offline_code"
    assert codes.code_accept(institution_id=funded.institution_id, code=offline).offline  # not used up by the desk


def test_a_live_code_identifies_once(funded, desk):
    code = codes.current_code(qr_credential(funded))
    assert services.desk_identify(actor=desk, institution_id=funded.institution_id, code=code) == funded
    with pytest.raises(DomainError) as replayed:
        services.desk_identify(actor=desk, institution_id=funded.institution_id, code=code)
    assert replayed.value.code == "qr_replayed"


def test_cards_that_cannot_borrow_are_refused(institution, funded, desk, student):
    visitor = Person.objects.create(institution=institution, number="V001", name="访客", kind=Person.Kind.VISITOR,
                                    status=Person.Status.ACTIVE, id_number="110105199003074528")
    visitor_card = card_issue(actor=Actor.system("t"), person=visitor, kind=Card.Kind.VISITOR)
    with pytest.raises(DomainError) as refused:
        services.desk_identify(actor=desk, institution_id=institution.pk,
                               code=codes.current_code(qr_credential(visitor_card)))
    assert refused.value.code == "rental_card_kind"
    card_report_lost(actor=Actor.system("t"), card=funded, channel="portal")
    with pytest.raises(DomainError) as lost:
        services.desk_identify(actor=desk, institution_id=institution.pk, nfc_uid=UID)
    assert lost.value.code == "card_lost"


def test_another_institutions_desk_is_refused(funded, other_institution, make_operator):
    foreign = Actor.by_user(make_operator(other_institution, "equipment_desk", "far-desk"))
    with pytest.raises(DomainError) as refused:
        services.desk_identify(actor=foreign, institution_id=other_institution.pk, nfc_uid=UID)
    assert refused.value.code == "credential_other_institution"
    with pytest.raises(DomainError) as forbidden:
        services.desk_identify(actor=foreign, institution_id=funded.institution_id, nfc_uid=UID)
    assert forbidden.value.code == "forbidden"


def test_an_item_goes_out_once_and_a_resent_checkout_is_the_same(funded, racket, desk):
    first = checkout(desk, funded, racket)
    assert checkout(desk, funded, racket) == first  # the same key: the desk's resend
    with pytest.raises(DomainError) as out:
        checkout(desk, funded, racket, key="k2")
    assert out.value.code == "rental_item_out"
    assert Hold.objects.count() == 1 and wallet(funded).available == 47_000


# --- statistics -----------------------------------------------------------------------------------------

def test_usage_per_item_and_per_holder(funded, racket, scope, desk, desk_user, student):
    one = checkout(desk, funded, racket)
    give_back(desk, one, T0 + dt.timedelta(hours=2))
    two = checkout(desk, funded, scope, key="k2", at=T0 + dt.timedelta(hours=1))
    with clock.frozen_at(T0 + dt.timedelta(hours=4)):  # the scope is still out: counted until now
        by_item = selectors.usage(user=desk_user, institution_id=funded.institution_id, start=T0 - dt.timedelta(days=1),
                                  end=clock.now(), by="item")
        by_person = selectors.usage(user=desk_user, institution_id=funded.institution_id,
                                    start=T0 - dt.timedelta(days=1), end=clock.now(), by="person")
    assert [(u.label, u.rentals, u.hours, u.open) for u in by_item] == [
        ("scope-01 显微镜", 1, 3.0, 1), ("racket-01 羽毛球拍", 1, 2.0, 0)]
    assert [(u.label, u.rentals, u.hours) for u in by_person] == [(f"{student.number} {student.name}", 2, 5.0)]
    assert two.returned_at is None


# --- the API and the desk page: authorisation matrix -------------------------------------------------

def test_api_checkout_authorisation(funded, racket, desk_user, make_operator, institution, other_institution):
    def call(client):
        return client.post("/api/v1/rental/checkouts", {"item": racket.code, "key": "api-1", "nfc_uid": UID},
                           content_type="application/json")

    assert_authorization(
        call,
        anonymous=Expect(ANONYMOUS, 401),
        wrong_role=Expect(Principal.session(make_operator(institution, "clinician")), 403),
        wrong_institution=Expect(Principal.session(make_operator(other_institution, "equipment_desk", "x")), 403),
        allowed=Expect(Principal.session(desk_user), 201),
        snapshot=lambda: (tuple(Rental.objects.values_list("pk", "item_id")), Hold.objects.count()), writes=True)


def test_desk_page_checkout_and_return(funded, racket, desk_user, student):
    client = Client()
    client.force_login(desk_user)
    page = client.get(reverse("devices:rental_desk"))
    assert page.status_code == 200 and 'id="desk-identify-form"' in page.content.decode()
    client.post(reverse("devices:rental_identify"), {"credential": UID})
    page = client.get(reverse("devices:rental_desk")).content.decode()
    assert f'data-person="{student.number}"' in page
    key = page.split('name="key" value="')[1].split('"')[0]
    for _ in range(2):  # a double click: one check-out
        client.post(reverse("devices:rental_checkout"), {"item": racket.code, "key": key})
    assert Rental.objects.filter(item=racket, returned_at=None).count() == 1
    client.post(reverse("devices:rental_return"), {"item": racket.code})
    assert Rental.objects.get().settled_at is not None and wallet(funded).available == 50_000


def test_desk_page_needs_the_desk_role(institution, make_operator):
    client = Client()
    client.force_login(make_operator(institution, "clinician"))
    assert client.get(reverse("devices:rental_desk")).status_code == 403
    assert Client().get(reverse("devices:rental_desk")).status_code == 302  # to the login


def test_holder_pages(funded, racket, desk, student):
    checkout(desk, funded, racket)
    user = holder_user_ensure(person=student)
    user.must_change_password = False
    user.save()
    client = Client()
    client.force_login(user)
    page = client.get(reverse("portal:rentals")).content.decode()
    assert racket.name in page and 'data-rental="' in page
    mine = client.get("/api/v1/me/rentals").json()
    assert [(r["item"], r["deposit"], r["settled"]) for r in mine] == [(racket.code, 3000, False)]
    catalogue = client.get("/api/v1/rental/items").json()
    assert [(i["code"], i["available"]) for i in catalogue] == [(racket.code, False)]


def test_api_return_and_usage_authorisation(funded, scope, desk, desk_user, make_operator, institution,
                                            other_institution):
    rental = checkout(desk, funded, scope)

    def give(client):
        return client.post("/api/v1/rental/returns", {"item": scope.code}, content_type="application/json")

    clinician, far_desk = make_operator(institution, "clinician"), make_operator(other_institution, "equipment_desk", "x")
    with clock.frozen_at(T0 + dt.timedelta(minutes=30)):
        assert_authorization(
            give,
            anonymous=Expect(ANONYMOUS, 401),
            wrong_role=Expect(Principal.session(clinician), 404),  # sees no rental
            wrong_institution=Expect(Principal.session(far_desk), 404),
            allowed=Expect(Principal.session(desk_user), 200),
            snapshot=lambda: (tuple(Rental.objects.values_list("pk", "returned_at", "fee")), Payment.objects.count()),
            writes=True)
    rental.refresh_from_db()
    assert rental.returned_at is not None and Payment.objects.get().amount == rental.fee
    assert_authorization(
        lambda client: client.get("/api/v1/rental/usage?by=person&days=30"),
        anonymous=Expect(ANONYMOUS, 401),
        wrong_role=Expect(Principal.session(make_operator(institution, "clinician", "dr")), 403),
        wrong_institution=Expect(Principal.session(make_operator(other_institution, "auditor", "far-auditor")), 200,
                                 check=lambda r: r.json() == []),  # their own institution: nothing of ours
        allowed=Expect(Principal.session(make_operator(institution, "auditor", "our-auditor")), 200,
                       check=lambda r: [u["label"] for u in r.json()] == [f"{funded.person.number} {funded.person.name}"]),
        snapshot=lambda: Rental.objects.count())
