"""Card journeys (CARD-1 … CARD-9, ID-7, APP-5): issue, loss, replacement, balance move, migration,
department change, graduation, photos and production. Refusals have stable codes and change nothing."""

from __future__ import annotations

import datetime as dt
import struct
import zlib

import holidays
import pytest
from django.db import transaction
from stdnum import luhn

from campuscard.cards import codes, services
from campuscard.cards.models import (
    BalanceMove,
    Card,
    Credential,
    DenyListVersion,
    LegacyMealCard,
    Photo,
    Production,
)
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.core.errors import DomainError
from campuscard.core.models import Area, ServicePoint
from campuscard.devices.models import Device
from campuscard.devices.services import device_register
from campuscard.identity.models import Person
from campuscard.ledger import services as ledger
from campuscard.ledger.checks import ledger_check
from campuscard.ledger.models import Account, Transfer
from campuscard.payments.services import wallet_of
from tests.cards.conftest import balance, fund, image_bytes, local, make_person, upload

pytestmark = pytest.mark.django_db

T = local(2026, 3, 10, 10, 0)  # a plain Tuesday
WINDOW = dt.timedelta(hours=48)


def refused(expected: str, call, /, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as error:
        call(**kwargs)
    assert error.value.code == expected
    return error.value


def deny_version(institution) -> int:
    row = DenyListVersion.objects.filter(institution=institution).first()
    return row.version if row else 0


def qr_code(card: Card) -> str:
    return codes.current_code(card.credentials.get(kind=Credential.Kind.QR))


def accept(card: Card, code: str):
    with transaction.atomic():
        return codes.code_accept(institution_id=card.institution_id, code=code)


def snapshot(person: Person) -> dict:
    """Everything a refused journey must leave as it was."""
    return {"cards": sorted(Card.objects.filter(person=person).values_list("pk", "state", "kind")),
            "transfers": Transfer.objects.count(), "accounts": Account.objects.count(),
            "credentials": Credential.objects.count(), "moves": BalanceMove.objects.count(),
            "deny": deny_version(person.institution), "productions": Production.objects.count(),
            "department": Person.objects.get(pk=person.pk).department,
            "balances": sorted((c.pk, balance(c)) for c in Card.objects.filter(person=person))}


def system(institution, kind: str) -> Account:
    return ledger.system_account(institution_id=institution.pk, kind=kind)


# --- issue (CARD-1, APP-5) ----------------------------------------------------------------------

def test_issue_gives_a_luhn_numbered_active_card_with_its_own_wallet(card, student, institution):
    assert len(card.number) == 12 and card.number.isdigit() and luhn.is_valid(card.number)
    assert (card.kind, card.state, card.physical) == (Card.Kind.STUDENT, Card.State.ACTIVE, False)
    wallet = Account.objects.get(pk=card.wallet_account_id)
    assert (wallet.kind, wallet.floor, wallet.owner) == (Account.Kind.WALLET, 0, f"person:{student.pk}")
    assert wallet_of(person=student) == wallet
    others = [services.card_issue(actor=Actor.system("test"), person=make_person(institution, kind))
              for kind in (Person.Kind.STAFF, Person.Kind.TEMPORARY, Person.Kind.VISITOR, Person.Kind.GRADUATE)]
    assert [c.kind for c in others] == ["staff", "temporary", "visitor", "student"]
    numbers = [card.number, *(c.number for c in others)]
    assert all(luhn.is_valid(n) and len(n) == 12 for n in numbers) and len(set(numbers)) == len(numbers)
    assert len({c.wallet_account_id for c in [card, *others]}) == 5


def test_one_live_card_per_kind(card, student):
    before = snapshot(student)
    refused("card_kind_exists", services.card_issue, actor=Actor.system("test"), person=student)
    assert snapshot(student) == before
    temporary = services.card_issue(actor=Actor.system("test"), person=student, kind=Card.Kind.TEMPORARY)  # another kind
    assert temporary.state == Card.State.ACTIVE
    services.card_report_lost(actor=Actor.system("test"), card=card, channel="portal")
    refused("card_kind_exists", services.card_issue, actor=Actor.system("test"), person=student)  # a lost card is still live


def test_physical_card_needs_an_approved_photo(student, operator):
    before = snapshot(student)
    refused("photo_missing", services.card_issue, actor=Actor.system("test"), person=student, physical=True)
    pending = services.photo_upload(actor=Actor.system("holder"), person=student, upload=upload(image_bytes()))
    refused("photo_missing", services.card_issue, actor=Actor.system("test"), person=student, physical=True)
    services.photo_review(actor=Actor.by_user(operator), photo=pending, approve=False, reason="背景不是白色")
    refused("photo_missing", services.card_issue, actor=Actor.system("test"), person=student, physical=True)
    assert snapshot(student) == before


def test_china_calendar_2026_as_the_holidays_package_has_it():
    """The facts the due dates below are computed from by hand."""
    cn = holidays.country_holidays("CN", years=2026)
    assert all(not cn.is_working_day(dt.date(2026, 10, d)) for d in range(1, 8))  # National Day week
    assert dt.date(2026, 10, 10).weekday() == 5 and cn.is_working_day(dt.date(2026, 10, 10))  # make-up Saturday
    assert dt.date(2026, 9, 20).weekday() == 6 and cn.is_working_day(dt.date(2026, 9, 20))  # make-up Sunday
    assert not cn.is_working_day(dt.date(2026, 9, 19))


@pytest.mark.parametrize(("moment", "due"), [
    # Tue 29 Sep: Wed 30 Sep, (1–7 Oct National Day), Thu 8, Fri 9 Oct.
    (local(2026, 9, 29, 10, 0), dt.date(2026, 10, 9)),
    # 00:30 in Shanghai is still 28 Sep in UTC: the institution's day counts.
    (local(2026, 9, 29, 0, 30), dt.date(2026, 10, 9)),
    # Wed 30 Sep: Thu 8, Fri 9, Sat 10 Oct — a make-up working day.
    (local(2026, 9, 30, 10, 0), dt.date(2026, 10, 10)),
    # Fri 18 Sep: (Sat 19 off), Sun 20 make-up working day, Mon 21, Tue 22.
    (local(2026, 9, 18, 10, 0), dt.date(2026, 9, 22)),
    # A plain week: Tue 10 Mar → Wed 11, Thu 12, Fri 13.
    (local(2026, 3, 10, 10, 0), dt.date(2026, 3, 13)),
    # Over a plain weekend: Thu 12 Mar → Fri 13, Mon 16, Tue 17.
    (local(2026, 3, 12, 16, 0), dt.date(2026, 3, 17)),
])
def test_physical_card_production_is_due_in_three_working_days(student, institution, approve_photo, moment, due):
    area = Area.objects.get(campus__institution=institution)
    kiosk = ServicePoint.objects.create(area=area, code="lib-kiosk", kind=ServicePoint.Kind.KIOSK, name="图书馆一楼")
    approve_photo(student)
    with frozen_at(moment):
        card = services.card_issue(actor=Actor.system("test"), person=student, physical=True)
    production = card.production
    assert card.physical and card.state == Card.State.ACTIVE  # the virtual card works meanwhile (APP-5)
    assert (production.state, production.due_date, production.collect_point) == (Production.State.REQUESTED, due, kiosk)


# --- loss report (CARD-4) ------------------------------------------------------------------------

def test_loss_report_is_immediate_and_unreport_restores(card, institution):
    services.nfc_bind(actor=Actor.system("test"), card=card, uid="04:11:22:33")
    hce = card.credentials.get(kind=Credential.Kind.HCE)
    with frozen_at(T):
        qr, hce_code = qr_code(card), codes.current_code(hce)
        assert deny_version(institution) == 0
        lost = services.card_report_lost(actor=Actor.system("test"), card=card, channel="portal")
        assert lost.state == Card.State.LOST
        assert deny_version(institution) == 1
        for code in (qr, hce_code):
            refused("card_lost", accept, card=card, code=code)
        refused("card_lost", codes.nfc_accept, institution_id=institution.pk, uid="04112233")
        refused("card_state_invalid", services.card_report_lost, actor=Actor.system("test"), card=card, channel="kiosk")

        found = services.card_unreport(actor=Actor.system("test"), card=card, channel="window")
        assert found.state == Card.State.ACTIVE and deny_version(institution) == 2
        assert accept(card, qr).card == card
        assert codes.nfc_accept(institution_id=institution.pk, uid="04112233").card == card
        refused("card_not_lost", services.card_unreport, actor=Actor.system("test"), card=card, channel="window")
        assert deny_version(institution) == 2


def test_freeze_and_unfreeze_bump_the_deny_list(card, institution):
    services.card_freeze(actor=Actor.system("test"), card=card)
    with frozen_at(T):
        refused("card_frozen", accept, card=card, code=qr_code(card))
    services.card_freeze(actor=Actor.system("test"), card=card, frozen=False)
    assert deny_version(institution) == 2
    refused("card_state_invalid", services.card_freeze, actor=Actor.system("test"), card=card, frozen=False)


# --- replacement (CARD-5) and balance move (CARD-6) -----------------------------------------------

def test_student_replaces_at_kiosk_fee_taken_new_card_works_at_once(card, student, institution):
    fund(card, 10_000)
    with frozen_at(T):
        old_code = qr_code(card)
        services.card_report_lost(actor=Actor.system("student"), card=card, channel="kiosk")
        new = services.card_replace(actor=Actor.system("kiosk"), card=card, physical=False, channel="kiosk")
        card.refresh_from_db()
        assert card.state == Card.State.REPLACED
        assert (new.state, new.kind, new.physical, new.replaces_id) == ("active", "student", False, card.pk)
        assert new.number != card.number and luhn.is_valid(new.number)

        fee = Transfer.objects.get(kind="fee")
        assert (fee.debit_id, fee.credit_id, fee.amount) == (card.wallet_account_id,
                                                             system(institution, "fee_income").pk, 2_000)
        assert balance(card) == 0 and balance(new) == 8_000  # #17: moved at once (no offline device to wait for)
        assert wallet_of(person=student).pk == new.wallet_account_id
        assert deny_version(institution) == 2  # lost, then replaced

        assert accept(new, qr_code(new)).card == new  # at once
        refused("card_replaced", accept, card=card, code=old_code)
        move = BalanceMove.objects.get()
        assert (move.old_card, move.new_card, move.state, move.done_at, move.amount) == (
            card, new, BalanceMove.State.DONE, T, 8_000)
        assert Account.objects.get(pk=card.wallet_account_id).status == Account.Status.CLOSED
    assert ledger_check().ok


def test_replacement_of_an_active_card_at_the_window(card, student):
    fund(card, 2_000)
    new = services.card_replace(actor=Actor.system("operator"), card=card, physical=False, channel="window")
    assert new.state == Card.State.ACTIVE and balance(card) == 0
    refused("card_state_invalid", services.card_replace, actor=Actor.system("operator"), card=card, physical=False,
            channel="window")


def test_staff_replace_at_the_window_not_the_kiosk(staff_card, staff_member):
    fund(staff_card, 500)
    before = snapshot(staff_member)
    error = refused("card_wrong_channel", services.card_replace, actor=Actor.system("kiosk"), card=staff_card, physical=False,
                    channel="kiosk")
    assert error.status == 403
    assert snapshot(staff_member) == before
    new = services.card_replace(actor=Actor.system("operator"), card=staff_card, physical=False, channel="window")
    assert new.kind == Card.Kind.STAFF and not Transfer.objects.filter(kind="fee").exists()  # ¥0 for staff
    assert balance(staff_card) == 0 and balance(new) == 500
    assert ledger_check().ok


def test_fee_more_than_balance_changes_nothing(card, student):
    fund(card, 1_999)
    services.card_report_lost(actor=Actor.system("student"), card=card, channel="kiosk")
    before = snapshot(student)
    error = refused("card_fee_unpaid", services.card_replace, actor=Actor.system("kiosk"), card=card, physical=False,
                    channel="kiosk")
    assert set(error.params) == {"fee", "balance"}
    assert snapshot(student) == before
    card.refresh_from_db()
    assert card.state == Card.State.LOST and not BalanceMove.objects.exists()
    assert not Transfer.objects.filter(kind="fee").exists() and Card.objects.count() == 1


def test_physical_replacement_without_photo_changes_nothing(card, student):
    fund(card, 10_000)
    before = snapshot(student)
    refused("photo_missing", services.card_replace, actor=Actor.system("kiosk"), card=card, physical=True, channel="kiosk")
    assert snapshot(student) == before


def test_physical_replacement_goes_to_production(card, student, approve_photo):
    fund(card, 3_000)
    approve_photo(student)
    with frozen_at(local(2026, 9, 29, 10, 0)):
        new = services.card_replace(actor=Actor.system("kiosk"), card=card, physical=True, channel="kiosk")
    assert new.physical and new.state == Card.State.ACTIVE
    assert new.production.due_date == dt.date(2026, 10, 9)
    assert balance(new) == 1_000  # the virtual card pays with it meanwhile


def validator(institution, code: str = "bus-1", seen: dt.datetime | None = None) -> Device:
    device, _secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.VALIDATOR,
                                      code=code, name=code)
    Device.objects.filter(pk=device.pk).update(last_seen_at=seen)
    return device


