"""Port proxy: the same app direct, through stock jupyter-server-proxy, and through ours.

One run, one machine, side by side. It starts on free loopback ports:

- the app (`tests/serverext/bulk_app.py`: data made on the fly, checked by digest);
- a `jupyter server` with stock jupyter-server-proxy (our server extension off);
- a `jupyter server` with the jupyterhub-sessions server extension (streaming proxy);
- configurable-http-proxy (the hub's proxy) routing `/app/` to the app and
  `/user/stock/`, `/user/ours/` to the two servers, as a user's browser goes
  (with `--no-include-prefix`: the servers run at `/`);
- if `nginx` is on PATH (Debian's nginx-light; not needed otherwise), nginx as a
  streaming reverse proxy to the app (one worker, keep-alive to the app,
  `proxy_buffering off`, `proxy_request_buffering off`): what one more hop
  costs on this machine when the proxy is written in C and does no auth at
  all, the floor any proxy in the session is measured against.

For each path it measures, in rounds that take the paths in turn:

- small GET: sequential 100-byte GETs over one keep-alive connection (p50, p95 ms);
- 20 MB and 1 GB downloads (MB/s, median of the rounds; digests checked);
- the same 1 GB sent chunked (no length, 1 MiB chunks, as dynamic apps answer);
- 1 GB upload (MB/s; the app hashes nothing, it counts);
- websocket round trips of a small message (p50, p95 ms);
- the peak RSS growth of the proxying server during the 1 GB transfers;
- the proxying server's CPU time per small GET, per websocket round trip and
  per GB moved (figures the machine's load hardly moves, unlike latencies);
- the CPU budget of the 1 GB transfers: CPU seconds per GB of the client (this
  process), the app and every proxy on the path, and the most MB/s those
  figures allow on this machine's CPUs. Every process on a path handles each
  byte; each moves bytes on one thread, so a GB takes at least the largest
  of them, and at least their sum over the CPU count. An extra hop on a
  machine with few CPUs is held to that, however it is written: its ratio to
  direct is given next to the budget's. It is an estimate, not a strict bound
  (the kernel's loopback work is charged to whichever process runs it): a
  path measured a few per cent above its budget has been seen.

Failures are reported as such (stock jupyter-server-proxy buffers whole bodies:
tornado's client stops at 100 MB, jupyter-server at 512 MB request bodies).

Run:  .venv/bin/python benchmarks/proxy_benchmark.py [--rounds 3] [--requests 300] [--big-mb 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests
import websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.serverext import bulk_app  # noqa: E402
from tests.serverext.servertools import (  # noqa: E402
    Proc,
    free_port,
    start_jupyter_server,
    start_process,
    wait_until,
)

SESSION = {
    "session_type": "bench",
    "collaborative": False,
    "interface": {"kind": "lab"},
    "server_name": "bench",
    "service": "sessions",
}
STOCK_ARGS = ["--ServerApp.jpserver_extensions=jupyterhub_sessions.serverext=False"]


@dataclass
class Path_:
    name: str
    base: str  # http URL of the app's root on this path
    headers: dict
    pid: int | None = None  # the proxying jupyter server
    hops: list[int] = field(default_factory=list)  # every proxy process on the path (CPU budget)
    small: str = "small"  # what the small GETs ask for
    only_gets: bool = False  # a reference for the small GETs alone
    results: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)  # the unmeasured first round, with digests

    @property
    def ws_base(self) -> str:
        return "ws://" + self.base.split("://", 1)[1]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


class PeakRSS:
    """Peak RSS growth of a process while the block runs (sampled every 20 ms)."""

    def __init__(self, pid):
        self.proc = psutil.Process(pid) if pid else None
        self.growth = 0

    def __enter__(self):
        if self.proc:
            self.base = self.proc.memory_info().rss
            self.peak = self.base
            self.stop = threading.Event()
            self.thread = threading.Thread(target=self._watch, daemon=True)
            self.thread.start()
        return self

    def _watch(self):
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        if self.proc:
            self.stop.set()
            self.thread.join()
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self.growth = self.peak - self.base


def small_gets(path: Path_, n: int) -> list[float]:
    s = requests.Session()
    s.headers.update(path.headers)
    url = path.base + path.small
    for _ in range(20):
        s.get(url).raise_for_status()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = s.get(url)
        out.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return out


def download(path: Path_, size: int, check: bool, chunked: bool = False) -> float:
    """MB/s of one download of `size` pattern bytes (`chunked`: sent without a length, 1 MiB
    chunks, as dynamic apps answer); raises on a failure or a wrong byte."""
    h = hashlib.sha256() if check else None
    got = 0
    t = time.perf_counter()
    url = path.base + f"bytes/{size}" + ("?chunked=1" if chunked else "")
    with requests.get(url, headers=path.headers, stream=True, timeout=120) as r:
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}")
        for chunk in r.iter_content(1 << 20):
            got += len(chunk)
            if h:
                h.update(chunk)
    dt = time.perf_counter() - t
    if got != size:
        raise RuntimeError(f"got {got} of {size} bytes")
    if h and h.hexdigest() != bulk_app.digest(size):
        raise RuntimeError("wrong bytes")
    return size / dt / 1e6


def upload(path: Path_, size: int) -> float:
    t = time.perf_counter()
    r = requests.put(
        path.base + "upload?hash=0", data=bulk_app.PatternBody(size), headers=path.headers, timeout=300
    )
    dt = time.perf_counter() - t
    if r.status_code != 200:
        raise RuntimeError(f"HTTP {r.status_code}")
    if r.json()["bytes"] != size:
        raise RuntimeError(f"app got {r.json()['bytes']} of {size} bytes")
    return size / dt / 1e6


def ws_round_trips(path: Path_, n: int) -> list[float]:
    header = [f"{k}: {v}" for k, v in path.headers.items()]
    ws = websocket.create_connection(path.ws_base + "ws", header=header, timeout=30)
    try:
        out = []
        for i in range(n + 20):
            t = time.perf_counter()
            ws.send(f"m{i}")
            if ws.recv() != f"m{i}":
                raise RuntimeError("wrong echo")
            if i >= 20:
                out.append((time.perf_counter() - t) * 1000)
        return out
    finally:
        ws.close()


def attempt(results: dict, key: str, fn, *args):
    """Run one measurement; a failure is recorded (with its message), not fatal."""
    try:
        value = fn(*args)
    except Exception as e:  # noqa: BLE001 - a failing path is a result
        results.setdefault(key + ":errors", []).append(str(e)[:80])
        return None
    if isinstance(value, list):
        results.setdefault(key, []).extend(value)
    else:
        results.setdefault(key, []).append(value)
    return value


def start_chp(tmp: Path, routes: dict[str, str]) -> tuple[Proc, str]:
    port, api_port = free_port(), free_port()
    token = secrets.token_hex(16)
    env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": token}
    chp = start_process(
        [
            "configurable-http-proxy",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--api-ip=127.0.0.1",
            f"--api-port={api_port}",
            "--log-level=warn",
            # the servers run at /: the route's prefix is taken off (the hub's proxy keeps
            # it and the server has it as base_url; the bytes moved are the same)
            "--no-include-prefix",
        ],
        port,
        tmp,
        "chp",
        env=env,
    )
    wait_until(lambda: _port_up(api_port), what="chp api")
    for prefix, target in routes.items():
        r = requests.post(
            f"http://127.0.0.1:{api_port}/api/routes{prefix}",
            headers={"Authorization": f"token {token}"},
            data=json.dumps({"target": target}),
            timeout=10,
        )
        r.raise_for_status()
    return chp, f"http://127.0.0.1:{port}"


NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    client_max_body_size 0;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}
    upstream app {{ server 127.0.0.1:{app_port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Host $http_host;
            proxy_read_timeout 300s;
            # streaming with bounded memory, in pieces as big as ours (256 KiB)
            proxy_buffering {buffering};
            proxy_buffer_size 256k;
            proxy_buffers 4 256k;
            proxy_busy_buffers_size 256k;
            proxy_max_temp_file_size 0;
            proxy_request_buffering off;
            client_body_buffer_size 256k;
        }}
    }}
}}
"""


