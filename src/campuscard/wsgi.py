import gc
import os
import sys

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campuscard.settings")
django_application = get_wsgi_application()

from campuscard.api.lane import DeviceLane  # noqa: E402
from campuscard.api.main import lane_routes, lane_warm  # noqa: E402  (Django is set up above)

# The two rush endpoints (POS payment, gate decision) are answered in front of Django (api.lane).
application = DeviceLane(django_application, lane_routes())
lane_warm()
# What start-up loaded (Django, the warmed fast-path caches) lives as long as the process; frozen, the
# cyclic collector no longer walks it, and a full collection no longer stalls every request of the worker
# (docs/decisions.md).
gc.freeze()
# A request thread that gets its batch's answer back waits for the GIL while another thread parses the
# next request; by default it may wait the whole 5 ms switch interval, a batch's worth of latency
# (docs/decisions.md).
sys.setswitchinterval(float(os.environ.get("PYTHON_SWITCH_INTERVAL", "0.001")))