def test_with_bus_validators_a_reserve_stays_until_they_have_called_in(card, student, institution, settings):
    """#17 item 1: the balance moves at once but for one fare, which waits for the offline validators."""
    settings.REPLACEMENT_RESERVE_FEN = 200
    fund(card, 10_000)
    bus = validator(institution, seen=T - dt.timedelta(hours=5))
    transit = system(institution, "transit_clearing")
    with frozen_at(T):
        new = services.card_replace(actor=Actor.system("kiosk"), card=card, physical=False, channel="kiosk")
    assert balance(new) == 7_800 and balance(card) == 200  # ¥80 less the ¥20 fee, now; ¥2 kept back
    old_wallet = Account.objects.get(pk=card.wallet_account_id)
    with frozen_at(T + dt.timedelta(hours=3)):  # the validator uploads a tap made before it knew
        ledger.transfer_create(key="bus:tap:1", debit=old_wallet, credit=transit, amount=150, kind="transit_fare")
        ledger.transfer_create(key="bus:refund:1", debit=transit, credit=old_wallet, amount=100,
                               kind="transit_refund")
        assert services.balance_moves_run() == 0  # it has not called in since the replacement
        Device.objects.filter(pk=bus.pk).update(last_seen_at=T + dt.timedelta(hours=3))
        assert services.balance_moves_run() == 1
        assert services.balance_moves_run() == 0
    moves = Transfer.objects.filter(kind="balance_move").order_by("pk")
    assert [(m.debit_id, m.credit_id, m.amount) for m in moves] == [
        (card.wallet_account_id, new.wallet_account_id, 7_800), (card.wallet_account_id, new.wallet_account_id, 150)]
    assert balance(card) == 0 and balance(new) == 7_950
    old_wallet.refresh_from_db()
    assert old_wallet.status == Account.Status.CLOSED
    done = BalanceMove.objects.get()
    assert (done.state, done.amount, done.done_at) == (BalanceMove.State.DONE, 7_950, T + dt.timedelta(hours=3))
    with pytest.raises(DomainError) as late, transaction.atomic():  # after closing, nothing more lands there
        ledger.transfer_create(key="bus:tap:2", debit=transit, credit=old_wallet, amount=100, kind="transit_refund")
    assert late.value.code == "account_closed"
    assert ledger_check().ok