NGINX_BUFFERING = os.environ.get("BENCH_NGINX_BUFFERING", "on")


def start_nginx(tmp: Path, app_port: int) -> tuple[Proc, str] | None:
    """nginx streaming to the app (see the module docstring), or None without nginx."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        return None
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, app_port=app_port, port=port, buffering=NGINX_BUFFERING))
    proc = start_process([nginx, "-c", str(conf), "-p", str(tmp)], port, tmp, "nginx")
    return proc, f"http://127.0.0.1:{port}/"


def _port_up(port):
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def cpu_seconds(pid: int | None) -> float:
    if not pid:
        return 0.0
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


class Budget:
    """CPU seconds per GB of the client, the app and the path's proxies while the block runs."""

    def __init__(self, path: Path_, app_pid: int, gb: float):
        self.path, self.app_pid, self.gb = path, app_pid, gb

    def __enter__(self):
        self.start = self._now()
        return self

    def _now(self):
        hops = [cpu_seconds(pid) for pid in self.path.hops]
        return time.process_time(), cpu_seconds(self.app_pid), *hops

    def record(self, results: dict, key: str):
        now = self._now()
        results.setdefault(key, []).append(
            tuple((b - a) / self.gb for a, b in zip(self.start, now, strict=True))
        )

    def __exit__(self, *exc):
        return False


