from django.conf import settings
from django.core.mail import send_mail
from huey.contrib.djhuey import db_task


@db_task(retries=3, retry_delay=60)
def send_email(address: str, title: str, body: str) -> None:
    send_mail(f"[CampusCard] {title}", body, settings.DEFAULT_FROM_EMAIL, [address])
