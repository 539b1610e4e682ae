"""POS terminal API (PAY-1 … PAY-4): signed device requests."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Sum
from ninja import Field, Router, Schema, Status
from pydantic import ValidationError

from campuscard.api import lane
from campuscard.api.auth import CachedDeviceSignature, DeviceSignature
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.payments import fastpath, pos
from campuscard.payments.models import Payment, Terminal

router = Router(tags=["POS"], auth=DeviceSignature())


TXN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"  # as payments.pos.TXN_ID


class PayIn(Schema):
    txn_id: str = Field(pattern=TXN_ID_PATTERN, description="the terminal's own id: retries reuse it")
    amount: int = Field(gt=0, strict=True, description="fen (an integer: 12.5 or \"100\" is refused)")
    code: str = Field("", description="the holder's dynamic QR / HCE / offline code")
    nfc_uid: str = Field("", description="the tapped physical card's UID")
    password: str | None = Field(None, description="payment password, above the password-free amount")


class ReceiptOut(Schema):
    txn_id: str
    amount: int
    merchant: str
    holder: str
    card: str
    method: str
    balance_after: int
    refunded: int
    at: datetime


class RefundIn(Schema):
    amount: int | None = Field(None, gt=0, strict=True, description="fen; empty = everything not yet refunded")
    reason: str = ""
    refund_id: str = Field("", max_length=80, description="the terminal's id for this refund: resends refund once")


class TodayOut(Schema):
    payments: int
    takings: int
    refunds: int


def _terminal(request) -> Terminal:
    terminal = (Terminal.objects.select_related("merchant__institution", "merchant__account", "device")
                .filter(device=request.auth).first())
    if terminal is None:
        raise DomainError("terminal_unknown")
    return terminal


def _pay(facts, payload: PayIn) -> dict:
    receipt = pos.payment_authorize(terminal=facts, txn_id=payload.txn_id, amount=payload.amount,
                                    code=payload.code, nfc_uid=payload.nfc_uid, password=payload.password)
    return receipt.as_dict()


def pay_in_lane(request) -> tuple[int, dict] | None:
    """``pay`` in front of Django (api.lane): the same domain call, or None to let ``pay`` answer
    what the lane does not (a body that does not validate)."""
    facts = lane.verify(request, load=fastpath.terminal_facts, forget=fastpath.forget)
    try:
        payload = PayIn.model_validate_json(request.body)
    except ValidationError:
        return None
    try:
        return 201, ReceiptOut(**_pay(facts, payload)).model_dump()
    except DomainError as refusal:
        return refusal.status, refusal.as_dict()


@router.post("/pos/payments", response={201: ReceiptOut},
             auth=CachedDeviceSignature(load=fastpath.terminal_facts, forget=fastpath.forget),
             summary="Authorise a payment (idempotent on the terminal's txn_id)")
def pay(request, payload: PayIn):
    return Status(201, _pay(request.auth, payload))


@router.post("/pos/payments/{txn_id}/refund", response=ReceiptOut, summary="Refund today's payment, fully or partly")
def refund(request, txn_id: str, payload: RefundIn):
    terminal = _terminal(request)
    payment = Payment.objects.filter(terminal=terminal, txn_id=txn_id).first()  # txn ids are per terminal
    if payment is None:
        raise DomainError("payment_not_found")
    pos.payment_refund(actor=Actor.by_device(terminal.device), payment=payment, amount=payload.amount,
                       reason=payload.reason, key=payload.refund_id)
    payment.refresh_from_db()
    return pos.payment_receipt(payment=payment)


@router.get("/pos/today", response=TodayOut, summary="This terminal's takings today")
def today(request):
    terminal = _terminal(request)
    start = clock.institution_now(terminal.merchant.institution).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = Payment.objects.filter(terminal=terminal, created_at__gte=start)
    totals = rows.aggregate(takings=Sum("amount"), refunds=Sum("refunded"))
    return {"payments": rows.count(), "takings": totals["takings"] or 0, "refunds": totals["refunds"] or 0}