def test_the_reserve_is_released_after_48_hours_at_most(card, institution, settings):
    settings.REPLACEMENT_RESERVE_FEN = 200
    fund(card, 2_150)  # the fee and ¥1.50: less than the reserve stays back entirely
    validator(institution, "bus-silent")  # never calls in
    validator(institution, "bus-revoked").__class__.objects.filter(code="bus-revoked").update(revoked_at=T)
    with frozen_at(T):
        new = services.card_replace(actor=Actor.system("kiosk"), card=card, physical=False, channel="kiosk")
    assert balance(new) == 0 and balance(card) == 150 and BalanceMove.objects.get().amount == 0
    with frozen_at(T + WINDOW - dt.timedelta(seconds=1)):
        assert services.balance_moves_run() == 0
    with frozen_at(T + WINDOW):
        assert services.balance_moves_run() == 1
    assert balance(new) == 150 and BalanceMove.objects.get().amount == 150
    assert ledger_check().ok


def test_balance_move_of_an_empty_wallet_just_closes_it(card):
    fund(card, 2_000)  # exactly the fee
    with frozen_at(T):
        new = services.card_replace(actor=Actor.system("kiosk"), card=card, physical=False, channel="kiosk")
    with frozen_at(T + WINDOW):
        assert services.balance_moves_run() == 0  # done at once: nothing could still charge it
    assert BalanceMove.objects.get().amount == 0 and balance(new) == 0
    assert not Transfer.objects.filter(kind="balance_move").exists()
    assert Account.objects.get(pk=card.wallet_account_id).status == Account.Status.CLOSED
    assert ledger_check().ok


