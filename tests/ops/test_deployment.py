"""The production deployment as shipped in deploy/ (#18 item 8), run here:

* Debian's supervisor with deploy/supervisor/campuscard.conf — only the paths, the port and the worker
  count replaced — starts granian's web processes and the Huey worker; the web server killed with -9 comes
  back answering /healthz, and so does granian after it exits on a crash loop of its workers (#18 item 9:
  "Worker crash loop detected, exiting" left it down until restarted by hand).
* The systemd units pass ``systemd-analyze verify``.
* The reverse proxy's X-Forwarded-For is the one the application reads with TRUSTED_PROXIES.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def replaced(text: str, replacements: dict[str, str]) -> str:
    """The shipped file with ``replacements`` made; each must be there (the test follows the file's shape)."""
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in the shipped file: update the test with it"
        text = text.replace(old, new)
    return text


def healthz(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        return response.status == 200 and response.read() == b"ok"
    except OSError:
        return False


def wait_for(what: str, predicate, timeout: float = 90, log: Path | None = None, describe=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    tail += f"\n{describe()}" if describe is not None else ""
    raise AssertionError(f"not within {timeout} s: {what}\n{tail}")


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def supervised(tmp_path):
    """supervisord (own configuration, its XML-RPC on a free port) running the shipped program file."""
    if shutil.which("supervisord") is None:
        pytest.skip("Debian's supervisor is not installed (apt-get install supervisor; .ci/run does)")
    web_port, rpc_port = free_port(), free_port()
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "env").write_text(
        # (no SECRET_KEY: one is generated into the data directory, as for a demo — a given one would make
        # this a production installation, which needs its own keys of the personal data)
        f"DATABASE_URL=sqlite:///{data}/campuscard.sqlite3\nCAMPUSCARD_DATA_DIR={data}\n"
        "DJANGO_SETTINGS_MODULE=campuscard.settings\nLOG_LEVEL=WARNING\nDEBUG=false\n")
    shipped = (DEPLOY / "supervisor" / "campuscard.conf").read_text()
    programs = replaced(shipped, {
        "/srv/campuscard/.venv/bin/": f"{VENV_BIN}/", "/srv/campuscard": str(ROOT),
        "/etc/campuscard/env": str(tmp_path / "env"), "/var/log/supervisor/": f"{tmp_path}/",
        "--port 8000": f"--port {web_port}", "--workers 4": "--workers 2", "user=campuscard\n": "",
    })
    (tmp_path / "campuscard.conf").write_text(programs)
    (tmp_path / "supervisord.conf").write_text(f"""\
[inet_http_server]
port = 127.0.0.1:{rpc_port}

[supervisord]
nodaemon = true
logfile = {tmp_path}/supervisord.log
pidfile = {tmp_path}/supervisord.pid
childlogdir = {tmp_path}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = http://127.0.0.1:{rpc_port}

[include]
files = {tmp_path}/campuscard.conf
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DJANGO_", "PG_"))}
    daemon = subprocess.Popen(["supervisord", "-c", str(tmp_path / "supervisord.conf")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    rpc = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{rpc_port}/RPC2")
    try:
        yield rpc, web_port, tmp_path
    finally:
        try:
            rpc.supervisor.shutdown()
            daemon.wait(60)
        except Exception:  # noqa: BLE001 (stop it whatever state it is in)
            daemon.kill()
            daemon.wait()
        os.killpg(daemon.pid, signal.SIGKILL) if _group_alive(daemon.pid) else None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False


def info(rpc, name: str) -> dict:
    try:
        return rpc.supervisor.getProcessInfo(f"campuscard:{name}")
    except (OSError, xmlrpc.client.Fault):
        return {}


@pytest.mark.slow
def test_supervisor_restarts_the_web_server_killed_and_after_a_crash_loop(supervised):
    rpc, port, logs = supervised
    web_log = logs / "campuscard-web.log"

    def running(name: str, not_pid: int = 0):
        state = info(rpc, name)
        return state if state.get("statename") == "RUNNING" and state["pid"] != not_pid else None

    first = wait_for("the web server answers /healthz under supervisor",
                     lambda: healthz(port) and running("campuscard-web"), log=web_log)
    worker = wait_for("the Huey worker is running", lambda: running("campuscard-worker"),
                      log=logs / "campuscard-worker.log")
    workers = wait_for("granian's two web processes", lambda: len(children(first["pid"])) >= 2 and children(first["pid"]))

    # kill -9 the whole web server's master: supervisor starts a new one, and its workers answer
    os.kill(first["pid"], signal.SIGKILL)
    second = wait_for("a new web server", lambda: running("campuscard-web", not_pid=first["pid"]), log=web_log)
    wait_for("/healthz answers again", lambda: healthz(port), log=web_log)
    # the killed master's workers notice their parent is gone and leave (no orphan keeps the old code)
    wait_for("the old master's workers are gone", lambda: not any(alive(pid) for pid in workers), timeout=30,
             describe=lambda: [(pid, Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:200],
                                Path(f"/proc/{pid}/stat").read_text()) for pid in workers if alive(pid)])

    # a crash loop: granian respawns a dead worker, but a second death within 5.5 s makes it exit —
    # supervisor starts it again (#18 item 9)
    victims = wait_for("the new master's workers", lambda: children(second["pid"]))
    os.kill(victims[0], signal.SIGKILL)
    respawned = wait_for("granian respawns the worker",
                         lambda: [p for p in children(second["pid"]) if p not in victims] or not alive(second["pid"]),
                         timeout=30)
    if isinstance(respawned, list):
        os.kill(respawned[0], signal.SIGKILL)
    third = wait_for("a web server after the crash loop",
                     lambda: running("campuscard-web", not_pid=second["pid"]), log=web_log)
    wait_for("/healthz answers after the crash loop", lambda: healthz(port), log=web_log)
    assert "crash loop" in web_log.read_text()
    assert third["pid"] not in (first["pid"], second["pid"])

    # and the worker, killed, comes back too
    os.kill(worker["pid"], signal.SIGKILL)
    wait_for("a new Huey worker", lambda: running("campuscard-worker", not_pid=worker["pid"]))


def test_the_systemd_units_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    units = sorted((DEPLOY / "systemd").glob("campuscard-*.*"))
    assert {u.name for u in units} >= {"campuscard-web.service", "campuscard-worker.service"}
    for unit in units:  # the executables must exist for verify: the checkout's own
        (tmp_path / unit.name).write_text(unit.read_text().replace("/srv/campuscard/.venv/bin/", f"{VENV_BIN}/")
                                          .replace("/srv/campuscard", str(ROOT)))
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", *[str(tmp_path / u.name) for u in units]],
                         capture_output=True, text=True, cwd=tmp_path)
    problems = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert out.returncode == 0 and not problems, "\n".join(problems)


def test_the_proxy_header_is_the_one_the_application_believes(settings, rf):
    """nginx appends the address it sees to X-Forwarded-For; with TRUSTED_PROXIES the application takes the
    last entry that is not a proxy — so a client's own X-Forwarded-For is never believed."""
    from campuscard.identity.throttle import client_address

    conf = (DEPLOY / "nginx" / "campuscard.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf
    upstream = re.search(r"upstream campuscard \{\s*server ([\d.]+):(\d+);", conf)
    assert upstream and upstream.groups() == ("127.0.0.1", "8000")
    for shipped in [DEPLOY / "supervisor" / "campuscard.conf", DEPLOY / "systemd" / "campuscard-web.service"]:
        assert "--host 127.0.0.1 --port 8000" in shipped.read_text()  # reachable through the proxy only
    assert "TRUSTED_PROXIES=127.0.0.1" in conf
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    # what nginx sends for a client at 203.0.113.7 that wrote its own header
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7")
    assert client_address(request) == "203.0.113.7"
    settings.TRUSTED_PROXIES = []
    assert client_address(request) == "127.0.0.1"


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed here")
def test_the_nginx_configuration_parses(tmp_path):
    conf = (DEPLOY / "nginx" / "campuscard.conf").read_text()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
                    "-keyout", str(tmp_path / "key"), "-out", str(tmp_path / "cert")], check=True, capture_output=True)
    site = replaced(conf, {"/etc/ssl/certs/card.example.edu.pem": str(tmp_path / "cert"),
                           "/etc/ssl/private/card.example.edu.key": str(tmp_path / "key")})
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
                                         f"events {{}}\nhttp {{ access_log off; include {tmp_path}/site.conf; }}\n")
    out = subprocess.run(["nginx", "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
