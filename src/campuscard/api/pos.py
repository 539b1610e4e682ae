"""POS terminal API (PAY-1 … PAY-4): signed device requests."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Sum
from ninja import Field, Router, Schema, Status
from pydantic import ValidationError

from campuscard.api.auth import CachedDeviceSignature, DeviceSignature
from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.devices import lane
from campuscard.devices.models import Device
from campuscard.payments import fastpath, pos
from campuscard.payments.models import Payment, Terminal

router = Router(tags=["POS"], auth=DeviceSignature())


class PayIn(Schema):
    txn_id: str = Field(min_length=1, max_length=64, description="the terminal's own id: retries reuse it")
    amount: int = Field(gt=0, description="fen")
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
    amount: int | None = Field(None, gt=0, description="fen; empty = everything not yet refunded")
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


def _pay_fast(facts, payload: PayIn) -> dict | None:
    if payload.password is None and fastpath.eligible(amount=payload.amount, code=payload.code):
        return fastpath.try_pay(terminal=facts, txn_id=payload.txn_id, amount=payload.amount, code=payload.code)
    return None


def pay_in_lane(request) -> tuple[int, ReceiptOut] | None:
    """``pay`` in front of Django (devices.lane): the fast path's receipt, or None to let ``pay`` answer."""
    facts = lane.verify(request, load=fastpath.terminal_facts, forget=fastpath.forget)
    try:
        payload = PayIn.model_validate_json(request.body)
    except ValidationError:
        return None
    receipt = _pay_fast(facts, payload)
    return None if receipt is None else (201, ReceiptOut(**receipt))


@router.post("/pos/payments", response={201: ReceiptOut},
             auth=CachedDeviceSignature(load=fastpath.terminal_facts, forget=fastpath.forget),
             summary="Authorise a payment (idempotent on txn_id)")
def pay(request, payload: PayIn):
    facts = request.auth
    if not payload.code and not payload.nfc_uid:
        raise DomainError("qr_invalid")
    if lane.VERIFIED not in request.META:  # the lane tried the fast path already
        fast = _pay_fast(facts, payload)
        if fast is not None:
            return Status(201, fast)
    device = Device.objects.get(pk=facts.device_id)
    if device.revoked_at is not None:
        raise DomainError("device_revoked")
    request.auth = device
    payment = pos.payment_authorize(terminal=_terminal(request), txn_id=payload.txn_id, amount=payload.amount,
                                    code=payload.code, nfc_uid=payload.nfc_uid, password=payload.password)
    return Status(201, pos.payment_receipt(payment))


@router.post("/pos/payments/{txn_id}/refund", response=ReceiptOut, summary="Refund today's payment, fully or partly")
def refund(request, txn_id: str, payload: RefundIn):
    terminal = _terminal(request)
    payment = Payment.objects.filter(terminal__merchant=terminal.merchant, txn_id=txn_id).first()
    if payment is None:
        raise DomainError("payment_not_found")
    pos.payment_refund(actor=f"device:{terminal.device.code}", payment=payment, amount=payload.amount,
                       reason=payload.reason, key=payload.refund_id)
    payment.refresh_from_db()
    return pos.payment_receipt(payment)


@router.get("/pos/today", response=TodayOut, summary="This terminal's takings today")
def today(request):
    terminal = _terminal(request)
    start = clock.institution_now(terminal.merchant.institution).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = Payment.objects.filter(terminal=terminal, created_at__gte=start)
    totals = rows.aggregate(takings=Sum("amount"), refunds=Sum("refunded"))
    return {"payments": rows.count(), "takings": totals["takings"] or 0, "refunds": totals["refunds"] or 0}