# --- old meal card (CARD-7) ---------------------------------------------------------------------------

def test_legacy_meal_card_moves_once_in_full(card, student, institution, staff_card, staff_member):
    legacy = LegacyMealCard.objects.create(institution=institution, person=student, old_number="M-0001",
                                           balance=12_345, imported_at=T)
    with frozen_at(T):
        assert services.legacy_migrate(actor=Actor.system("holder"), person=student) == 12_345
    assert balance(card) == 12_345
    moved = Transfer.objects.get(kind="migration")
    assert (moved.debit_id, moved.credit_id) == (system(institution, "legacy_meal").pk, card.wallet_account_id)
    legacy.refresh_from_db()
    assert legacy.migrated_at == T and legacy.transfer_id == moved.pk

    before = snapshot(student)
    error = refused("migration_done", services.legacy_migrate, actor=Actor.system("holder"), person=student)
    assert error.params["when"] == "2026-03-10"
    assert snapshot(student) == before
    refused("migration_none", services.legacy_migrate, actor=Actor.system("holder"), person=staff_member)
    assert balance(card) == 12_345 and Transfer.objects.filter(kind="migration").count() == 1
    assert ledger_check().ok


# --- staff department change (CARD-8) ----------------------------------------------------------------

def test_department_change_without_reissue_keeps_the_card(staff_card, staff_member):
    assert services.staff_department_change(actor=Actor.system("hr"), person=staff_member, department="数学学院",
                                            reissue=False) is None
    staff_member.refresh_from_db()
    staff_card.refresh_from_db()
    assert staff_member.department == "数学学院" and staff_card.state == Card.State.ACTIVE
    assert Card.objects.filter(person=staff_member).count() == 1


