"""Concurrent requests through a session's jupyter-server-proxy (`/user/<u>/<s>/proxy/<port>/`).

    .venv/bin/python benchmarks/load_proxy.py                  # 500 requests, all in flight at once
    .venv/bin/python benchmarks/load_proxy.py --requests 2000 --concurrency 500

Boots its own hub in a temporary directory, starts one session, runs a small
threaded HTTP app on a free loopback port (the embedded backend's sessions
share the machine, so the session's proxy reaches it as a session's app),
and sends the requests through the public proxy with the user's token. Every
response must be 200 with the exact file body. Prints latency and
throughput; exits non-zero on any error. Loopback only, bounded in count.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hubtools import free_port, start_hub, wait_for  # noqa: E402


def start_app(directory: Path) -> tuple[subprocess.Popen, int, bytes]:
    body = secrets.token_hex(512).encode()
    (directory / "payload.txt").write_bytes(body)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def up():
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_for(up, timeout=30, what="app listening")
    return proc, port, body


async def blast(url: str, token: str, expected: bytes, n: int, concurrency: int, timeout: float) -> dict:
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.simple_httpclient import SimpleAsyncHTTPClient

    client = SimpleAsyncHTTPClient(force_instance=True, max_clients=concurrency)
    assert isinstance(client, AsyncHTTPClient)
    sem = asyncio.Semaphore(concurrency)
    latencies, errors = [], []

    async def one(i):
        async with sem:
            t0 = time.monotonic()
            req = HTTPRequest(
                url + f"?i={i}",
                headers={"Authorization": f"token {token}"},
                request_timeout=timeout,
                connect_timeout=timeout,
            )
            try:
                r = await client.fetch(req, raise_error=False)
                if r.code != 200 or r.body != expected:
                    errors.append((r.code, (r.body or b"")[:100]))
            except Exception as e:  # noqa: BLE001
                errors.append((0, repr(e)[:100]))
            latencies.append(time.monotonic() - t0)

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.monotonic() - t0
    client.close()
    return {"requests": n, "concurrency": concurrency, "errors": errors, "latencies": latencies, "wall": wall}


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def run(hub, n: int, concurrency: int, timeout: float = 120) -> dict:
    user = hub.new_user("proxyload")
    r = hub.start_session(user, "p", {"session_type": "notebook", "timeout": 900}, timeout=180)
    assert r.status_code in (201, 202), r.text
    token = hub.user_token(user)
    with tempfile.TemporaryDirectory(prefix="jhs-load-proxy-app-") as d:
        proc, port, body = start_app(Path(d))
        try:
            url = hub.url + f"user/{user}/p/proxy/{port}/payload.txt"
            probe = hub.request("GET", f"user/{user}/p/proxy/{port}/payload.txt", token=token)
            assert probe.status_code == 200 and probe.content == body, (probe.status_code, probe.text[:200])
            fig = asyncio.run(blast(url, token, body, n, concurrency, timeout))
        finally:
            proc.terminate()
            proc.wait(10)
            hub.stop_session(user, "p", timeout=90)
    return fig


def report(fig: dict) -> None:
    lat = fig["latencies"]
    print(f"proxied requests      {fig['requests']} ({fig['concurrency']} in flight)")
    print(f"errors                {len(fig['errors'])}")
    for e in fig["errors"][:10]:
        print(f"  {e}")
    print(
        f"latency ms            p50 {1000 * pct(lat, 0.5):.0f}  p95 {1000 * pct(lat, 0.95):.0f}"
        f"  p99 {1000 * pct(lat, 0.99):.0f}  max {1000 * max(lat, default=0):.0f}"
    )
    print(f"wall s                {fig['wall']:.2f}  ({fig['requests'] / fig['wall']:.0f} req/s)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=500)
    args = ap.parse_args(argv)
    if not (1 <= args.requests <= 20000 and 1 <= args.concurrency <= 1000):
        ap.error("keep it bounded: at most 20000 requests and 1000 in flight")
    with tempfile.TemporaryDirectory(prefix="jhs-load-proxy-") as tmp:
        t0 = time.monotonic()
        hub = start_hub(Path(tmp), timeout=180)
        print(f"hub up in {time.monotonic() - t0:.1f}s at {hub.url}")
        try:
            fig = run(hub, args.requests, args.concurrency)
        finally:
            hub.stop()
    report(fig)
    return 1 if fig["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
