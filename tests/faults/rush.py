"""The fault drills' load and faults (#18 items 1-2): POS terminals and gates as real devices — signed
requests over HTTP to the production server (``bench/_common.start_server``: granian, the device lane),
each device retrying an unanswered request until it is answered — and the faults: ``kill -9`` of one web
worker, of the whole web server (then started again), a PostgreSQL restart, a primary's death and the
fail-over.

A POS retries an unanswered payment with the same transaction id and a fresh signature (a new nonce), as
a terminal does (the code the holder showed stays the same); a gate resends the very same signed request
(same nonce), so the server logs the decision at most once and answers a resend of a logged one as a replay.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for extra in (ROOT / "bench", ROOT / "ops"):  # last: their module names shadow nothing in this process
    if str(extra) not in sys.path:
        sys.path.append(str(extra))

import pg_standby  # noqa: E402,F401  (ops/pg_standby.py: the operators' script, for the drills)
import pgcluster  # noqa: E402  (ops/pgcluster.py)

from _common import start_server  # noqa: E402  (bench/_common.py: the real server, as the benchmarks start it)

descendants, free_port = pgcluster.descendants, pgcluster.free_port

POS_PATH = "/api/v1/pos/payments"
GATE_PATH = "/api/v1/access/gate/decide"
ZONES = ["south-gate", "teach-1", "teach-2", "dorm-a", "dorm-b", "lab-1", "library"]  # bench/access.py's
GIVE_UP_SECONDS = 120  # a device stops retrying after this (the test fails if any did)


@dataclass
class Tally:
    """What the devices saw. ``acked``: key → what the answer said; ``refused``: key → code."""

    attempted: int = 0
    sends: int = 0
    retries: int = 0
    acked: dict = field(default_factory=dict)
    planned: dict = field(default_factory=dict)
    acked_at: list = field(default_factory=list)
    refused: dict = field(default_factory=dict)
    given_up: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acked_since(self, moment: float) -> int:
        with self.lock:
            return sum(1 for t in self.acked_at if t >= moment)

    def summary(self) -> dict:
        refused_codes: dict[str, int] = {}
        for code in self.refused.values():
            refused_codes[code] = refused_codes.get(code, 0) + 1
        return {"attempted": self.attempted, "acknowledged": len(self.acked), "sends": self.sends,
                "retries": self.retries, "refused": refused_codes, "given_up": len(self.given_up)}


class Device(threading.Thread):
    """One device: takes its next request from ``make()`` (key, body, headers factory) and sends it until
    answered; 2xx acknowledges, 4xx refuses, a transport error or 5xx is retried."""

    def __init__(self, *, port: int, path: str, make, tally: Tally, stop: threading.Event, on_ack,
                 pause: float = 0.0):
        super().__init__(daemon=True)
        self.port, self.path, self.make, self.tally, self.stop, self.on_ack = port, path, make, tally, stop, on_ack
        self.pause = pause
        self.conn: http.client.HTTPConnection | None = None

    def run(self) -> None:
        while not self.stop.is_set():
            job = self.make()
            if job is None:
                time.sleep(0.05)
                continue
            key, body, headers_for = job
            with self.tally.lock:
                self.tally.attempted += 1
            self.until_answered(key, body, headers_for)
            if self.pause:
                time.sleep(self.pause)

    def until_answered(self, key, body: bytes, headers_for) -> None:
        started, first = time.monotonic(), True
        while time.monotonic() - started < GIVE_UP_SECONDS:
            if not first:
                with self.tally.lock:
                    self.tally.retries += 1
            first = False
            with self.tally.lock:
                self.tally.sends += 1
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                self.conn.request("POST", self.path, body=body, headers=headers_for())
                response = self.conn.getresponse()
                status, answer = response.status, response.read()
            except (OSError, http.client.HTTPException):
                self._drop()
                time.sleep(0.2)
                continue
            if status >= 500:
                time.sleep(0.2)
                continue
            try:
                payload = json.loads(answer) if answer else {}
            except ValueError:
                payload = {"code": f"http_{status}"}
            with self.tally.lock:
                if status < 300:
                    self.tally.acked[key] = self.on_ack(payload)
                    self.tally.acked_at.append(time.monotonic())
                else:
                    self.tally.refused[key] = payload.get("code", str(status))
            return
        with self.tally.lock:
            self.tally.given_up.append(key)

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


class PayCodes:
    """Holders' one-time codes: each holder shows the code of the current step at most once (a code is
    used once), in a shuffled order; when every holder has paid in this step, the next step waits."""

    def __init__(self, holders: list, step_seconds: int, seed: int):
        self.holders, self.step_seconds = holders, step_seconds
        self.order = list(range(len(holders)))
        random.Random(seed).shuffle(self.order)
        self.step, self.next, self.lock = -1, 0, threading.Lock()

    def take(self) -> str | None:
        import pyotp

        with self.lock:
            step = int(time.time()) // self.step_seconds
            if step != self.step:
                self.step, self.next = step, 0
            if self.next >= len(self.order):
                return None
            token, secret = self.holders[self.order[self.next]]
            self.next += 1
        digits = pyotp.TOTP(secret, digits=8, interval=self.step_seconds).at(step * self.step_seconds)
        return f"CC1.{token}.{digits}"


def pos_devices(data: dict, *, port: int, tally: Tally, stop: threading.Event, codes: PayCodes,
                seed: int, pause: float = 0.01) -> list[Device]:
    """One device per POS terminal of ``data`` (``setup pay``): ¥6.50–¥22 payments, password-free, the
    holders' codes from ``codes`` (shared by the runs on one database: a code is used once)."""
    from campuscard.devices.signing import sign_headers

    rng = random.Random(seed)
    devices = []
    for device_code, secret in data["terminals"].items():
        def make(device_code=device_code, secret=secret):
            code = codes.take()
            if code is None:
                return None
            txn = uuid.uuid4().hex
            with tally.lock:
                amount = rng.choice([650, 800, 1200, 1550, 2200])
                tally.planned[txn] = (device_code, amount)
            body = json.dumps({"txn_id": txn, "amount": amount, "code": code}).encode()

            def headers():  # a retry signs again: a new nonce, the same transaction id
                return {**sign_headers(device_code=device_code, secret=secret, method="POST", path=POS_PATH,
                                       body=body), "Content-Type": "application/json"}
            return txn, body, headers

        devices.append(Device(port=port, path=POS_PATH, make=make, tally=tally, stop=stop, pause=pause,
                              on_ack=lambda payload, device_code=device_code: (device_code, payload["txn_id"],
                                                                               payload["amount"])))
    return devices


