"""Spawn-to-ready time of a session on the embedded platform vs a bare `jupyter lab`.

    .venv/bin/python benchmarks/spawn_benchmark.py [--runs 5] [--browser]

What is timed (median of --runs, on this machine, one after the other):

- hub, REST: `POST /hub/api/users/{u}/servers/{s}` with a JSON body until the
  session answers `GET .../api/status` through the proxy (what a client can use),
  broken down from the hub's log and the client's clock, in one run:
  request sent → spawner start → process started → server ready (its "is running
  at" line) → hub saw it up → route added (the POST answered) → first 200;
- bare: `jupyter lab --no-browser` (same interpreter, so the same server
  extensions) from process start until its `/api/status` answers, with its own
  "is running at" line as "server ready";
- with --browser, also: click Start on the spawn form until the JupyterLab shell is
  visible, vs starting a bare `jupyter lab` and opening it in the same browser.

A real hub + proxy is started in a temporary directory (tests/hubtools.py, hub log
at DEBUG) and removed afterwards, with every process it started.
"""

from __future__ import annotations

import argparse
import os
import re
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

from jupyterhub_sessions.drives import user_slug  # noqa: E402
from tests.hubtools import CHROMIUM, CHROMIUM_ARGS, free_port, start_hub, wait_for  # noqa: E402

LAB_SHELL = "#jp-main-dock-panel"
POLL = 0.02
LOG_LINE = re.compile(r"\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)? ")
READY_LINE = "is running at:"
# hub log events of one spawn, in order: (phase name, text of the line that ends it)
PHASES = [
    ("request → spawner start", "Calling Spawner.start for"),
    ("spawner start → process started", "Spawning "),
    ("process started → server ready", READY_LINE),
    ("server ready → hub saw it up", "responded in"),
    ("hub saw it up → route added", " to proxy /user/"),
]


def log_time(line: str) -> float | None:
    """Wall-clock time of a hub or session log line (local time, ms)."""
    m = LOG_LINE.match(line)
    if not m:
        return None
    return time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + float(m.group(2) or 0)


def session_log_lines(hub, user: str) -> list[str]:
    """The session's own log (the hub copies it into its log, but later than it reads its own)."""
    path = hub.data_dir / "session-logs" / user_slug(user) / "b.log"
    if not path.exists():
        return []
    return [line for line in path.read_text(errors="replace").splitlines() if READY_LINE in line]


def merged_by_time(lines: list[str]) -> list[str]:
    """Log lines in the order they were written (lines without a time keep their place after the
    last timed one)."""
    keyed, last = [], 0.0
    for n, line in enumerate(lines):
        t = log_time(line)
        last = t if t is not None else last
        keyed.append((last, n, line))
    return [line for _, _, line in sorted(keyed)]


def breakdown(lines: list[str], t_request: float, t_first: float) -> dict[str, float]:
    """Seconds per phase of one spawn, from the log lines it wrote."""
    out, prev, i = {}, t_request, 0
    for name, marker in PHASES:
        while i < len(lines) and marker not in lines[i]:
            i += 1
        if i == len(lines):
            print(f"(no {marker!r} line in the hub log after the previous phase: run not broken down)")
            return {}
        t = log_time(lines[i])
        out[name] = t - prev
        prev = t
    out["route added → first 200 through the proxy"] = t_first - prev
    return out


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
        self.log_path = workdir / "lab.log"
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        with open(self.log_path, "wb") as log:
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
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_status(self) -> float:
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}")
            return requests.get(self.url + f"api/status?token={self.token}", timeout=2).status_code == 200

        wait_for(up, timeout=120, interval=POLL, what="bare jupyter lab")
        return time.monotonic() - self.t0

    def ready_after(self) -> float | None:
        """Seconds from process start to its "is running at" line."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            if READY_LINE in line:
                return log_time(line) - self.wall0
        return None

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def hub_rest_run(hub, phases: dict | None = None) -> float:
    user = hub.new_user("bench")
    token = hub.user_token(user)
    offset = hub.log_path.stat().st_size
    wall0 = time.time()
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
    if phases is not None:
        with open(hub.log_path, "rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
        lines = merged_by_time(lines + session_log_lines(hub, user))
        for name, dt in breakdown(lines, wall0, wall0 + elapsed).items():
            phases.setdefault(name, []).append(dt)
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
    ap.add_argument(
        "--no-ready-wait",
        action="store_true",
        help="leave the hub to find a new session by its own backoff (LocalSessionSpawner.ready_poll_interval=0)",
    )
    args = ap.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    results: dict[str, list[float]] = {}
    phases: dict[str, list[float]] = {}
    bare_ready: list[float] = []
    with tempfile.TemporaryDirectory(prefix="spawn-bench-") as tmp:
        tmp = Path(tmp)
        print(f"starting a hub in {tmp} ...", flush=True)
        extra = "c.LocalSessionSpawner.ready_poll_interval = 0\n" if args.no_ready_wait else ""
        hub = start_hub(tmp / "hub", extra_config=extra, timeout=300)
        try:
            # warm-up (imports, page caches) for both sides, not counted
            hub_rest_run(hub)
            lab = BareLab(tmp / "bare-warm")
            lab.wait_status()
            lab.stop()
            for i in range(args.runs):
                results.setdefault("hub: REST POST → session /api/status answers", []).append(
                    hub_rest_run(hub, phases)
                )
                lab = BareLab(tmp / f"bare-{i}")
                try:
                    results.setdefault("bare: `jupyter lab` start → /api/status answers", []).append(
                        lab.wait_status()
                    )
                    ready = lab.ready_after()
                    if ready is not None:
                        bare_ready.append(ready)
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
    if phases:
        print()
        print("hub spawn, phase by phase (median s; one run's phases add up to its total):")
        for name, xs in phases.items():
            print(f"  {name:<50} {statistics.median(xs):7.3f}")
        if bare_ready:
            print(f"  {'bare: process start → server ready':<50} {statistics.median(bare_ready):7.3f}")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
