"""A sandbox payment gateway that behaves like a real one (TOP-1).

The holder is redirected to the sandbox's own pay page; after "paying" there, the sandbox sends an
asynchronous notification to our callback URL, signed like Stripe's (``t=<unix>,v1=<HMAC-SHA256 of
"<t>.<body>">``). Like real gateways it resends until it gets ``success``, and it deliberately sends
a duplicate a few seconds later, so the exactly-once crediting is exercised every time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import urllib.request
import uuid

from django.conf import settings
from django.urls import reverse

from campuscard.core import clock
from campuscard.core.errors import DomainError
from campuscard.payments.gateways.base import GatewayEvent, gateway_register
from campuscard.payments.models import SandboxPayment

HEADER = "X-Sandbox-Signature"
TOLERANCE_SECONDS = 300


def _secret() -> bytes:
    return settings.GATEWAY_SANDBOX_SECRET.encode()


def sign(body: bytes, timestamp: int | None = None) -> str:
    ts = int(clock.now().timestamp()) if timestamp is None else timestamp
    mac = hmac.new(_secret(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


class SandboxGateway:
    name = "sandbox"
    ack = b"success"

    def start(self, *, order, return_url: str) -> str:
        SandboxPayment.objects.get_or_create(order_no=order.order_no, defaults={
            "amount": order.amount, "gateway_txn": "SBX" + secrets.token_hex(8).upper(),
            "callback_url": settings.SITE_URL + reverse("api-v1:gateway_notify", args=[self.name]),
            "return_url": return_url, "updated_at": clock.now()})
        return reverse("sandbox_gateway:pay", args=[order.order_no])

    def parse_notification(self, *, body: bytes, headers) -> GatewayEvent:
        parts = dict(p.split("=", 1) for p in headers.get(HEADER, "").split(",") if "=" in p)
        ts, sent = parts.get("t", ""), parts.get("v1", "")
        if not ts.isdigit() or not sent:
            raise DomainError("gateway_signature_invalid")
        expected = hmac.new(_secret(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sent):
            raise DomainError("gateway_signature_invalid")
        if abs(clock.now().timestamp() - int(ts)) > TOLERANCE_SECONDS:
            raise DomainError("gateway_timestamp_invalid")
        data = json.loads(body)
        return GatewayEvent(event_id=data["event_id"], order_no=data["order_no"], status=data["status"],
                            amount=int(data["amount"]), provider_txn=data["gateway_txn"])


def notification_body(payment: SandboxPayment) -> bytes:
    return json.dumps({"event_id": uuid.uuid4().hex, "order_no": payment.order_no, "status": payment.status,
                       "amount": payment.amount, "gateway_txn": payment.gateway_txn,
                       "at": clock.now().isoformat()}, separators=(",", ":")).encode()


def deliver(payment: SandboxPayment, *, receive=None) -> bool:
    """Send one signed notification; True when the merchant acknowledged it. ``receive(provider=, body=,
    headers=)`` is the merchant's receiving service, called in process when ``GATEWAY_SANDBOX_DELIVERY`` is
    "inprocess" (tests, single-process demos): passed in by the caller, so the gateway never imports it."""
    body = notification_body(payment)
    headers = {"Content-Type": "application/json", HEADER: sign(body)}
    if settings.GATEWAY_SANDBOX_DELIVERY == "inprocess":
        return receive(provider=SandboxGateway.name, body=body, headers=headers) is not None
    request = urllib.request.Request(payment.callback_url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (our own callback URL)
        return response.status == 200 and response.read().strip() == SandboxGateway.ack


gateway_register(SandboxGateway())
