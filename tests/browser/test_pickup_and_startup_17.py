"""#17 items 7, 9 and 10: one pickup place per card, honoured by the kiosk; the newcomer's start-up on another
port; a lost card holding less than the replacement fee is replaced all the same (cash at the window or the
kiosk, or the new card's first recharge). Phone viewport for the portal and the kiosk, desktop for the back
office."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campuscard.core import clock
from campuscard.core.money import yuan
from campuscard.payments.models import RechargeOrder
from campuscard.payments.services import recharge_cash

SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots_ux_desk"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# --- item 9: order numbers in the institution's time zone ------------------------------------------------

@pytest.mark.django_db
def test_recharge_order_numbers_read_in_the_institutions_time_zone(student, card):
    """17:30 UTC is 01:30 the next day in Harbin (Asia/Shanghai): the number carries the local date and time."""
    with clock.frozen_at(dt.datetime(2026, 9, 1, 17, 30, 5, tzinfo=dt.UTC)):
        order = recharge_cash(channel=RechargeOrder.Channel.WINDOW, person=student, amount=yuan(10), key="tz-1")
    assert re.fullmatch(r"R20260902013005[0-9A-F]{8}", order.order_no), order.order_no


# --- item 9: `./dev up` on another port, the newcomer's path --------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.browser
def test_up_on_another_port_credits_a_sandbox_recharge_and_keeps_the_logins_last(tmp_path, phone):
    """``PORT=<free> campuscard up`` (what ``./dev up`` runs) with no SITE_URL: the sandbox gateway's callback
    reaches this port, so the recharge is credited; the worker's output (demo e-mails) stays out of the
    terminal, whose last lines are the logins."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "DATABASE_URL", "REDIS_URL",
                                                            "DJANGO_SETTINGS_MODULE", "HUEY_IMMEDIATE")}
    env.update(PORT=str(port), CAMPUSCARD_DATA_DIR=str(tmp_path / "var"), WEB_WORKERS="1")
    terminal = tmp_path / "terminal.txt"
    with terminal.open("wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "campuscard.cli", "up"], env=env, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while "Press Ctrl+C to stop." not in terminal.read_text("utf-8", "replace"):
            assert up.poll() is None, terminal.read_text("utf-8", "replace")
            assert time.monotonic() < deadline, "campuscard up did not start"
            time.sleep(1)
        text = terminal.read_text("utf-8")
        base = f"http://127.0.0.1:{port}"
        assert f"Public URL          {base} " in text
        number, password = re.search(r"student \(first login: initial password\)\s+hdut\s+(\S+)\s+(\S+)",
                                     text).groups()

        page = phone
        page.goto(f"{base}/login/")
        page.select_option("select[name=institution]", "hdut")
        page.fill("input[name=number]", number)
        page.fill("input[name=password]", password)
        page.click("#login-form button[type=submit]")
        page.wait_for_url("**/password/**")
        page.fill("input[name=old_password]", password)
        page.fill("input[name=new_password]", "Harbin-Snow-2026")
        page.fill("input[name=new_password_again]", "Harbin-Snow-2026")
        page.click("#password-form button[type=submit]")
        page.goto(f"{base}/wallet/recharge/")
        page.click("button.chip >> text=¥50")
        page.click("#recharge-form button[type=submit]")
        page.wait_for_url("**/sandbox-gateway/pay/**")
        page.click("#sandbox-pay")
        page.wait_for_url("**/wallet/recharge/R*/")
        page.wait_for_selector('[data-state="paid"]', timeout=30_000)  # the gateway's callback reached this port
        shot(page, "17-9-up-on-another-port-recharge-credited")

        time.sleep(3)  # let the worker send what the recharge and the demo queued
        after = terminal.read_text("utf-8")
        running = after[after.index("CampusCard is running."):]
        lines = [line for line in running.splitlines() if line.strip()]
        assert lines[-1] == "Press Ctrl+C to stop.", running
        assert "Demo logins:" in running and "Subject:" not in after, after[-3000:]
        # the section after the logins is only the logins and the note about initial passwords
        logins = running[running.index("Demo logins:"):].splitlines()[1:-1]
        assert all(line.startswith("  ") or not line.strip() for line in logins), logins
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)

