"""What the bubblewrap sandbox costs an embedded session: spawn-to-ready and a stop, with and without.

    .venv/bin/python benchmarks/sandbox_spawn.py [--runs 5]

Two embedded platforms run side by side on this machine, one with
`JUPYTERHUB_SESSIONS_SANDBOX=auto` (bwrap) and one with `off`; spawns
alternate between them so load changes hit both alike. Timed per run: `POST`
of a new server until the session answers `GET .../api/status` through the
proxy, and `DELETE` until the hub reports it stopped. Prints medians and the
sandboxed/unsandboxed ratio, with the machine's load. Bounded: every wait has
a timeout; both hubs and every process they started are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jupyterhub_sessions.spawner.sandbox import find_bwrap  # noqa: E402
from tests.hubtools import start_hub, wait_for  # noqa: E402


def one_run(hub, user: str) -> tuple[float, float]:
    t0 = time.monotonic()
    r = hub.start_session(user, "bench", {"session_type": "notebook"}, wait=False)
    assert r.status_code in (201, 202), r.text
    token = hub.user_token(user)
    wait_for(
        lambda: hub.request("GET", f"user/{user}/bench/api/status", token=token).status_code == 200,
        timeout=180,
        interval=0.05,
        what=f"{user}/bench answers",
    )
    ready = time.monotonic() - t0
    t1 = time.monotonic()
    hub.stop_session(user, "bench", timeout=120)
    return ready, time.monotonic() - t1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if find_bwrap() is None:
        print("bwrap does not work on this machine: nothing to compare", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        hubs = {}
        try:
            for mode in ("auto", "off"):
                hubs[mode] = start_hub(
                    Path(tmp) / mode, env={"JUPYTERHUB_SESSIONS_SANDBOX": mode}, timeout=180
                )
            users = {mode: hub.new_user("bench") for mode, hub in hubs.items()}
            times: dict[str, list[tuple[float, float]]] = {mode: [] for mode in hubs}
            for _ in range(args.runs):
                for mode, hub in hubs.items():
                    times[mode].append(one_run(hub, users[mode]))
        finally:
            for hub in hubs.values():
                hub.stop()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  (cpus: {os.cpu_count()})")
    med = {mode: [statistics.median(t[i] for t in runs) for i in (0, 1)] for mode, runs in times.items()}
    for i, what in enumerate(("spawn to ready", "stop")):
        box, bare = med["auto"][i], med["off"][i]
        print(f"{what:16} sandbox {box:6.2f}s   no sandbox {bare:6.2f}s   ratio {box / bare:4.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
