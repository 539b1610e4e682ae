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


def _leave_with_the_server() -> None:
    """A granian worker process whose master was killed (``kill -9``, the OOM killer) is not told: it would
    go on serving on the shared socket beside the workers of the master its supervisor starts next, with the
    old code, for ever (seen in tests/ops/test_deployment.py; #18 items 8 and 9). So each worker watches its
    parent and stops — gracefully, as when its master stops it — once it has gone."""
    import multiprocessing
    import signal
    import threading
    import time

    creator = multiprocessing.parent_process()
    if multiprocessing.current_process().name != "granian-worker" or creator is None:  # gunicorn's watch themselves
        return
    # the master that forked this worker — not os.getppid() now: the master may have died while this worker
    # was still importing the application (seen on a loaded host), and then the orphan would watch init
    parent = creator.pid

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        # and should the graceful stop hang, SIGALRM's default action ends the process all the same
        signal.alarm(15)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="campuscard-parent-watch", daemon=True).start()


_leave_with_the_server()
