"""The sandbox gateway's delivery worker: resend until acknowledged, plus one deliberate duplicate."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from campuscard.payments.models import SandboxPayment

DUPLICATE_AFTER_SECONDS = 3


class NotAcknowledged(Exception):
    pass


@db_task(retries=8, retry_delay=5)
def sandbox_notify(order_no: str, duplicate: bool = True) -> None:
    from campuscard.payments.gateways.sandbox import deliver
    from campuscard.payments.services import gateway_notification_receive

    payment = SandboxPayment.objects.get(order_no=order_no)
    if not deliver(payment, receive=gateway_notification_receive):
        raise NotAcknowledged(order_no)  # Huey retries, like a real gateway
    if duplicate:
        sandbox_notify.schedule((order_no, False), delay=DUPLICATE_AFTER_SECONDS)
