from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from campuscard.study.services import seat_bookings_release


@db_periodic_task(crontab(minute="*"))
def release_unused_seats() -> dict[str, int]:
    """SVC-1: every minute, bookings not taken up within the grace period are released."""
    return seat_bookings_release()
