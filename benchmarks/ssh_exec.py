"""Bytes through `ssh host cmd`: the gateway (both backends' ways) next to OpenSSH's own sshd.

    .venv/bin/python benchmarks/ssh_exec.py [--mb 100] [--runs 3]

Boots the embedded platform (a real hub, CHP, the ssh service), a second
gateway configured as on Kubernetes (`configure_hub_for_cluster`), and, as the
anchor, Debian's `sshd` on 127.0.0.1 at a free port (started and stopped
here, keys only, as the user running this). The OpenSSH client pushes `--mb`
MB of random data through stdin (`cat > /dev/null` remotely) and pulls as
much through stdout (`head -c N /dev/zero`); printed: the median MB/s of
`--runs` runs each way, and each path's ratio to sshd. Target: at least
50 MB/s through the gateway.

Every command through the gateway runs in the session via its exec endpoint
(`sessions-api/exec`, through the hub's proxy), on both backends.

A run on the 2-core dev machine (2026-11-30, load average 3.6 / 4.5 / 4.1,
shared with other engineers' test runs):

    path                        stdin MB/s  stdout MB/s  vs sshd in  vs sshd out
    sshd (anchor)                     98.5        143.9        1.00         1.00
    gateway, embedded                 97.8         72.1        0.99         0.50
    gateway, Kubernetes mode          84.4         64.5        0.86         0.45

Before the exec endpoint grew its pipes to 256 KiB (64 KiB messages), stdout
measured 55.5 and 51.0 MB/s. The rest of the gap is the hop through the
proxy and asyncssh's encryption in Python's event loop.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ssh_forward import start_cluster_gateway  # noqa: E402
from tests.hubtools import free_port, start_hub, wait_for  # noqa: E402
from tests.ssh.conftest import CLIENT_OPTS, user_with_key  # noqa: E402

SSHD = "/usr/sbin/sshd"


def start_sshd(tmp: Path, pub: Path) -> tuple[subprocess.Popen, int]:
    """Debian's sshd on a free loopback port, accepting only `pub`, for the current user."""
    port = free_port()
    host_key = tmp / "sshd_host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    authorized = tmp / "authorized_keys"
    authorized.write_text(pub.read_text())
    authorized.chmod(0o600)
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nAuthorizedKeysFile {authorized}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nPidFile none\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=open(tmp / "sshd.log", "wb")
    )
    wait_for(
        lambda: (
            proc.poll() is None and socket.create_connection(("127.0.0.1", port), timeout=1).close() or True
        ),
        timeout=30,
        what="sshd",
    )
    return proc, port


def ssh_args(port: int, key: Path, login: str) -> list[str]:
    return ["/usr/bin/ssh", "-p", str(port), *CLIENT_OPTS, "-i", str(key), f"{login}@127.0.0.1"]


def upload(port: int, key: Path, login: str, blob: Path) -> float:
    with open(blob, "rb") as f:
        t0 = time.perf_counter()
        r = subprocess.run(
            [*ssh_args(port, key, login), "cat > /dev/null"], stdin=f, capture_output=True, timeout=600
        )
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    return blob.stat().st_size / elapsed / 1e6


def download(port: int, key: Path, login: str, size: int) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*ssh_args(port, key, login), f"head -c {size} /dev/zero"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    got = 0
    while chunk := proc.stdout.read(1 << 20):
        got += len(chunk)
    assert proc.wait(600) == 0 and got == size, got
    return size / (time.perf_counter() - t0) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
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
            sshd, sshd_port = start_sshd(tmp, device.pub)
            procs.append(sshd)
            r = subprocess.run(
                [*ssh_args(ssh_port, device.key, user), "true"], capture_output=True, timeout=600
            )
            assert r.returncode == 0, r.stderr  # starts the session
            blob = tmp / "blob.bin"
            with open(blob, "wb") as f:
                for _ in range(args.mb):
                    f.write(os.urandom(1024 * 1024))
            me = (
                os.environ.get("USER")
                or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
            )
            paths = [
                ("sshd (anchor)", sshd_port, me),
                ("gateway, embedded", ssh_port, user),
                ("gateway, Kubernetes mode", cluster_port, user),
            ]
            results = {}
            for label, port, login in paths:
                up = statistics.median(upload(port, device.key, login, blob) for _ in range(args.runs))
                down = statistics.median(download(port, device.key, login, size) for _ in range(args.runs))
                results[label] = (up, down)
            anchor = results["sshd (anchor)"]
            print(f"{args.mb} MB through ssh stdin and stdout, median of {args.runs} runs each")
            print(
                f"{'path':26} {'stdin MB/s':>11} {'stdout MB/s':>12} {'vs sshd in':>11} {'vs sshd out':>12}"
            )
            for label, (up, down) in results.items():
                print(f"{label:26} {up:11.1f} {down:12.1f} {up / anchor[0]:11.2f} {down / anchor[1]:12.2f}")
            print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        finally:
            for p in procs:
                p.kill()
                p.wait()
            hub.stop()


if __name__ == "__main__":
    main()