def test_department_change_with_free_reissue_wallet_follows(staff_card, staff_member):
    fund(staff_card, 5_000)
    with frozen_at(T):
        new = services.staff_department_change(actor=Actor.system("operator"), person=staff_member, department="物理学院",
                                               reissue=True)
    assert new.kind == Card.Kind.STAFF and new.state == Card.State.ACTIVE and new.replaces_id == staff_card.pk
    assert not Transfer.objects.filter(kind="fee").exists()
    assert wallet_of(person=staff_member).pk == new.wallet_account_id
    with frozen_at(T + WINDOW):
        services.balance_moves_run()
    assert balance(new) == 5_000 and balance(staff_card) == 0
    assert ledger_check().ok


def test_department_change_reissue_without_a_card_changes_nothing(staff_member):
    staff_member.department = "化学学院"
    staff_member.save()
    refused("card_missing", services.staff_department_change, actor=Actor.system("operator"), person=staff_member,
            department="物理学院", reissue=True)
    staff_member.refresh_from_db()
    assert staff_member.department == "化学学院"


# --- graduation (CARD-9) -------------------------------------------------------------------------------

def test_graduation_makes_an_alumni_card_and_the_balance_can_be_refunded(card, student, institution):
    fund(card, 4_321)
    alumni = services.graduate(actor=Actor.system("registrar"), person=student)
    assert alumni.pk == card.pk and alumni.kind == Card.Kind.ALUMNI and alumni.state == Card.State.ACTIVE
    student.refresh_from_db()
    assert (student.kind, student.status) == (Person.Kind.ALUMNUS, Person.Status.GRADUATED)
    assert balance(alumni) == 4_321  # same wallet, nothing moved by graduating

    assert services.balance_refund(actor=Actor.system("operator"), card=alumni) == 4_321
    refund = Transfer.objects.get(kind="refund")
    refunds = system(institution, "refunds_payable")
    assert (refund.debit_id, refund.credit_id, refund.amount) == (alumni.wallet_account_id, refunds.pk, 4_321)
    assert balance(alumni) == 0 and balance(refunds.pk) == 4_321
    assert services.balance_refund(actor=Actor.system("operator"), card=alumni) == 0
    assert Transfer.objects.filter(kind="refund").count() == 1
    assert ledger_check().ok


