"""Wallet, recharge and gateway notifications (LED-4, TOP-1)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from ninja import Field, Header, Router, Schema, Status

from campuscard.api.auth import DeviceSignature, holder_auth, holder_of
from campuscard.core.errors import DomainError
from campuscard.core.permissions import authorize
from campuscard.identity import selectors as identity_selectors
from campuscard.payments import selectors, services
from campuscard.payments.models import RechargeOrder

router = Router(tags=["wallet & recharge"])


class BalanceOut(Schema):
    available: int = Field(description="fen")
    posted: int
    pending_in: int
    held: int


class TransactionOut(Schema):
    id: int
    at: datetime
    kind: str
    label: str
    counterparty: str
    amount: int = Field(description="signed fen: + in, - out")
    balance_after: int
    reference: str


class RechargeIn(Schema):
    amount: int = Field(gt=0, description="fen")


class CashRechargeIn(Schema):
    number: str = Field(description="student / staff number")
    amount: int = Field(gt=0, description="fen")
    note: str = ""


class RechargeOut(Schema):
    order_no: str
    state: str
    amount: int
    channel: str
    created_at: datetime
    completed_at: datetime | None
    pay_url: str | None = None


def _order_out(order: RechargeOrder, pay_url: str | None = None) -> dict:
    return {"order_no": order.order_no, "state": order.state, "amount": order.amount, "channel": order.channel,
            "created_at": order.created_at, "completed_at": order.completed_at, "pay_url": pay_url}


@router.get("/wallet", response=BalanceOut, summary="My wallet balance", auth=holder_auth("balance"))
def wallet(request):
    b = selectors.wallet_summary(holder_of(request)).balances
    return {"available": b.available, "posted": b.posted, "pending_in": b.pending_credits, "held": b.pending_debits}


@router.get("/wallet/transactions", response=list[TransactionOut], summary="My transactions in a month (YYYY-MM)",
            auth=holder_auth("transactions"))
def transactions(request, month: str | None = None):
    person = holder_of(request)
    from campuscard.core import clock

    data = selectors.statement(person, month or clock.institution_now(person.institution).strftime("%Y-%m"))
    return [{"id": r.pk, "at": r.created_at, "kind": r.kind, "label": r.label, "counterparty": r.counterparty.name,
             "amount": r.signed, "balance_after": r.running, "reference": r.reference}
            for r in reversed(data["rows"])]


@router.post("/wallet/recharges", response={201: RechargeOut}, summary="Start an online recharge (TOP-1)",
             auth=holder_auth("recharge"))
def recharge_online(request, payload: RechargeIn, idempotency_key: str = Header(..., alias="Idempotency-Key")):
    order, url = services.recharge_online_start(person=holder_of(request), amount=payload.amount, key=idempotency_key)
    return Status(201, _order_out(order, request.build_absolute_uri(url)))


@router.get("/wallet/recharges/{order_no}", response=RechargeOut, summary="One of my recharges",
            auth=holder_auth("recharge"))
def recharge_get(request, order_no: str):
    order = RechargeOrder.objects.filter(order_no=order_no, person=holder_of(request)).first()
    if order is None:
        raise DomainError("recharge_not_found")
    return _order_out(order)


@router.post("/institutions/{code}/recharges/window", response={201: RechargeOut},
             summary="Cash recharge at the service window (Card Center operator)")
def recharge_window(request, code: str, payload: CashRechargeIn,
                    idempotency_key: str = Header(..., alias="Idempotency-Key")):
    institution = identity_selectors.institution_by_code(code)
    authorize(request.auth, "payments.add_rechargeorder", institution.pk)
    person = selectors.holder_by_number(institution_id=institution.pk, number=payload.number)
    order = services.recharge_cash(channel=RechargeOrder.Channel.WINDOW, person=person, amount=payload.amount,
                                   key=idempotency_key, operator=request.auth, note=payload.note)
    return Status(201, _order_out(order))


@router.post("/devices/kiosk/recharges", response={201: RechargeOut}, auth=DeviceSignature(),
             summary="Cash accepted by a self-service kiosk (signed device request)")
def recharge_kiosk(request, payload: CashRechargeIn, idempotency_key: str = Header(..., alias="Idempotency-Key")):
    device = request.auth
    if device.kind != device.Kind.KIOSK:
        raise DomainError("device_wrong_kind")
    person = selectors.holder_by_number(institution_id=device.institution_id, number=payload.number)
    order = services.recharge_cash(channel=RechargeOrder.Channel.KIOSK, person=person, amount=payload.amount,
                                   key=f"{device.code}:{idempotency_key}", device=device, note=payload.note)
    return Status(201, _order_out(order))


@router.post("/payments/gateways/{provider}/notify", auth=None, url_name="gateway_notify",
             summary="Payment-gateway notification (signed by the gateway)", include_in_schema=True)
def gateway_notify(request, provider: str):
    services.gateway_notification_receive(provider=provider, body=request.body, headers=request.headers)
    return HttpResponse(b"success", content_type="text/plain")
