import datetime as dt

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from campuscard.core import clock
from campuscard.core.models import Institution
from campuscard.dorm.models import DormBuilding
from campuscard.dorm.services import laundry_no_shows_release, reconcile_day


@db_periodic_task(crontab(minute="*"))
def laundry_release_no_shows() -> dict[str, int]:
    """SVC-5: every minute, laundry bookings not started within the grace period release their slot."""
    return laundry_no_shows_release()


@db_periodic_task(crontab(hour="1", minute="30"))
def electricity_reconcile_yesterday() -> dict[str, bool]:
    """SVC-5: nightly, each institution's electricity top-ups of the day before against the meter system."""
    out = {}
    for institution in Institution.objects.filter(pk__in=DormBuilding.objects.values("institution")):
        day = clock.local_date(institution) - dt.timedelta(days=1)
        out[institution.code] = reconcile_day(institution=institution, day=day).ok
    return out
