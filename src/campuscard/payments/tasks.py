from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from campuscard.payments.gateways import sandbox
from campuscard.payments.models import SandboxPayment
from campuscard.payments.services import gateway_notification_receive, recharges_expire

SANDBOX_DUPLICATE_AFTER_SECONDS = 3


class NotAcknowledged(Exception):
    pass


@db_periodic_task(crontab(minute="*"))
def expire_recharges() -> int:
    return recharges_expire()


@db_task(retries=8, retry_delay=5)
def sandbox_notify(order_no: str, duplicate: bool = True) -> None:
    """The sandbox gateway's delivery worker: resend until acknowledged, plus one deliberate duplicate.
    Here rather than in ``gateways``: it hands the gateway our receiving service, and the gateways never
    import the services that use them."""
    payment = SandboxPayment.objects.get(order_no=order_no)
    if not sandbox.deliver(payment, receive=gateway_notification_receive):
        raise NotAcknowledged(order_no)  # Huey retries, like a real gateway
    if duplicate:
        sandbox_notify.schedule((order_no, False), delay=SANDBOX_DUPLICATE_AFTER_SECONDS)
