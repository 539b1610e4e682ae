"""The holder is told (SUP-4, #20 item 3): when a dispute of a bus ride is decided, and when a tap took the
wallet below zero and put the card on the validators' deny-list (recharge). Stored as source text and
parameters, shown in the reader's language."""

import pytest
from django.utils import translation
from django.utils.translation import gettext

from campuscard.core.errors import DomainError
from campuscard.support.models import Notification
from campuscard.transit import services
from campuscard.transit.models import Dispute, Tap
from tests.transit.conftest import SYSTEM, taps

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("accept", [True, False])
def test_a_decided_dispute_is_told_in_the_readers_language(validator, student, bound, make_operator, accept):
    services.taps_upload(device=validator.device, taps=taps(1))
    dispute = services.dispute_open(actor=SYSTEM, person=student, tap=Tap.objects.get(), reason="不是我")
    center = make_operator(student.institution, "card_center_operator")
    services.dispute_decide(actor=SYSTEM, user=center, dispute=dispute, accept=accept,
                            reason="" if accept else "刷卡记录属实")
    note = Notification.objects.get(person=student)
    assert note.kind == "appeal" and note.link == "/transit/"
    assert note.params["state"] == {"msgid": "accepted — refunded" if accept else "rejected"}
    assert note.params["route"] == "K1" and note.params["fare"] == "¥1.00"
    label = (Dispute.State.ACCEPTED if accept else Dispute.State.REJECTED).label
    with translation.override("en"):
        assert note.shown_title == "Your bus ride dispute was decided"
        assert note.shown_body.endswith("accepted — refunded. " if accept else "rejected. 刷卡记录属实")
    with translation.override("zh-hans"):
        assert note.shown_title == gettext("Your bus ride dispute was decided")
        assert str(label) in note.shown_body
    with pytest.raises(DomainError):  # decided once: told once
        services.dispute_decide(actor=SYSTEM, user=center, dispute=dispute, accept=True)
    assert Notification.objects.filter(person=student).count() == 1


def test_a_tap_below_zero_tells_the_holder_to_recharge_once(validator, student, bound):
    from campuscard.ledger import services as ledger
    from campuscard.ledger.models import Account

    ledger.transfer_create(key="spend", debit=Account.objects.get(pk=bound.wallet_account_id),
                           credit=ledger.system_account(institution_id=bound.institution_id,
                                                        kind=Account.Kind.FEE_INCOME), amount=950, kind="fee")
    batch = taps(1, 2, 3)
    services.taps_upload(device=validator.device, taps=batch)
    services.taps_upload(device=validator.device, taps=batch)  # sent again: nothing new, no second message
    note = Notification.objects.get(person=student)
    assert note.kind == "low_balance" and note.link == "/wallet/recharge/"
    assert note.params == {"fare": "¥1.00", "route": "K1", "balance": "-¥0.50"}
    with translation.override("en"):
        assert note.shown_title == "Recharge before your next bus ride"
        assert "-¥0.50" in note.shown_body and "recharge" in note.shown_body
    with translation.override("zh-hans"):
        assert note.shown_title == gettext("Recharge before your next bus ride")
