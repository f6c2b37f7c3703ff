"""One cull pass over N running servers: jupyterhub-sessions vs jupyterhub-idle-culler, side by side.

    .venv/bin/python benchmarks/cull_benchmark.py [--servers 5000] [--idle-fraction 0.5]

A real JupyterHub (subprocess, 127.0.0.1, free ports) is started on a sqlite
database pre-populated through `jupyterhub.orm` with N users, each with one
running default server; half of them idle for two hours, all with a one-hour
idle timeout. The spawner is instant (poll/stop do nothing), the proxy keeps
routes in memory, and the hub's start-up HTTP check of each server is skipped. Each culler then runs exactly one pass
against the hub API through a counting reverse proxy, on a fresh copy of
the same database. Printed: wall time, hub API requests, servers stopped,
and the ratios sessions/idle-culler.

A run on the shared 2-core dev machine (2026-11-26, heavily loaded by other test runs):

    culler          wall (s)  requests  stopped   requests by method
    idle-culler       712.59      2514     2500   DELETE 2500, GET 14
    sessions          437.19      2525     2500   DELETE 2500, GET 25
    ratio               0.61      1.00            (sessions / idle-culler)

Both are bound by the hub's cost per stop; this pass stops servers of all
users concurrently (at most `concurrency` requests), the idle culler handles
users one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jupyterhub.proxy import Proxy
from jupyterhub.spawner import Spawner
from tornado import httpclient, web
from tornado.httpserver import HTTPServer
from traitlets import Bool, Dict

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TIMEOUT = 3600


# ---- loaded by the hub subprocess (this file is importable as `cull_benchmark`) ----


class InstantSpawner(Spawner):
    """A server that "runs" as long as its state says so; start/stop cost nothing."""

    running = Bool(False)

    def load_state(self, state):
        super().load_state(state)
        self.running = bool(state.get("running"))

    def get_state(self):
        state = super().get_state()
        if self.running:
            state["running"] = True
        return state

    async def start(self):
        self.running = True
        return (os.environ["BENCH_DUMMY_IP"], int(os.environ["BENCH_DUMMY_PORT"]))

    async def poll(self):
        return None if self.running else 0

    async def stop(self, now=False):
        self.running = False


class MemoryProxy(Proxy):
    """Routes in a dict: the benchmark measures the hub API, not configurable-http-proxy."""

    should_start = False
    routes = Dict()

    async def add_route(self, routespec, target, data):
        self.routes[routespec] = {"routespec": routespec, "target": target, "data": data}

    async def delete_route(self, routespec):
        self.routes.pop(routespec, None)

    async def get_all_routes(self):
        return dict(self.routes)


def patch_hub() -> None:
    """Skip the hub's start-up HTTP check of each running server: the servers are mocks."""
    from jupyterhub.user import User

    async def _wait_up(self, spawner):
        return None

    User._wait_up = _wait_up


# ---- the benchmark ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def populate(db_path: Path, n: int, idle_fraction: float, dummy_port: int, now: datetime) -> int:
    """Write N users with one running server each; returns how many are idle past the timeout."""
    from jupyterhub import orm

    session = orm.new_session_factory(f"sqlite:///{db_path}")()
    n_idle = int(n * idle_fraction)
    # users come with their default role, as on a hub that created them
    role = orm.Role(name="user", description="Standard user privileges", scopes=["self"])
    session.add(role)
    for i in range(n):
        name = f"user{i:05d}"
        idle = i < n_idle
        last = now - timedelta(seconds=2 * TIMEOUT if idle else 60)
        user = orm.User(name=name, last_activity=last)
        user.roles.append(role)
        server = orm.Server(ip="127.0.0.1", port=dummy_port, base_url=f"/user/{name}/")
        spawner = orm.Spawner(
            user=user,
            name="",
            server=server,
            state={"running": True},
            started=now - timedelta(seconds=3 * TIMEOUT),
            last_activity=last,
            user_options={
                "session_type": "notebook",
                "image": "x",
                "cpu": 1.0,
                "memory": "2G",
                "gpu": 0,
                "drive": "home",
                "timeout": TIMEOUT,
                "collaborative": False,
            },
        )
        session.add_all([user, server, spawner])
    session.commit()
    session.close()
    return n_idle


