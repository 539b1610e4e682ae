from datetime import timedelta

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from campuscard.cards.issuing import issue_run  # noqa: F401  (the bulk-issuing task, registered for the worker)
from campuscard.cards.models import UsedCode
from campuscard.cards.services import balance_moves_run
from campuscard.core import clock


@db_periodic_task(crontab(minute="*/10"))
def move_balances() -> int:
    """CARD-6: remainders of replaced cards move once their settlement window has passed."""
    return balance_moves_run()


@db_periodic_task(crontab(minute="7"))
def purge_used_codes() -> int:
    """Used one-time codes only matter while they could still be valid."""
    deleted, _ = UsedCode.objects.filter(used_at__lt=clock.now() - timedelta(hours=1)).delete()
    return deleted