def bound_mbps(per_gb: tuple[float, ...]) -> float:
    """The most MB/s CPU seconds per GB (client, app, each proxy) allow: each process moves
    bytes on one thread, so a GB takes at least the busiest's time and their sum over the CPUs."""
    seconds = max(max(per_gb), sum(per_gb) / (os.cpu_count() or 1))
    return 1000 / seconds


def budget(p: Path_, key: str) -> tuple[float, ...] | None:
    """Median CPU seconds per GB of each process on the path over the rounds."""
    rows = p.results.get(key)
    if not rows:
        return None
    return tuple(statistics.median(row[i] for row in rows) for i in range(len(rows[0])))


def run_round(paths, args, check: bool):
    """One round over all paths; `check`: warm-up round, bytes verified, figures not kept."""
    big = args.big_mb * 1024 * 1024
    for p in paths:
        r = p.checks if check else p.results
        # the proxying server's own CPU per request: what the proxy costs, whatever the load
        c = cpu_seconds(p.pid)
        if attempt(r, "get_ms", small_gets, p, args.requests) is not None and p.pid:
            r.setdefault("get_cpu_ms", []).append((cpu_seconds(p.pid) - c) * 1000 / (args.requests + 20))
        if p.only_gets:
            continue
        c = cpu_seconds(p.pid)
        if attempt(r, "ws_ms", ws_round_trips, p, args.requests) is not None and p.pid:
            r.setdefault("ws_cpu_ms", []).append((cpu_seconds(p.pid) - c) * 1000 / (args.requests + 20))
        for _ in range(1 if check else args.repeats):
            attempt(r, "mbps_20", download, p, 20 * 1024 * 1024, check)
        with PeakRSS(p.pid) as rss:
            gb = big / 1e9
            c = cpu_seconds(p.pid)
            with Budget(p, args.app_pid, gb) as budget:
                if attempt(r, "mbps_big", download, p, big, check) is not None:
                    budget.record(r, "down_budget")
                    if p.pid:
                        r.setdefault("down_cpu", []).append((cpu_seconds(p.pid) - c) / gb)
            attempt(r, "mbps_chunked", download, p, big, check, True)
            c = cpu_seconds(p.pid)
            with Budget(p, args.app_pid, gb) as budget:
                if attempt(r, "mbps_up", upload, p, big) is not None:
                    budget.record(r, "up_budget")
                    if p.pid:
                        r.setdefault("up_cpu", []).append((cpu_seconds(p.pid) - c) / gb)
        r.setdefault("rss_mb", []).append(rss.growth / 1e6)