class CountingProxy(web.RequestHandler):
    """Forwards everything to the hub, counting requests by method."""

    SUPPORTED_METHODS = ("GET", "POST", "DELETE", "PATCH", "PUT")

    def initialize(self, target, counts, client):
        self.target, self.counts, self.client = target, counts, client

    async def _forward(self):
        self.counts[self.request.method] = self.counts.get(self.request.method, 0) + 1
        headers = {
            k: v for k, v in self.request.headers.items() if k.lower() not in ("host", "content-length")
        }
        resp = await self.client.fetch(
            self.target + self.request.uri,
            method=self.request.method,
            headers=headers,
            body=self.request.body if self.request.method in ("POST", "PATCH", "PUT") else None,
            allow_nonstandard_methods=True,
            raise_error=False,
            request_timeout=300,
        )
        self.set_status(resp.code if resp.code != 599 else 502)
        for k in ("Content-Type",):
            if k in resp.headers:
                self.set_header(k, resp.headers[k])
        if resp.body and resp.code not in (204, 304):
            self.write(resp.body)

    get = post = delete = patch = put = _forward


def hub_config(workdir: Path, hub_port: int, token: str, dummy_port: int) -> Path:
    cfg = workdir / "bench_config.py"
    cfg.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "c = get_config()\n"
        "import cull_benchmark\n"
        "cull_benchmark.patch_hub()\n"
        "c.JupyterHub.spawner_class = 'cull_benchmark.InstantSpawner'\n"
        "c.JupyterHub.proxy_class = 'cull_benchmark.MemoryProxy'\n"
        "c.JupyterHub.ip = '127.0.0.1'\n"
        f"c.JupyterHub.port = {free_port()}\n"
        "c.JupyterHub.hub_ip = '127.0.0.1'\n"
        f"c.JupyterHub.hub_port = {hub_port}\n"
        "c.JupyterHub.cleanup_servers = False\n"
        "c.JupyterHub.authenticator_class = 'dummy'\n"
        "c.Authenticator.allow_all = True\n"
        "c.JupyterHub.log_level = 'WARN'\n"
        "c.Spawner.http_timeout = 120\n"
        "c.JupyterHub.init_spawners_timeout = -1\n"
        "c.JupyterHub.last_activity_interval = 100000\n"
        "c.JupyterHub.api_page_max_limit = 200\n"
        f"c.JupyterHub.services = [{{'name': 'bench', 'api_token': {token!r}}}]\n"
        "c.JupyterHub.load_roles = [{'name': 'bench', 'services': ['bench'], 'scopes': "
        "['list:users', 'read:users', 'read:servers', 'delete:servers', 'read:hub']}]\n"
    )
    return cfg


async def wait_hub(url: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    client = httpclient.AsyncHTTPClient()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hub exited with {proc.returncode}")
        try:
            r = await client.fetch(url + "/hub/api/", raise_error=False, request_timeout=5)
            if r.code == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.5)
    raise TimeoutError("hub did not start")


