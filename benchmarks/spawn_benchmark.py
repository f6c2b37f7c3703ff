"""Spawn-to-ready time of a session on the embedded platform vs a bare `jupyter lab`.

    .venv/bin/python benchmarks/spawn_benchmark.py [--runs 5] [--browser]

What is timed (median of --runs, on this machine, one after the other):

- hub, REST: `POST /hub/api/users/{u}/servers/{s}` with a JSON body until the
  session answers `GET .../api/status` through the proxy (what a client can use);
- bare: `jupyter lab --no-browser` from process start until its `/api/status` answers;
- with --browser, also: click Start on the spawn form until the JupyterLab shell is
  visible, vs starting a bare `jupyter lab` and opening it in the same browser.

A real hub + proxy is started in a temporary directory (tests/hubtools.py) and
removed afterwards, with every process it started.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hubtools import CHROMIUM, CHROMIUM_ARGS, free_port, start_hub, wait_for  # noqa: E402

LAB_SHELL = "#jp-main-dock-panel"
POLL = 0.05


def bare_lab_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


class BareLab:
    """`jupyter lab --no-browser` on a free loopback port, in its own directory."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        workdir.mkdir(parents=True, exist_ok=True)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={workdir}",
                *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),
            ],
            cwd=workdir,
            env=bare_lab_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_status(self) -> float:
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}")
            return requests.get(self.url + f"api/status?token={self.token}", timeout=2).status_code == 200

        wait_for(up, timeout=120, interval=POLL, what="bare jupyter lab")
        return time.monotonic() - self.t0

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def hub_rest_run(hub) -> float:
    user = hub.new_user("bench")
    token = hub.user_token(user)
    t0 = time.monotonic()
    r = hub.api("POST", hub.server_path(user, "b"), token=token, json={"session_type": "notebook"})
    assert r.status_code in (201, 202), r.text
    status = hub.session_url(user, "b") + "api/status"
    wait_for(
        lambda: (
            requests.get(
                status, headers={"Authorization": f"token {token}"}, timeout=2, allow_redirects=False
            ).status_code
            == 200
        ),
        timeout=180,
        interval=POLL,
        what="session api/status",
    )
    elapsed = time.monotonic() - t0
    hub.stop_session(user, "b")
    return elapsed


def hub_browser_run(hub, browser) -> float:
    user = hub.new_user("benchb")
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        hub.login(page, user)
        page.goto(hub.url + f"hub/spawn/{user}/b")
        t0 = time.monotonic()
        page.get_by_role("button", name="Start").click()
        page.wait_for_selector(LAB_SHELL, timeout=180_000)
        elapsed = time.monotonic() - t0
    finally:
        ctx.close()
    hub.stop_session(user, "b")
    return elapsed


def bare_browser_run(browser, workdir: Path) -> float:
    lab = BareLab(workdir)
    ctx = browser.new_context()
    try:
        lab.wait_status()
        page = ctx.new_page()
        page.goto(lab.url + f"lab?token={lab.token}")
        page.wait_for_selector(LAB_SHELL, timeout=180_000)
        return time.monotonic() - lab.t0
    finally:
        ctx.close()
        lab.stop()


def summary(name: str, xs: list[float]) -> str:
    return f"{name:<52} {statistics.median(xs):7.2f} s {min(xs):7.2f} s {max(xs):7.2f} s {len(xs):5d}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--browser", action="store_true", help="also time Start-click → Lab visible")
    args = ap.parse_args()

    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="spawn-bench-") as tmp:
        tmp = Path(tmp)
        print(f"starting a hub in {tmp} ...", flush=True)
        hub = start_hub(tmp / "hub", timeout=300)
        try:
            # warm-up (imports, page caches) for both sides, not counted
            hub_rest_run(hub)
            lab = BareLab(tmp / "bare-warm")
            lab.wait_status()
            lab.stop()
            for i in range(args.runs):
                results.setdefault("hub: REST POST → session /api/status answers", []).append(
                    hub_rest_run(hub)
                )
                lab = BareLab(tmp / f"bare-{i}")
                try:
                    results.setdefault("bare: `jupyter lab` start → /api/status answers", []).append(
                        lab.wait_status()
                    )
                finally:
                    lab.stop()
                print(f"run {i + 1}/{args.runs} done", flush=True)
            if args.browser:
                from playwright.sync_api import sync_playwright

                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                    try:
                        for i in range(args.runs):
                            results.setdefault("hub: click Start → JupyterLab shell visible", []).append(
                                hub_browser_run(hub, browser)
                            )
                            results.setdefault("bare: `jupyter lab` start → shell visible", []).append(
                                bare_browser_run(browser, tmp / f"bare-b{i}")
                            )
                    finally:
                        browser.close()
        finally:
            hub.stop()

    print()
    print(f"{'':<52} {'median':>9} {'min':>9} {'max':>9} {'runs':>5}")
    for name, xs in results.items():
        print(summary(name, xs))
    pairs = [
        (
            "REST",
            "hub: REST POST → session /api/status answers",
            "bare: `jupyter lab` start → /api/status answers",
        ),
        (
            "browser",
            "hub: click Start → JupyterLab shell visible",
            "bare: `jupyter lab` start → shell visible",
        ),
    ]
    for label, hub_key, bare_key in pairs:
        if hub_key in results:
            ratio = statistics.median(results[hub_key]) / statistics.median(results[bare_key])
            print(f"ratio hub/bare ({label}, medians): {ratio:.2f}x")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
