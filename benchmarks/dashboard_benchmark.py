"""The Sessions dashboard vs JupyterHub's stock home page, side by side on one machine.

    .venv/bin/python benchmarks/dashboard_benchmark.py [--runs 3]

Two embedded platforms run at once: one as shipped (the dashboard is the home
page), one with the dashboard switched off (JupyterHub's own home.html and its
"Add New Server" row). For a user with a running session and a stopped one,
median of --runs, in Chromium:

- login → home page visible (ours: the sessions table; stock: the server table);
- home page served (GET /hub/home with the browser's cookies, median of 20);
- + New session → JupyterLab visible (ours: name + "+ New session" → spawn form → Start;
  stock: name + "Add New Server" → page reloads → "start" → spawn form → Start), each in a
  fresh named session.

Prints each figure and the ratio ours/stock, and the machine's load (`uptime`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hubtools import CHROMIUM, CHROMIUM_ARGS, start_hub  # noqa: E402

LAB = "#jp-main-dock-panel"
STOCK = """
# the dashboard off: JupyterHub's own home page
from jupyterhub_sessions import dashboard as _d
c.JupyterHub.template_paths = [p for p in c.JupyterHub.template_paths if p != str(_d.TEMPLATES)]
c.JupyterHub.template_vars = {}
"""


class Platform:
    def __init__(self, label: str, root: Path, extra: str = ""):
        self.label = label
        self.hub = start_hub(root, extra_config=extra, timeout=180)
        self.user = f"bench{os.getpid()}{label}"
        self.counter = 0
        try:
            self.hub.ensure_user(self.user)
            options = {"session_type": "notebook", "timeout": 3600}
            for name in ("a", "b"):  # the third of the 3 allowed is the one the benchmark makes
                r = self.hub.start_session(self.user, name, {**options, "new_drive": f"d{name}"})
                assert r.status_code in (201, 202), r.text
            self.hub.stop_session(self.user, "b")
        except BaseException:
            self.hub.stop()
            raise

    def login(self, page) -> float:
        page.goto(self.hub.url + "hub/login")
        page.fill("input#username_input", self.user)
        t0 = time.monotonic()
        page.click("#login_submit")
        page.wait_for_selector("#jhs-my-sessions" if self.label == "ours" else "table.server-table")
        return time.monotonic() - t0

    def served(self, page, n=20) -> float:
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        times = []
        for _ in range(n):
            t0 = time.monotonic()
            r = requests.get(self.hub.url + "hub/home", cookies=cookies, timeout=30)
            times.append(time.monotonic() - t0)
            assert r.status_code == 200, r.status_code
        return statistics.median(times)

    def new_session(self, page) -> float:
        self.counter += 1
        name = f"n{self.counter}"
        page.goto(self.hub.url + "hub/home")
        t0 = time.monotonic()
        if self.label == "ours":
            page.fill("#jhs-new-name", name)
            page.click("#jhs-new-session")
        else:  # JupyterHub 6: "Add New Server" creates the server and reloads; then its "start"
            page.fill(".new-server-name", name)
            page.click(".new-server-btn")
            page.locator(f"#start-{name}").click()
        page.wait_for_selector("#spawn_form")
        page.get_by_role("button", name="Start").click()
        page.wait_for_selector(LAB, timeout=180_000)
        took = time.monotonic() - t0
        self.hub.api("DELETE", f"users/{self.user}/servers/{name}", json={"remove": True})
        return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        platforms = [Platform("ours", Path(tmp) / "ours")]
        try:
            platforms.append(Platform("stock", Path(tmp) / "stock", STOCK))
            results: dict[str, dict[str, list[float]]] = {p.label: {} for p in platforms}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for _ in range(args.runs):
                    for p in platforms:  # interleaved, so both see the same load
                        ctx = browser.new_context(viewport={"width": 1300, "height": 900})
                        page = ctx.new_page()
                        r = results[p.label]
                        r.setdefault("login → home page visible", []).append(p.login(page))
                        r.setdefault("home page served (median of 20)", []).append(p.served(page))
                        r.setdefault("+ New session → JupyterLab visible", []).append(p.new_session(page))
                        ctx.close()
                browser.close()
        finally:
            for p in platforms:
                p.hub.stop()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} CPUs; {load}")
    for what in results["ours"]:
        ours, stock = (statistics.median(results[k][what]) for k in ("ours", "stock"))
        print(f"{what}: dashboard {ours:.3f} s, stock home {stock:.3f} s, ratio {ours / stock:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
