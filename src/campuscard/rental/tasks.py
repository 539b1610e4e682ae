from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from campuscard.rental.services import overdue_flag


@db_periodic_task(crontab(minute="*/5"))
def flag_overdue_rentals() -> int:
    """SVC-4: rentals past their due time are flagged and their holders told, once each."""
    return overdue_flag()
