"""Port proxy overhead: the same local web app, direct vs through jupyter-server-proxy.

Starts a session's `jupyter server` (with the jupyterhub-sessions extension,
token auth) and a small tornado app on free loopback ports, then measures
from this process:

- latency: sequential small GETs over one keep-alive connection (median, p95);
- throughput: repeated downloads of a large response (MB/s);
- websocket round trips: echo of a small message (median, p95).

Run:  .venv/bin/python benchmarks/proxy_benchmark.py [--requests 300] [--size-mb 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
import websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.serverext.servertools import (  # noqa: E402
    free_port,
    start_jupyter_server,
    start_process,
)

APP = r"""
import asyncio, sys
from tornado import web, websocket

BIG = b"x" * (int(sys.argv[2]) * 1024 * 1024)

class Small(web.RequestHandler):
    def get(self):
        self.write(b"y" * 100)

class Big(web.RequestHandler):
    def get(self):
        self.write(BIG)

class Echo(websocket.WebSocketHandler):
    def on_message(self, m):
        self.write_message(m)

async def main():
    web.Application([(r".*/small", Small), (r".*/big", Big), (r".*/ws", Echo)]).listen(
        int(sys.argv[1]), address="127.0.0.1")
    await asyncio.Event().wait()

asyncio.run(main())
"""

SESSION = {
    "session_type": "bench",
    "collaborative": False,
    "interface": {"kind": "lab"},
    "server_name": "bench",
    "service": "sessions",
}


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def measure_latency(session: requests.Session, url: str, n: int) -> list[float]:
    for _ in range(10):
        session.get(url).raise_for_status()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = session.get(url)
        out.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return out


def measure_throughput(session: requests.Session, url: str, size_mb: int, repeats: int) -> float:
    session.get(url).raise_for_status()
    t = time.perf_counter()
    total = 0
    for _ in range(repeats):
        r = session.get(url)
        r.raise_for_status()
        total += len(r.content)
    assert total == repeats * size_mb * 1024 * 1024
    return total / (1024 * 1024) / (time.perf_counter() - t)


def measure_ws(url: str, header: list[str], n: int) -> list[float]:
    ws = websocket.create_connection(url, header=header, timeout=30)
    try:
        out = []
        for i in range(n + 10):
            t = time.perf_counter()
            ws.send(f"m{i}")
            assert ws.recv() == f"m{i}"
            if i >= 10:
                out.append((time.perf_counter() - t) * 1000)
        return out
    finally:
        ws.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300, help="small GETs / websocket messages per path")
    ap.add_argument("--size-mb", type=int, default=20, help="size of the large response")
    ap.add_argument("--repeats", type=int, default=5, help="large downloads per path")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp:
        tmp = Path(tmp)
        app_port = free_port()
        (tmp / "app.py").write_text(APP)
        app = start_process(
            [sys.executable, str(tmp / "app.py"), str(app_port), str(args.size_mb)], app_port, tmp, "app"
        )
        server = start_jupyter_server(tmp / "server", SESSION)
        try:
            direct = f"http://127.0.0.1:{app_port}/"
            proxied = f"{server.url}proxy/{app_port}/"
            auth = {"Authorization": f"token {server.token}"}
            rows = []
            for name, base, headers in (("direct", direct, {}), ("proxied", proxied, auth)):
                s = requests.Session()
                s.headers.update(headers)
                lat = measure_latency(s, base + "small", args.requests)
                mbps = measure_throughput(s, base + "big", args.size_mb, args.repeats)
                ws_url = base.replace("http://", "ws://") + "ws"
                ws = measure_ws(ws_url, [f"{k}: {v}" for k, v in headers.items()], args.requests)
                rows.append(
                    (name, statistics.median(lat), pct(lat, 0.95), mbps, statistics.median(ws), pct(ws, 0.95))
                )
        finally:
            server.stop()
            app.stop()

    print(f"{args.requests} small GETs, {args.repeats} x {args.size_mb} MB, {args.requests} websocket echoes")
    print(
        f"{'path':<8} {'GET p50 ms':>11} {'GET p95 ms':>11} {'MB/s':>8} {'WS p50 ms':>10} {'WS p95 ms':>10}"
    )
    for name, p50, p95, mbps, w50, w95 in rows:
        print(f"{name:<8} {p50:>11.2f} {p95:>11.2f} {mbps:>8.1f} {w50:>10.2f} {w95:>10.2f}")
    d, p = rows
    print(
        f"proxy overhead: +{p[1] - d[1]:.2f} ms per GET (p50), throughput x{p[3] / d[3]:.2f}, "
        f"+{p[4] - d[4]:.2f} ms per websocket round trip (p50)"
    )


if __name__ == "__main__":
    main()
