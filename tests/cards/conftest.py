"""Builders shared by the card tests: more holders, money in a wallet, photos, a local clock."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campuscard.cards import services
from campuscard.cards.models import Card, Photo
from campuscard.core.actors import Actor
from campuscard.identity.models import Person
from campuscard.ledger import services as ledger
from campuscard.ledger.models import Account
from campuscard.ledger.selectors import account_balances
from tests.helpers import resident_id

SHANGHAI = ZoneInfo("Asia/Shanghai")
_serial = itertools.count(100)


def local(*args: int) -> dt.datetime:
    """A wall-clock moment at the institution (Asia/Shanghai)."""
    return dt.datetime(*args, tzinfo=SHANGHAI)


def make_person(institution, kind: str = Person.Kind.UNDERGRADUATE, **fields) -> Person:
    serial = next(_serial)
    status = Person.Status.ACTIVE if kind == Person.Kind.STAFF else Person.Status.FULL_TIME
    return Person.objects.create(institution=institution, number=f"P{serial:07d}", name=f"持卡人{serial}", kind=kind,
                                 status=status, id_number=resident_id(serial), **fields)


def fund(card: Card, amount: int, key: str | None = None) -> None:
    """Cash handed in at the window, straight onto this card's wallet (any card, old or new)."""
    cash = ledger.system_account(institution_id=card.institution_id, kind=Account.Kind.CASH_WINDOW)
    ledger.transfer_create(key=key or f"test-fund:{card.pk}:{next(_serial)}", debit=cash,
                           credit=Account.objects.get(pk=card.wallet_account_id), amount=amount,
                           kind="recharge_window")


def balance(card_or_account_id) -> int:
    account_id = card_or_account_id.wallet_account_id if isinstance(card_or_account_id, Card) else card_or_account_id
    return account_balances(account_id=account_id).posted


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (60, 80)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 180, 160)).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(data: bytes, name: str = "photo.png", content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def operator(institution, make_operator):
    return make_operator(institution, "card_center_operator")


@pytest.fixture
def approve_photo(operator):
    """approve_photo(person) → an approved certificate photo, uploaded and reviewed via the services."""

    def approve(person: Person) -> Photo:
        photo = services.photo_upload(actor=Actor.by_user(operator), person=person, upload=upload(image_bytes()))
        return services.photo_review(actor=Actor.by_user(operator), photo=photo, approve=True)

    return approve


@pytest.fixture
def staff_card(staff_member) -> Card:
    return services.card_issue(actor=Actor.system("test"), person=staff_member)
