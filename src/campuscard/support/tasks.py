"""The notification worker's jobs (SUP-4); each is safe to run twice (docs/operations.md). The per-event jobs
live next to their code and are registered with the consumer by importing them here."""

from django.conf import settings
from django.core.mail import send_mail
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from campuscard.support import alerts
from campuscard.support.alerts import low_balance_check  # noqa: F401  (registered with the consumer)
from campuscard.support.delivery import deliver_notifications  # noqa: F401


@db_task(retries=3, retry_delay=60)
def send_email(address: str, title: str, body: str) -> None:
    send_mail(f"[CampusCard] {title}", body, settings.DEFAULT_FROM_EMAIL, [address])


@db_periodic_task(crontab(minute="15"))
def payment_password_due() -> int:
    """PAY-3: hourly, every holder whose payment password is due, once per due period."""
    return alerts.password_due_alerts()
