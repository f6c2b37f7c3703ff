"""`ssh -L` into a session: direct vs the gateway's local forward vs the session's TCP bridge.

    .venv/bin/python benchmarks/ssh_forward.py [--mb 20] [--requests 50]

Boots the embedded platform (a real hub, CHP, the ssh service) and a second
gateway configured as on Kubernetes (`configure_hub_for_cluster`: forwarded
connections go through the hub's proxy to the session's `sessions-api/tcp/<port>`
websocket). A `python -m http.server` runs inside a user's session and serves a
file of `--mb` MB. Printed for each path: median latency of a small GET (a new
TCP connection each, so it includes the forward's channel set-up) and download
throughput of the file (median of 3), with the OpenSSH client doing `-L`.

A run on the 2-core dev machine (2026-11-26, load about 1), after the gateway
stopped asking the session for its ports before opening the bridge (the
bridge checks the port itself; the first run, with both checks, measured
78.30 ms per small GET through the bridge):

    path                        small GET (ms)  download (MB/s)
    direct                                2.68            315.3
    gateway, local forward               41.27             80.5
    gateway, TCP bridge                  46.19             58.2

Once open, the bridge moves data at about 3/4 of the local forward.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from traitlets.config import Config  # noqa: E402

from jupyterhub_sessions.drives import user_slug  # noqa: E402
from jupyterhub_sessions.hub.services import configure_ssh_for_cluster  # noqa: E402
from tests.hubtools import free_port, start_hub, wait_for  # noqa: E402
from tests.ssh.conftest import CLIENT_OPTS, user_with_key  # noqa: E402


def start_cluster_gateway(hub, log_dir: Path) -> tuple[subprocess.Popen, int]:
    pages_port, ssh_port = free_port(), free_port()
    c = Config()
    c.JupyterHub.services = []
    c.JupyterHub.load_roles = []
    configure_ssh_for_cluster(
        c,
        hub.data_dir,
        service_host="127.0.0.1",
        pages_port=pages_port,
        ssh_port=ssh_port,
        public_url=hub.url,
        bind="127.0.0.1",
    )
    (service,) = c.JupyterHub.services
    env = {
        **service["environment"],
        "JUPYTERHUB_API_TOKEN": hub.admin_token,
        "JUPYTERHUB_API_URL": hub.api_url,
        "JUPYTERHUB_SERVICE_NAME": "ssh",
        "JUPYTERHUB_SERVICE_URL": service["url"],
        "JUPYTERHUB_SERVICE_PREFIX": "/services/ssh/",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_SESSIONS_TEST_HUB": str(hub.data_dir),
    }
    log = open(log_dir / "cluster-gateway.log", "wb")
    proc = subprocess.Popen(service["command"], env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_for(
        lambda: socket.create_connection(("127.0.0.1", ssh_port), timeout=1).close() or True,
        timeout=60,
        what="cluster gateway",
    )
    return proc, ssh_port


def forward(gateway_port: int, device, user: str, app_port: int) -> tuple[subprocess.Popen, int]:
    local = free_port()
    proc = subprocess.Popen(
        [
            "/usr/bin/ssh",
            "-p",
            str(gateway_port),
            *CLIENT_OPTS,
            "-i",
            str(device.key),
            "-N",
            "-L",
            f"{local}:127.0.0.1:{app_port}",
            f"{user}@127.0.0.1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(
        lambda: requests.get(f"http://127.0.0.1:{local}/", timeout=5).status_code == 200,
        timeout=120,
        interval=0.5,
        what="forward",
    )
    return proc, local


def measure(port: int, size: int, n: int) -> tuple[float, float]:
    small = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = requests.get(f"http://127.0.0.1:{port}/small.txt", timeout=30)
        small.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
    rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = requests.get(f"http://127.0.0.1:{port}/big.bin", timeout=300)
        rates.append(len(r.content) / (time.perf_counter() - t0) / 1e6)
        assert len(r.content) == size
    return statistics.median(small), statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=20)
    ap.add_argument("--requests", type=int, default=50)
    args = ap.parse_args()
    size = args.mb * 1024 * 1024

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ssh_port = free_port()
        hub = start_hub(tmp / "hub", env={"JUPYTERHUB_SESSIONS_SSH_PORT": str(ssh_port)}, timeout=180)
        procs: list[subprocess.Popen] = []
        try:
            keydir = tmp / "keys"
            keydir.mkdir(mode=0o700)
            user, device = user_with_key(hub, keydir, "bench")
            cluster, cluster_port = start_cluster_gateway(hub, tmp)
            procs.append(cluster)
            app_port = free_port()
            app = subprocess.Popen(
                [
                    "/usr/bin/ssh",
                    "-p",
                    str(ssh_port),
                    *CLIENT_OPTS,
                    "-i",
                    str(device.key),
                    f"{user}@127.0.0.1",
                    f"exec python3 -m http.server {app_port} --bind 127.0.0.1",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(app)
            drive = hub.data_dir / "drives" / user_slug(user) / "home"
            wait_for(lambda: drive.is_dir(), timeout=300, what="session drive")
            (drive / "big.bin").write_bytes(os.urandom(size))
            (drive / "small.txt").write_text("hello\n")
            wait_for(
                lambda: requests.get(f"http://127.0.0.1:{app_port}/", timeout=5).status_code == 200,
                timeout=300,
                interval=0.5,
                what="web app in the session",
            )
            rows = [("direct", app_port)]
            for label, gw in (("gateway, local forward", ssh_port), ("gateway, TCP bridge", cluster_port)):
                proc, local = forward(gw, device, user, app_port)
                procs.append(proc)
                rows.append((label, local))
            print(
                f"{args.mb} MB download (median of 3), {args.requests} small GETs (median), new connection each"
            )
            print(f"{'path':26} {'small GET (ms)':>15} {'download (MB/s)':>16}")
            for label, port in rows:
                ms, rate = measure(port, size, args.requests)
                print(f"{label:26} {ms:15.2f} {rate:16.1f}")
            print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        finally:
            for p in procs:
                p.kill()
                p.wait()
            hub.stop()


if __name__ == "__main__":
    main()