def test_graduating_without_a_student_card(staff_card, staff_member):
    assert services.graduate(actor=Actor.system("registrar"), person=staff_member) is None
    staff_card.refresh_from_db()
    assert staff_card.kind == Card.Kind.STAFF


# --- photos (ID-7) --------------------------------------------------------------------------------------

def bomb_png(side: int = 30_000) -> bytes:
    """68 bytes whose header claims 900 megapixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("data", [
    b"this is not an image",
    image_bytes("GIF"),
    image_bytes("PNG") + b"\0" * (5 * 1024 * 1024),  # a real PNG, but over 5 MB
    bomb_png(),
], ids=["text", "gif", "over-5mb", "bomb"])
def test_photo_upload_rejects_non_images_and_big_files(student, data):
    refused("photo_invalid", services.photo_upload, actor=Actor.system("holder"), person=student, upload=upload(data))
    assert not Photo.objects.exists()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_photo_upload_stores_a_pending_photo(student, fmt):
    photo = services.photo_upload(actor=Actor.system("holder"), person=student,
                                  upload=upload(image_bytes(fmt), name=f"me.{fmt.lower()}"))
    assert photo.state == Photo.State.PENDING and photo.image.size > 0


@pytest.mark.parametrize(("moment", "effective"), [
    (local(2026, 3, 10, 23, 30), dt.date(2026, 3, 11)),
    (local(2026, 3, 11, 0, 30), dt.date(2026, 3, 12)),  # still 10 March in UTC
])
def test_approved_photo_takes_effect_the_next_local_day(student, operator, moment, effective):
    photo = services.photo_upload(actor=Actor.system("holder"), person=student, upload=upload(image_bytes()))
    with frozen_at(moment):
        reviewed = services.photo_review(actor=Actor.by_user(operator), photo=photo, approve=True)
    assert (reviewed.state, reviewed.effective_from) == (Photo.State.APPROVED, effective)
    assert reviewed.reviewed_by == operator and reviewed.reviewed_at == moment
    refused("photo_not_pending", services.photo_review, actor=Actor.by_user(operator), photo=photo, approve=False, reason="重复")


def test_photo_rejection_needs_a_reason(student, operator):
    photo = services.photo_upload(actor=Actor.system("holder"), person=student, upload=upload(image_bytes()))
    for reason in ("", "   "):
        refused("reject_reason_required", services.photo_review, actor=Actor.by_user(operator), photo=photo, approve=False,
                reason=reason)
    photo.refresh_from_db()
    assert photo.state == Photo.State.PENDING and photo.reviewed_at is None
    rejected = services.photo_review(actor=Actor.by_user(operator), photo=photo, approve=False, reason=" 照片模糊 ")
    assert (rejected.state, rejected.reason, rejected.effective_from) == (Photo.State.REJECTED, "照片模糊", None)
    refused("photo_not_pending", services.photo_review, actor=Actor.by_user(operator), photo=photo, approve=True)


# --- production (APP-5) ---------------------------------------------------------------------------------

def test_production_moves_only_forward_one_step_at_a_time(student, approve_photo):
    approve_photo(student)
    production = services.card_issue(actor=Actor.system("test"), person=student, physical=True).production
    S = Production.State
    refused("production_state_invalid", services.production_advance, actor=Actor.system("op"), production=production,
            target=S.AT_KIOSK)
    refused("production_state_invalid", services.production_advance, actor=Actor.system("op"), production=production,
            target=S.REQUESTED)
    steps = [(S.PRINTED, "printed_at"), (S.AT_KIOSK, "ready_at"), (S.COLLECTED, "collected_at")]
    for target, stamp in steps:
        with frozen_at(T):
            production = services.production_advance(actor=Actor.system("op"), production=production, target=target)
        assert production.state == target and getattr(production, stamp) == T
        refused("production_state_invalid", services.production_advance, actor=Actor.system("op"), production=production,
                target=target)
    for target in (S.REQUESTED, S.PRINTED, S.AT_KIOSK):
        refused("production_state_invalid", services.production_advance, actor=Actor.system("op"), production=production,
                target=target)
    production.refresh_from_db()
    assert production.state == S.COLLECTED
