"""Start a real JupyterHub (with configurable-http-proxy) running the embedded platform.

Used by every end-to-end test: `start_hub()` boots `jupyterhub_sessions/configs/local_config.py`
on free loopback ports in a temporary data directory, with an admin service
token for setting up users. `Hub` has small synchronous helpers (requests)
for the hub REST API, starting/stopping sessions and logging a browser in.
"""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil
import requests

REPO = Path(__file__).resolve().parents[1]
LOCAL_CONFIG = REPO / "jupyterhub_sessions" / "configs" / "local_config.py"
_user_counter = itertools.count(1)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0, interval=0.1, what="condition"):
    """Poll `predicate` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - keep polling, report the last one
            last_exc = e
        time.sleep(interval)
    raise TimeoutError(
        f"timed out after {timeout}s waiting for {what}" + (f": {last_exc!r}" if last_exc else "")
    )


@dataclass
class Hub:
    url: str
    data_dir: Path
    admin_token: str
    config_file: Path
    env: dict
    log_path: Path
    proc: subprocess.Popen | None = None
    argv: list[str] | None = None  # how to start the hub; default `python -m jupyterhub -f config_file`
    _tokens: dict = field(default_factory=dict)

    # -- REST -------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.url + "hub/api"

    def request(self, method, path, token=None, json=None, data=None, headers=None, **kw):
        """A request to `path` under the public URL (e.g. 'hub/api/users', 'services/sessions/api/...')."""
        h = {"Authorization": f"token {token or self.admin_token}"}
        if token == "":
            h = {}
        h.update(headers or {})
        return requests.request(
            method,
            self.url + path.lstrip("/"),
            headers=h,
            json=json,
            data=data,
            timeout=kw.pop("timeout", 30),
            allow_redirects=kw.pop("allow_redirects", False),
            **kw,
        )

    def api(self, method, path, token=None, **kw):
        return self.request(method, "hub/api/" + path.lstrip("/"), token=token, **kw)

    def new_user(self, prefix="user", admin=False) -> str:
        """Create a fresh user with a unique name; returns the name."""
        name = f"{prefix}{os.getpid()}x{next(_user_counter)}"
        r = self.api("POST", f"users/{quote(name)}", json={"admin": admin})
        assert r.status_code in (201, 409), r.text
        return name

    def ensure_user(self, name, admin=False):
        r = self.api("GET", f"users/{quote(name, safe='')}")
        if r.status_code == 404:
            r = self.api("POST", f"users/{quote(name, safe='')}", json={"admin": admin})
            assert r.status_code == 201, r.text
        return name

    def user_token(self, name, scopes=None) -> str:
        """An API token owned by `name` (created once per user and scope set)."""
        key = (name, tuple(scopes or ()))
        if key not in self._tokens:
            self.ensure_user(name)
            body = {"note": "test", "expires_in": 3600}
            if scopes:
                body["scopes"] = list(scopes)
            r = self.api("POST", f"users/{quote(name, safe='')}/tokens", json=body)
            assert r.status_code == 201, r.text
            self._tokens[key] = r.json()["token"]
        return self._tokens[key]

    def user_model(self, name):
        r = self.api("GET", f"users/{quote(name, safe='')}")
        r.raise_for_status()
        return r.json()

    def server_path(self, name, server=""):
        base = f"users/{quote(name, safe='')}/"
        return base + (f"servers/{quote(server, safe='')}" if server else "server")

    def start_session(self, name, server="", options=None, token=None, wait=True, timeout=90):
        """POST the spawn request (JSON options); wait until the server is ready."""
        r = self.api("POST", self.server_path(name, server), token=token, json=options or {})
        if r.status_code >= 400 or not wait:
            return r
        self.wait_ready(name, server, timeout=timeout)
        return r

    def wait_ready(self, name, server="", timeout=90):
        def ready():
            s = self.user_model(name)["servers"].get(server)
            if s is None:
                raise RuntimeError(f"server {name}/{server} disappeared (spawn failed?)\n{self.log_tail()}")
            return s if s["ready"] and not s["pending"] else None

        return wait_for(ready, timeout=timeout, what=f"{name}/{server} ready")

    def stop_session(self, name, server="", wait=True, timeout=60):
        r = self.api("DELETE", self.server_path(name, server))
        if wait and r.status_code < 400:
            wait_for(
                lambda: (
                    server not in self.user_model(name)["servers"]
                    or not self.user_model(name)["servers"][server]["ready"]
                    and not self.user_model(name)["servers"][server]["pending"]
                ),
                timeout=timeout,
                what=f"{name}/{server} stopped",
            )
        return r

    def session_url(self, name, server=""):
        return self.url + f"user/{quote(name, safe='')}/{quote(server, safe='')}" + ("/" if server else "")

    def session_processes(self):
        """(process, environment) of each running session server this hub started.

        Not the bubblewrap processes a sandboxed server runs in (their command
        line names the server too).
        """
        for p in psutil.process_iter(["cmdline", "name"]):
            try:
                if (
                    "jupyterhub.singleuser" not in " ".join(p.info["cmdline"] or [])
                    or p.info["name"] == "bwrap"
                ):
                    continue
                env = p.environ()
            except (psutil.Error, OSError):
                continue
            if env.get("JUPYTERHUB_SESSIONS_TEST_HUB") == str(self.data_dir):
                yield p, env

    # -- browser --------------------------------------------------------------
    def login(self, page, name, password=None):
        """Log a Playwright page in through the hub's login form."""
        page.goto(self.url + "hub/login")
        page.fill("input#username_input", name)
        pw = password or self.env.get("JUPYTERHUB_SESSIONS_DEMO_PASSWORD", "")
        if pw:
            page.fill("input#password_input", pw)
        page.click("#login_submit")
        page.wait_for_url(lambda u: "/hub/login" not in u, timeout=30_000)

    # -- lifecycle --------------------------------------------------------------
    def log_tail(self, n=60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def launch(self, timeout=60):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv or [sys.executable, "-m", "jupyterhub", "-f", str(self.config_file)],
            cwd=self.data_dir,
            env=self.env,
            # an open stdin, as a hub run from a terminal has (sessions must not inherit it)
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.api_url + "/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"hub did not answer in {timeout}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self, sessions_too=True):
        """Stop the hub (SIGTERM, then SIGKILL) and, by default, every process it left."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
        if sessions_too:
            kill_processes_of(self.data_dir)

    def restart(self, timeout=60):
        """Stop the hub process only (sessions, proxy keep running if configured) and start it again."""
        self.stop(sessions_too=False)
        return self.launch(timeout=timeout)


def kill_processes_of(data_dir: Path):
    """Kill every process started for this hub (marked by its data dir in the environment)."""
    marker = str(data_dir)
    me = os.getpid()
    victims = []
    for p in psutil.process_iter(["pid"]):
        if p.pid == me:
            continue
        try:
            env = p.environ()
        except (psutil.Error, OSError):
            continue
        if marked(env, marker):
            victims.append(p)
    for p in victims:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=10)


def marked(env: dict, marker: str | Path) -> bool:
    """A process of the test hub marked `marker`: the hub and its sessions carry the marker
    (`JUPYTERHUB_SESSIONS_TEST_HUB`), its services their data dir, which is in it (production
    code passes no test variable on)."""
    if env.get("JUPYTERHUB_SESSIONS_TEST_HUB") == str(marker):
        return True
    data_dir = env.get("JUPYTERHUB_SESSIONS_DATA_DIR")
    return bool(data_dir) and Path(data_dir).resolve().is_relative_to(Path(marker).resolve())


def start_hub(tmp_dir: Path, extra_config: str = "", env: dict | None = None, timeout=60) -> Hub:
    """Boot the embedded platform in `tmp_dir` on free ports; returns a running Hub."""
    data_dir = Path(tmp_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port, hub_port, api_port = free_port(), free_port(), free_port()
    admin_token = secrets.token_hex(32)
    config_file = data_dir / "test_config.py"
    config_file.write_text(
        f"load_subconfig({str(LOCAL_CONFIG)!r})\n"
        "c = get_config()\n"
        "c.JupyterHub.services.append({'name': 'test-admin', 'api_token': "
        f"{admin_token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-admin', 'scopes': ['admin:users', 'admin:servers', "
        "'tokens', 'admin:groups', 'list:users', 'read:users', 'shares', 'read:roles', 'access:servers', "
        "'access:services'], 'services': ['test-admin']})\n"
        "c.JupyterHub.log_level = 'DEBUG'\n"
        # sessions carry the marker too, so kill_processes_of() finds them if the hub dies
        f"c.Spawner.environment = {{'JUPYTERHUB_SESSIONS_TEST_HUB': {str(data_dir)!r}}}\n"
        "c.Spawner.debug = False\n" + extra_config
    )
    full_env = {
        **os.environ,
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "JUPYTERHUB_SESSIONS_DATA_DIR": str(data_dir),
        "JUPYTERHUB_SESSIONS_PORT": str(port),
        "JUPYTERHUB_SESSIONS_HUB_PORT": str(hub_port),
        "JUPYTERHUB_SESSIONS_PROXY_API_PORT": str(api_port),
        "JUPYTERHUB_SESSIONS_TEST_HUB": str(data_dir),
        # the embedded ssh gateway's default (2222) is one port for every hub on the machine:
        # parallel test workers (and other platforms running here) would race for it
        "JUPYTERHUB_SESSIONS_SSH_PORT": str(free_port()),
        **(env or {}),
    }
    for k in ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_NAME", "JUPYTERHUB_API_URL"):
        full_env.pop(k, None)
    hub = Hub(
        url=f"http://127.0.0.1:{port}/",
        data_dir=data_dir,
        admin_token=admin_token,
        config_file=config_file,
        env=full_env,
        log_path=data_dir / "hub.log",
    )
    return hub.launch(timeout=timeout)
