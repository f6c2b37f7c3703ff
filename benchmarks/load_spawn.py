"""Concurrent spawn load on the embedded backend: N spawn requests at once, across users.

    .venv/bin/python benchmarks/load_spawn.py                 # 50 spawns, 20 users, limit 3
    .venv/bin/python benchmarks/load_spawn.py --spawns 10 --users 4

Boots its own hub (jupyterhub_sessions/configs/local_config.py) on free loopback ports in a
temporary directory, fires every spawn request at the same moment (one
thread each), waits until every accepted session is ready, stops them all
and checks that no session process is left. Each request must either start
a session or be refused cleanly by the per-user server limit (HTTP 400
naming the limit) or by the hub's concurrent-spawn limit (HTTP 429, try
again); anything else, including an accepted spawn that fails, is an error. Prints the figures and exits
non-zero on any error or leaked process. Bounded: --deadline seconds overall.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hubtools import start_hub, wait_for  # noqa: E402


def session_processes(hub, users) -> list:
    """Session processes of `users` on this hub (other users' sessions are not ours to count)."""
    import psutil

    out = []
    for p in psutil.process_iter(["cmdline", "name"]):
        try:
            # the servers, not the bubblewrap processes around sandboxed ones
            if "jupyterhub.singleuser" not in " ".join(p.info["cmdline"] or []) or p.info["name"] == "bwrap":
                continue
            env = p.environ()
            if (
                env.get("JUPYTERHUB_SESSIONS_TEST_HUB") == str(hub.data_dir)
                and env.get("JUPYTERHUB_USER") in users
            ):
                out.append(p)
        except Exception:  # noqa: BLE001 - process went away
            continue
    return out


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run(hub, spawns: int, users: int, limit: int, deadline: float, retry_busy: bool = False) -> dict:
    """Fire `spawns` requests over `users` users at once; returns figures and the problems seen."""
    names = [hub.new_user("load") for _ in range(users)]
    plan = [(names[i % users], f"s{i // users}") for i in range(spawns)]
    results: list = [None] * len(plan)
    retries = [0] * len(plan)
    barrier = threading.Barrier(len(plan))

    def fire(i, user, server):
        barrier.wait()
        t0 = time.monotonic()
        try:
            # each session on its own drive: a second session on one drive is refused (409) by design
            options = {"session_type": "notebook", "timeout": 900, "new_drive": f"drive-{server}"}
            while True:
                r = hub.api("POST", hub.server_path(user, server), json=options, timeout=deadline)
                if r.status_code != 429 or not retry_busy or time.monotonic() - t0 > deadline / 2:
                    break
                retries[i] += 1  # the hub is busy starting others: come back like a user would
                time.sleep(random.uniform(1, 3))
            results[i] = (r.status_code, r.text[:200], time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - counted as an error
            results[i] = (0, repr(e), time.monotonic() - t0)

    t_start = time.monotonic()
    threads = [threading.Thread(target=fire, args=(i, u, s)) for i, (u, s) in enumerate(plan)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline)
    accepted, refused, busy, errors = [], [], [], []
    for (user, server), res in zip(plan, results, strict=True):
        status, text, took = res or (0, "no answer", deadline)
        if status in (201, 202):
            accepted.append((user, server, took))
        elif status == 400 and "maximum" in text.lower():
            refused.append((user, server, took))
        elif status == 429:  # the hub's concurrent-spawn limit: "try again", nothing started
            busy.append((user, server, took))
        else:
            errors.append((user, server, status, text))
    ready_times = []
    for user, server, _ in accepted:
        try:
            hub.wait_ready(user, server, timeout=max(5.0, deadline - (time.monotonic() - t_start)))
            ready_times.append(time.monotonic() - t_start)
        except Exception as e:  # noqa: BLE001
            errors.append((user, server, "not ready", repr(e)[:200]))
    # never more running than the limit per user
    over = {}
    for user in names:
        running = [n for n, s in hub.user_model(user)["servers"].items() if s["ready"] or s["pending"]]
        if len(running) > limit:
            over[user] = running
    peak = len(session_processes(hub, names))
    t_stop = time.monotonic()
    for user, server, _ in accepted:
        hub.api("DELETE", hub.server_path(user, server))
    for user, server, _ in accepted:
        try:
            hub.stop_session(user, server, timeout=120)
        except Exception as e:  # noqa: BLE001
            errors.append((user, server, "stop", repr(e)[:200]))
    try:
        wait_for(lambda: not session_processes(hub, names), timeout=60, what="session processes gone")
    except TimeoutError:
        pass
    leaked = [p.pid for p in session_processes(hub, names)]
    return {
        "requests": len(plan),
        "accepted": len(accepted),
        "refused_by_limit": len(refused),
        "refused_busy": len(busy),
        "busy_retries": sum(retries),
        "errors": errors,
        "over_limit": over,
        "leaked_pids": leaked,
        "peak_session_processes": peak,
        "request_latency": [r[2] for r in results if r],
        "time_to_ready": ready_times,
        "stop_all_seconds": time.monotonic() - t_stop,
    }


def report(fig: dict) -> None:
    lat, rdy = fig["request_latency"], fig["time_to_ready"]
    print(f"spawn requests        {fig['requests']}")
    print(f"accepted              {fig['accepted']}")
    print(f"refused by limit      {fig['refused_by_limit']}  (per-user server limit, 400)")
    print(f"refused, hub busy     {fig['refused_busy']}  (concurrent-spawn limit, 429)")
    print(f"429 retries           {fig['busy_retries']}")
    print(f"errors                {len(fig['errors'])}")
    for e in fig["errors"][:10]:
        print(f"  {e}")
    print(f"users over the limit  {len(fig['over_limit'])}")
    print(f"peak session procs    {fig['peak_session_processes']}")
    print(
        f"request latency s     p50 {pct(lat, 0.5):.2f}  p95 {pct(lat, 0.95):.2f}  max {max(lat, default=0):.2f}"
    )
    if rdy:
        print(
            f"time to ready s       p50 {pct(rdy, 0.5):.1f}  p95 {pct(rdy, 0.95):.1f}  all {max(rdy):.1f}"
            f"  (mean {statistics.mean(rdy):.1f})"
        )
    print(f"stop all s            {fig['stop_all_seconds']:.1f}")
    print(f"leaked processes      {len(fig['leaked_pids'])}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spawns", type=int, default=50)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--limit", type=int, default=3, help="named servers per user")
    ap.add_argument("--deadline", type=float, default=600, help="seconds for the whole run")
    ap.add_argument(
        "--no-retry",
        action="store_true",
        help="take a 429 (hub busy) as the answer instead of retrying like a user",
    )
    args = ap.parse_args(argv)
    if not (1 <= args.spawns <= 200 and 1 <= args.users <= 100):
        ap.error("keep it bounded: at most 200 spawns and 100 users")
    with tempfile.TemporaryDirectory(prefix="jhs-load-spawn-") as tmp:
        t0 = time.monotonic()
        hub = start_hub(Path(tmp), env={"JUPYTERHUB_SESSIONS_SERVER_LIMIT": str(args.limit)}, timeout=180)
        print(f"hub up in {time.monotonic() - t0:.1f}s at {hub.url}")
        try:
            fig = run(hub, args.spawns, args.users, args.limit, args.deadline, retry_busy=not args.no_retry)
        finally:
            hub.stop()
    report(fig)
    return 1 if fig["errors"] or fig["leaked_pids"] or fig["over_limit"] else 0


if __name__ == "__main__":
    sys.exit(main())
