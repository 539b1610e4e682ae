"""The payment-gateway seam (TOP-1): start a payment, then trust only signed notifications."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from campuscard.core.errors import DomainError


@dataclass(frozen=True)
class GatewayEvent:
    event_id: str
    order_no: str
    status: str  # "paid" | "failed"
    amount: int
    provider_txn: str


class Gateway(Protocol):
    name: str
    ack: bytes  # what the gateway expects back so it stops resending

    def start(self, *, order, return_url: str) -> str:
        """Register the payment with the gateway; return the URL to send the holder to."""

    def parse_notification(self, *, body: bytes, headers) -> GatewayEvent:
        """Verify the signature and timestamp, then parse; raise DomainError when not genuine."""


# Filled by each gateway's module when the payments app starts (``PaymentsConfig.ready``): the seam does
# not import its implementations, which import the services that use the seam.
_REGISTRY: dict[str, Gateway] = {}


def gateway_register(gw: Gateway) -> None:
    _REGISTRY[gw.name] = gw


def gateway(name: str) -> Gateway:
    if name not in _REGISTRY:
        raise DomainError("gateway_unknown", provider=name)
    return _REGISTRY[name]