def report(paths, args) -> None:
    def med(p, key):
        v = p.results.get(key)
        return statistics.median(v) if v else None

    def fmt(x, spec):
        return format(x, spec) if x is not None else "fail"

    print()
    print(
        f"{args.rounds} rounds; per round {args.requests} GETs, {args.requests} websocket echoes, "
        f"{args.repeats} x 20 MB, 1 x {args.big_mb} MB down (with a length and chunked) and up"
    )
    head = (
        f"{'path':<22}{'GET p50':>9}{'GET p95':>9}{'WS p50':>9}{'WS p95':>9}"
        f"{'20MB MB/s':>11}{'big MB/s':>10}{'chunked':>9}{'up MB/s':>9}{'RSS+ MB':>9}"
    )
    print(head)
    for p in paths:
        get, ws = p.results.get("get_ms"), p.results.get("ws_ms")
        if p.only_gets:
            print(f"{p.name:<22}{fmt(med(p, 'get_ms'), '9.2f')}{fmt(get and pct(get, 0.95), '9.2f')}")
            print(f"    server CPU: {fmt(med(p, 'get_cpu_ms'), '.3f')} ms per GET")
            continue
        print(
            f"{p.name:<22}"
            f"{fmt(med(p, 'get_ms'), '9.2f')}{fmt(get and pct(get, 0.95), '9.2f')}"
            f"{fmt(med(p, 'ws_ms'), '9.3f')}{fmt(ws and pct(ws, 0.95), '9.3f')}"
            f"{fmt(med(p, 'mbps_20'), '11.0f')}{fmt(med(p, 'mbps_big'), '10.0f')}"
            f"{fmt(med(p, 'mbps_chunked'), '9.0f')}"
            f"{fmt(med(p, 'mbps_up'), '9.0f')}"
            f"{fmt(max(p.results['rss_mb'] + p.checks['rss_mb']) if p.pid else None, '9.1f')}"
        )
        if p.results.get("get_cpu_ms"):
            print(
                f"    proxying server CPU: {fmt(med(p, 'get_cpu_ms'), '.3f')} ms per GET, "
                f"{fmt(med(p, 'ws_cpu_ms'), '.3f')} ms per websocket round trip, "
                f"{fmt(med(p, 'down_cpu'), '.2f')} s per GB down, {fmt(med(p, 'up_cpu'), '.2f')} s per GB up"
            )
        for key, label in (("down_budget", "down"), ("up_budget", "up")):
            cpu = budget(p, key)
            if cpu:
                hops = "".join(f", proxy {x:.2f}" for x in cpu[2:])
                print(
                    f"    CPU s per GB {label}: client {cpu[0]:.2f}, app {cpu[1]:.2f}{hops}"
                    f" -> at most {bound_mbps(cpu):.0f} MB/s on {os.cpu_count()} CPUs"
                )
        for kind, res in (("", p.results), ("(byte check) ", p.checks)):
            for k, v in res.items():
                if k.endswith(":errors"):
                    print(f"    {kind}{k[:-7]} failed {len(v)}x: {v[0]}")
    by = {p.name: p for p in paths}
    print()
    for prefix in ("", "chp "):
        if prefix + "direct" not in by:
            continue
        direct = by[prefix + "direct"]
        for name in ("nginx", "stock jsp", "ours"):
            if prefix + name not in by:
                continue
            p = by[prefix + name]
            parts = []
            for key, label in (("get_ms", "GET p50"), ("ws_ms", "WS p50")):
                a, b = med(direct, key), med(p, key)
                if a is not None and b is not None:
                    parts.append(f"{label} +{b - a:.3f} ms")
            for key, label in (
                ("mbps_20", "20 MB"),
                ("mbps_big", f"{args.big_mb} MB"),
                ("mbps_chunked", "chunked"),
                ("mbps_up", "upload"),
            ):
                a, b = med(direct, key), med(p, key)
                parts.append(f"{label} x{b / a:.2f}" if a and b else f"{label} fail")
            print(f"{prefix + name:<14} vs {prefix + 'direct':<11}: " + ", ".join(parts))
            bounds = []
            for key, label, rate in (("down_budget", "down", "mbps_big"), ("up_budget", "upload", "mbps_up")):
                cpu, base = budget(p, key), med(direct, rate)
                if cpu and base:
                    bounds.append(f"{label} x{bound_mbps(cpu) / base:.2f}")
            if bounds:
                print(f"{'':<14}    what the CPU budget allows: " + ", ".join(bounds))
    floor, ours = by.get("ours /api/status"), by.get("ours")
    if floor and ours and med(floor, "get_ms") and med(ours, "get_ms"):
        print(
            f"ours vs its server's own /api/status (no proxying): GET p50 "
            f"+{med(ours, 'get_ms') - med(floor, 'get_ms'):.3f} ms, server CPU "
            f"+{med(ours, 'get_cpu_ms') - med(floor, 'get_cpu_ms'):.3f} ms per GET; /api/status vs direct: "
            f"GET p50 +{med(floor, 'get_ms') - med(by['direct'], 'get_ms'):.3f} ms"
        )
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (at the end)"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--requests", type=int, default=300, help="small GETs / websocket echoes per path and round"
    )
    ap.add_argument("--repeats", type=int, default=3, help="20 MB downloads per path and round")
    ap.add_argument("--big-mb", type=int, default=1024, help="size of the big download and upload")
    ap.add_argument("--no-chp", action="store_true", help="leave configurable-http-proxy out")
    ap.add_argument("--no-nginx", action="store_true", help="leave the nginx reference out")
    args = ap.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp:
        tmp = Path(tmp)
        app_port = free_port()
        app = start_process([sys.executable, bulk_app.__file__, str(app_port)], app_port, tmp, "app")
        stock = start_jupyter_server(tmp / "stock", SESSION, STOCK_ARGS)
        ours = start_jupyter_server(tmp / "ours", SESSION)
        procs = [app, stock, ours]
        args.app_pid = app.proc.pid
        try:
            servers = {"stock jsp": stock, "ours": ours}
            paths = [Path_("direct", f"http://127.0.0.1:{app_port}/", {})]
            nginx = None if args.no_nginx else start_nginx(tmp, app_port)
            if nginx is not None:
                procs.append(nginx[0])
                worker = psutil.Process(nginx[0].proc.pid).children()[0].pid  # its one worker does the work
                paths.append(Path_("nginx", nginx[1], {}, worker, [worker]))
            for name, server in servers.items():
                auth = {"Authorization": f"token {server.token}"}
                pid = server.proc.pid
                paths.append(Path_(name, f"{server.url}proxy/{app_port}/", auth, pid, [pid]))
            # what jupyter-server itself costs per authenticated request, proxying or not
            ours_pid = ours.proc.pid
            paths.append(
                Path_(
                    "ours /api/status",
                    ours.url,
                    paths[-1].headers,
                    ours_pid,
                    small="api/status",
                    only_gets=True,
                )
            )
            if not args.no_chp:
                routes = {
                    "/app": f"http://127.0.0.1:{app_port}",
                    "/user/stock": stock.url,
                    "/user/ours": ours.url,
                }
                chp, chp_url = start_chp(tmp, routes)
                procs.append(chp)
                paths.append(Path_("chp direct", f"{chp_url}/app/", {}, None, [chp.proc.pid]))
                named = {p.name: p for p in paths}
                for p, prefix in ((named["stock jsp"], "/user/stock"), (named["ours"], "/user/ours")):
                    paths.append(
                        Path_(
                            "chp " + p.name,
                            f"{chp_url}{prefix}/proxy/{app_port}/",
                            p.headers,
                            p.pid,
                            [chp.proc.pid, p.pid],
                        )
                    )
            run_round(paths, args, check=True)
            print(f"byte-check round done, load {os.getloadavg()[0]:.2f}", flush=True)
            for i in range(args.rounds):
                run_round(paths, args, check=False)
                print(f"round {i + 1}/{args.rounds} done, load {os.getloadavg()[0]:.2f}", flush=True)
        finally:
            for p in procs:
                p.stop()
    report(paths, args)


if __name__ == "__main__":
    main()