async def run_one(label: str, template: Path, workdir: Path, dummy_port: int, culler, expected: int) -> dict:
    """Fresh DB copy, hub up, one pass through the counting proxy, hub down."""
    run_dir = workdir / label
    run_dir.mkdir()
    shutil.copy(template, run_dir / "jupyterhub.sqlite")
    hub_port, token = free_port(), secrets.token_hex(16)
    cfg = hub_config(run_dir, hub_port, token, dummy_port)
    env = {**os.environ, "BENCH_DUMMY_IP": "127.0.0.1", "BENCH_DUMMY_PORT": str(dummy_port)}
    log = open(run_dir / "hub.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterhub",
            "-f",
            str(cfg),
            "--db",
            f"sqlite:///{run_dir / 'jupyterhub.sqlite'}",
        ],
        cwd=run_dir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    counts: dict[str, int] = {}
    proxy_client = httpclient.AsyncHTTPClient(force_instance=True, max_clients=64)
    proxy_port = free_port()
    proxy = HTTPServer(
        web.Application(
            [
                (
                    r".*",
                    CountingProxy,
                    {"target": f"http://127.0.0.1:{hub_port}", "counts": counts, "client": proxy_client},
                )
            ]
        )
    )
    proxy.listen(proxy_port, "127.0.0.1")
    try:
        t = time.monotonic()
        await wait_hub(f"http://127.0.0.1:{hub_port}", proc)
        print(f"  [{label}] hub with the servers up in {time.monotonic() - t:.1f}s", flush=True)
        api = f"http://127.0.0.1:{proxy_port}/hub/api"
        t = time.perf_counter()
        stopped = await culler(api, token)
        wall = time.perf_counter() - t
        return {
            "label": label,
            "wall": wall,
            "requests": sum(counts.values()),
            "counts": dict(counts),
            "stopped": stopped,
            "expected": expected,
        }
    except Exception:
        log.flush()
        print((run_dir / "hub.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        proxy.stop()
        proxy_client.close()
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def make_sessions_culler(now: datetime, concurrency: int, page_size: int):
    async def cull(api: str, token: str) -> int:
        from jupyterhub_sessions.profiles import load_session_types
        from jupyterhub_sessions.service.culler import cull_pass
        from jupyterhub_sessions.service.hubclient import HubClient
        from jupyterhub_sessions.service.sessions import SessionPolicy
        from jupyterhub_sessions.service.state import SessionStore

        types = load_session_types(REPO / "jupyterhub_sessions" / "configs" / "profiles")
        client = HubClient(api, token, concurrency=concurrency, page_size=page_size)
        try:
            policy = SessionPolicy(lambda: types, SessionStore(None), default_timeout=TIMEOUT)
            report = await cull_pass(client, policy, now)
        finally:
            client.close()
        return len(report.stopped)

    return cull


def make_idle_culler(concurrency: int, page_size: int):
    async def cull(api: str, token: str) -> int:
        import jupyterhub_idle_culler as ic

        stopped = 0
        original = ic.HTTPRequest

        def counting_request(*args, **kwargs):
            nonlocal stopped
            if kwargs.get("method") == "DELETE":
                stopped += 1
            return original(*args, **kwargs)

        ic.HTTPRequest = counting_request
        try:
            await ic.cull_idle(
                url=api,
                api_token=token,
                inactive_limit=TIMEOUT,
                logger=logging.getLogger("idle-culler"),
                concurrency=concurrency,
                api_page_size=page_size,
            )
        finally:
            ic.HTTPRequest = original
        return stopped

    return cull


async def main_async(args) -> None:
    # SIGTERM/SIGINT cancel the run, so every `finally` stops what it started
    task = asyncio.current_task()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("jupyterhub_sessions.service").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="cull-bench-"))
    dummy_port = free_port()  # nothing listens: the servers are mocks
    try:
        now = datetime.now(timezone.utc)
        template = workdir / "template.sqlite"
        t = time.monotonic()
        expected = populate(template, args.servers, args.idle_fraction, dummy_port, now)
        print(
            f"populated {args.servers} running servers ({expected} idle) in {time.monotonic() - t:.1f}s",
            flush=True,
        )
        results = []
        for label, culler in [
            ("idle-culler", make_idle_culler(args.concurrency, args.page_size)),
            ("sessions", make_sessions_culler(now, args.concurrency, args.page_size)),
        ]:
            results.append(await run_one(label, template, workdir, dummy_port, culler, expected))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(
        f"one cull pass, {args.servers} running servers, {expected} idle > {TIMEOUT}s, "
        f"concurrency {args.concurrency}, page size {args.page_size}"
    )
    print(f"{'culler':<14}{'wall (s)':>10}{'requests':>10}{'stopped':>9}   requests by method")
    for r in results:
        by = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items()))
        print(f"{r['label']:<14}{r['wall']:>10.2f}{r['requests']:>10}{r['stopped']:>9}   {by}")
    base, ours = results
    print(
        f"{'ratio':<14}{ours['wall'] / base['wall']:>10.2f}{ours['requests'] / base['requests']:>10.2f}"
        "            (sessions / idle-culler)"
    )
    for r in results:
        if r["stopped"] != expected:
            print(f"WARNING: {r['label']} stopped {r['stopped']}, expected {expected}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--servers", type=int, default=5000)
    p.add_argument("--idle-fraction", type=float, default=0.5)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--page-size", type=int, default=200)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