def gate_devices(data: dict, *, port: int, tally: Tally, stop: threading.Event, seed: int,
                 pause: float = 0.01) -> list[Device]:
    """One device per gate of ``data`` (``setup gate``): NFC taps, each gate taking each holder at most
    once (so a decision logged twice shows as two events of one gate and holder)."""
    from campuscard.devices.signing import sign_headers

    devices = []
    for g, (device_code, secret) in enumerate(data["gates"].items()):
        rng = random.Random(seed * 1000 + g)
        queue = list(range(len(data["holders"])))
        rng.shuffle(queue)
        lock = threading.Lock()

        def make(device_code=device_code, secret=secret, queue=queue, rng=rng, lock=lock):
            with lock:
                if not queue:
                    return None
                index = queue.pop()
            uid = data["holders"][index][0]
            body = json.dumps({"zone": rng.choice(ZONES), "nfc_uid": uid}).encode()
            # signed once: a resend is the same request (same nonce)
            headers = {**sign_headers(device_code=device_code, secret=secret, method="POST", path=GATE_PATH,
                                      body=body), "Content-Type": "application/json"}
            return (device_code, uid), body, lambda: headers

        devices.append(Device(port=port, path=GATE_PATH, make=make, tally=tally, stop=stop, pause=pause,
                              on_ack=lambda payload: (payload["event_id"], payload["admitted"], payload["rule"])))
    return devices


