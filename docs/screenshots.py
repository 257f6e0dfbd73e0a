"""Regenerate the screenshots in docs/img/ (and docs/screenshot.png for the README) from the
running demo: ``python docs/screenshots.py`` (``make screenshots``).

Starts ``python -m odcm.demo`` on free ports, gives the demo's admin a fresh password, signs
in with Debian's chromium through Playwright and photographs the fleet dashboard, the
instances console, the switcher's type-ahead, the search page and enlisting from a file.
The demo (and everything it started) is stopped at the end.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_demo(env: dict[str, str]) -> subprocess.Popen[str]:
    # Its own process group: stopping it stops the web server, worker, beat and octosim too.
    demo = subprocess.Popen(
        [sys.executable, "-m", "odcm.demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    assert demo.stdout is not None
    for line in demo.stdout:
        print(f"  demo | {line.rstrip()}", flush=True)
        if "ODCM is running" in line:
            return demo
        if time.monotonic() > deadline or demo.poll() is not None:
            break
    stop_demo(demo)
    raise SystemExit("screenshots: the demo did not start (see var/*.log)")


def stop_demo(demo: subprocess.Popen[str]) -> None:
    if demo.poll() is None:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)


def admin_password(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "odcm.demo", "--reset-admin-password"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = re.search(r"password: (\S+)", out)
    if not match:
        raise SystemExit("screenshots: no admin password in the demo's answer")
    return match.group(1)


def shoot(base: str, password: str) -> list[Path]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - a dev-only dependency

    IMG.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"]
        )
        page: Any = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(30_000)
        page.goto(f"{base}/accounts/login/")
        page.fill("#id_login", "admin")
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=user-menu]")

        def save(name: str, full_page: bool = False) -> None:
            path = IMG / f"{name}.png"
            page.screenshot(path=str(path), full_page=full_page)
            made.append(path)

        page.goto(f"{base}/")
        page.wait_for_selector("[data-testid=fleet-cards]")
        save("dashboard-fleet")
        page.screenshot(path=str(ROOT / "docs" / "screenshot.png"))
        page.goto(f"{base}/spaces/instances/?sort=-uptime")
        page.wait_for_selector("[data-testid=console-table]")
        page.check("[data-testid=select-all]")
        page.select_option("[data-testid=bulk-action]", "window")
        save("instances-console")
        page.goto(f"{base}/spaces/")
        page.click("[data-testid=switcher]")
        page.locator("[data-testid=switcher-search]").wait_for()
        page.locator("[data-testid=switcher-search]").fill("default")
        page.locator("[data-testid=switcher-match]").first.wait_for()
        save("switcher-type-ahead")
        page.goto(f"{base}/spaces/search/?q=e")
        save("search")
        page.goto(f"{base}/spaces/instances/enlist/file/")
        save("enlist-from-file")
        browser.close()
    return made


def main() -> int:
    env = dict(os.environ)
    web, sim = free_port(), free_port()
    env.update({"ODCM_DEMO_PORT": str(web), "ODCM_DEMO_OCTOSIM_PORT": str(sim)})
    demo = start_demo(env)
    try:
        made = shoot(f"http://127.0.0.1:{web}", admin_password(env))
    finally:
        stop_demo(demo)
    for path in made:
        print(f"screenshots: wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
