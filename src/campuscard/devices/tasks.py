from datetime import timedelta

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from campuscard.core import clock
from campuscard.devices.models import RequestNonce


@db_periodic_task(crontab(minute="*/10"))
def purge_request_nonces() -> int:
    """A nonce only matters while its request's timestamp is inside the window (twice, for clock skew)."""
    cutoff = clock.now() - timedelta(seconds=2 * settings.DEVICE_REQUEST_WINDOW_SECONDS)
    deleted, _ = RequestNonce.objects.filter(seen_at__lt=cutoff).delete()
    return deleted
