from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from campuscard.library.services import loan_reminders_send


@db_periodic_task(crontab(minute="0", hour="0,1"))
def remind_loans_due() -> int:
    """SVC-3: the nightly reminder (00:00 and 01:00 UTC = 08:00/09:00 in China; the second run finds every
    loan claimed by the first and sends nothing more)."""
    return loan_reminders_send()
