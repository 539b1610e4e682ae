from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from campuscard.payments.gateways.tasks import sandbox_notify  # noqa: F401  (registers the task)
from campuscard.payments.services import recharges_expire


@db_periodic_task(crontab(minute="*"))
def expire_recharges() -> int:
    return recharges_expire()
