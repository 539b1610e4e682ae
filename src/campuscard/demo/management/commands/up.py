"""`campuscard up`: migrate, load the demo, start the web server and the Huey worker, print logins."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from campuscard.demo import data as demo
from campuscard.demo.management.commands.demo import format_logins


class Command(BaseCommand):
    help = "Start the platform: migrate, demo data, web server (gunicorn) and background worker (Huey)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo institutions")

    def handle(self, *args, host, port, workers, no_demo, **options):
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        self.stdout.write("Migrating the database …")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        logins = []
        if not no_demo:
            self.stdout.write("Loading the demo (first time takes a few seconds) …")
            logins = demo.load(progress=lambda line: self.stdout.write(f"  · {line}"))
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE",
                                                                         "campuscard.settings")}
        # The public URL is where we serve unless the operator names another (a proxy in front): the
        # sandbox gateway posts its notifications there, so PORT=8123 must not leave it on :8000 (#17).
        env.setdefault("SITE_URL", base)
        worker_log = settings.DATA_DIR / "worker.log"
        # The worker's output — its log and the demo's console e-mails — goes to worker.log, not over the
        # URLs and logins printed below (#17 item 9).
        worker_out = open(worker_log, "ab")  # noqa: SIM115 (open for the child's life)
        children = [
            # batch work (face checks, bulk issuing) yields the CPU to the web server
            subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "campuscard.cli", "run_huey"], env=env,
                             stdout=worker_out, stderr=subprocess.STDOUT),
            subprocess.Popen([sys.executable, "-m", "gunicorn", "campuscard.wsgi:application",
                              "--bind", f"{host}:{port}", "--workers", str(workers),
                              "--access-logfile", str(settings.DATA_DIR / "access.log"),
                              "--error-logfile", "-", "--log-level", "warning"], env=env),  # no INFO after the logins
        ]

        def stop(*_args):
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self._wait_for_port(host, port, children)
        self.stdout.write(self.style.SUCCESS("\nCampusCard is running."))
        self.stdout.write(f"  Cardholder portal   {base}/")
        self.stdout.write(f"  Back office         {base}/backoffice/")
        self.stdout.write(f"  API docs (OpenAPI)  {base}/api/v1/docs")
        self.stdout.write(f"  Public URL          {env['SITE_URL']} (SITE_URL: gateway callbacks)")
        self.stdout.write(f"  Database            {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
                          f" · worker log and demo e-mails {worker_log}")
        if logins:
            self.stdout.write("\nDemo logins:")
            self.stdout.write(format_logins(logins))
            self.stdout.write("  (students and staff log in on the portal; the initial password is the last six "
                              "characters of the ID number and must be changed at first login)")
        self.stdout.write("\nPress Ctrl+C to stop.")
        while all(child.poll() is None for child in children):
            time.sleep(1)
        self.stderr.write("A process stopped; shutting down.")
        stop()

    def _wait_for_port(self, host: str, port: int, children, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(child.poll() is not None for child in children):
                return
            try:
                with socket.create_connection(("127.0.0.1" if host in ("0.0.0.0", "") else host, port), 0.5):
                    return
            except OSError:
                time.sleep(0.3)