# --- the web server and its faults ---------------------------------------------------------------------

def server_env(database_url: str, data_dir: str, **extra: str) -> dict:
    """Production settings, as bench/lunch_rush.py runs the server; granian respawns a dead worker
    (docs/operations.md: ``--respawn-failed-workers``)."""
    env = {k: v for k, v in os.environ.items()  # the production defaults, whatever this run was given
           if k not in ("DATABASE_REPLICA_URL", "REDIS_URL", "DATABASE_POOLER", "PG_PREPARE", "DB_CONN_MAX_AGE",
                     "SECRET_KEY")}  # the key: the data directory's, one for the set-up, the server and the checks
    return {**env, "DATABASE_URL": database_url, "DEBUG": "false", "DJANGO_SETTINGS_MODULE": "campuscard.settings",
            "LOG_LEVEL": "WARNING", "CAMPUSCARD_DATA_DIR": data_dir,
            "PYTHONPATH": str(ROOT / "src"), "HUEY_IMMEDIATE": "false", "GRANIAN_RESPAWN_FAILED_WORKERS": "true",
            **extra}


class Server:
    """granian as ``bench/_common.start_server`` starts it: 2 workers × 4 threads."""

    def __init__(self, env: dict, port: int, workers: int = 2, threads: int = 4):
        self.env, self.port, self.workers, self.threads = env, port, workers, threads
        self.process = None

    def start(self) -> None:
        self.process = start_server(self.env, self.port, "granian", self.workers, self.threads, timeout=90)

    def workers_pids(self) -> list[int]:
        """The worker processes (granian's children that are not multiprocessing's helpers)."""
        pids = []
        for pid in descendants(self.process.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"resource_tracker" not in cmdline and b"semaphore_tracker" not in cmdline:
                pids.append(pid)
        return pids

    def kill_worker(self) -> int:
        """``kill -9`` of one web worker; granian starts another."""
        victims = self.workers_pids()
        if not victims:
            raise RuntimeError("no web worker to kill")
        os.kill(victims[0], signal.SIGKILL)
        return victims[0]

    def kill(self) -> None:
        """``kill -9`` of the whole web server: the main process and every worker."""
        if self.process is None:
            return
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except Exception:  # noqa: BLE001 - whatever it is doing, it ends now
                self.kill()


def run_rush(devices: list[Device], tally: Tally, faults: list, *, before: float = 4.0, after: float = 4.0,
             min_acks_after: int = 20, log=print) -> list[dict]:
    """Start the devices; ``before`` seconds later each fault in turn (a callable, named by its
    ``__name__``), then wait until the devices have had ``min_acks_after`` answers again and ``after``
    seconds have passed; then stop taking new requests and let the unanswered ones be retried to the end.
    Returns, per fault, how long it took and the acknowledgements before and after."""
    stop = devices[0].stop if devices else threading.Event()
    for device in devices:
        device.start()
    report = []
    time.sleep(before)
    for fault in faults:
        acked_before = len(tally.acked)
        t0 = time.monotonic()
        fault()
        spent = time.monotonic() - t0
        deadline = time.monotonic() + 90
        while tally.acked_since(t0 + spent) < min_acks_after and time.monotonic() < deadline:
            time.sleep(0.2)
        recovered = time.monotonic() - t0
        time.sleep(after)
        entry = {"fault": fault.__name__, "seconds": round(spent, 1), "answering_again_after_s": round(recovered, 1),
                 "acked_before": acked_before, "acked_after_fault": tally.acked_since(t0 + spent)}
        log(f"  fault {entry}", flush=True)
        report.append(entry)
    stop.set()
    for device in devices:
        device.join(GIVE_UP_SECONDS + 20)
    return report
