"""Start real processes for the server-extension tests and benchmarks.

`start_jupyter_server` runs `jupyter server` (token auth, free loopback port,
scratch dirs) as a managed session would run: `JUPYTERHUB_SESSIONS_SESSION`
in the environment and `server_args()` on the command line. Every process is
started in its own process group and killed by `stop()`.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from jupyterhub_sessions.hub.args import server_args
from jupyterhub_sessions.session_info import ENV_SESSION, SessionInfo

from ..hubtools import free_port, wait_for

BIN = Path(sys.executable).parent

WS_ECHO = r"""
import asyncio, sys
from tornado import web, websocket

class Echo(websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message)

class Hello(web.RequestHandler):
    def get(self, rest=""):
        self.write({"path": self.request.path, "hello": "world"})

async def main():
    app = web.Application([(r".*/ws", Echo), (r"/(.*)", Hello)])
    app.listen(int(sys.argv[1]), address="127.0.0.1")
    await asyncio.Event().wait()

asyncio.run(main())
"""


TCP_ECHO = r"""
import asyncio, sys

async def echo(reader, writer):
    while data := await reader.read(65536):
        if data.strip() == b"bye":
            break
        writer.write(data)
        await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

asyncio.run(main())
"""


def wait_until(predicate, timeout=30.0, interval=0.05, what="condition"):
    """hubtools.wait_for with a shorter poll, for a local server."""
    return wait_for(predicate, timeout=timeout, interval=interval, what=what)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Proc:
    proc: subprocess.Popen
    port: int
    log_path: Path | None = None

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)

    def log_tail(self, n=40) -> str:
        if not self.log_path:
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


@dataclass
class JupyterServer(Proc):
    token: str = ""
    root: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def get(self, path, token=None, **kw):
        headers = kw.pop("headers", {})
        if token is None:
            token = self.token
        if token:
            headers["Authorization"] = f"token {token}"
        return requests.get(
            self.url + path.lstrip("/"),
            headers=headers,
            timeout=kw.pop("timeout", 15),
            allow_redirects=kw.pop("allow_redirects", False),
            **kw,
        )

    def request(self, method, path, token=None, **kw):
        headers = kw.pop("headers", {})
        if token is None:
            token = self.token
        if token:
            headers["Authorization"] = f"token {token}"
        return requests.request(
            method,
            self.url + path.lstrip("/"),
            headers=headers,
            timeout=kw.pop("timeout", 15),
            allow_redirects=False,
            **kw,
        )


def _clean_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "JUPYTER_"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        PATH=str(BIN) + os.pathsep + env.get("PATH", ""),
    )
    return env


def start_jupyter_server(tmp: Path, session_info: dict, extra_args=(), timeout=60) -> JupyterServer:
    """`jupyter server` with the extension, as a session described by `session_info`."""
    tmp.mkdir(parents=True, exist_ok=True)
    root = tmp / "root"
    root.mkdir(exist_ok=True)
    port = free_port()
    token = secrets.token_hex(24)
    env = _clean_env(tmp)
    info = SessionInfo.model_validate(session_info)
    env[ENV_SESSION] = info.to_json()
    args = [
        *jupyter_server_command(BIN, port, token),
        f"--ServerApp.root_dir={root}",
        *server_args(info),
        *extra_args,
    ]
    return launch_jupyter(
        args, cwd=root, env=env, log_path=tmp / "server.log", port=port, token=token, timeout=timeout
    )


def jupyter_server_command(bin_dir: Path, port: int, token: str) -> list[str]:
    """`jupyter server` on 127.0.0.1:`port` with token auth (the token stands for the hub's)."""
    return [
        str(bin_dir / "jupyter"),
        "server",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--allow-root",
        f"--IdentityProvider.token={token}",
    ]


def launch_jupyter(
    args, *, cwd: Path, env: dict, log_path: Path, port: int, token: str, timeout=60, what="jupyter server"
) -> JupyterServer:
    """Start a jupyter server command line in its own process group; wait until it answers."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = JupyterServer(proc=proc, port=port, log_path=log_path, token=token, root=cwd)

    def up():
        if proc.poll() is not None:
            return "exited"
        return server.get("api/status").status_code == 200

    try:
        if wait_until(up, timeout=timeout, what=what) == "exited":
            raise RuntimeError(f"{what} exited:\n{server.log_tail()}")
    except BaseException:
        server.stop()
        raise
    return server


def start_process(args, port: int, tmp: Path, name: str, env=None, timeout=20) -> Proc:
    log_path = tmp / f"{name}.log"
    tmp.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            args, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    p = Proc(proc=proc, port=port, log_path=log_path)
    try:
        wait_until(lambda: proc.poll() is None and port_open(port), timeout=timeout, what=name)
    except BaseException:
        p.stop()
        raise
    return p


def start_http_server(tmp: Path) -> Proc:
    """`python -m http.server` on a free loopback port, serving `tmp/www`."""
    www = tmp / "www"
    www.mkdir(parents=True, exist_ok=True)
    (www / "hello.txt").write_text("hello from the app\n")
    port = free_port()
    return start_process(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(www)],
        port,
        tmp,
        "http-server",
    )


def _start_script(tmp: Path, name: str, source: str) -> Proc:
    """Run a Python `source` with a free loopback port as its argument."""
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    script = tmp / f"{name.replace('-', '_')}.py"
    script.write_text(source)
    return start_process([sys.executable, str(script), str(port)], port, tmp, name)


def start_ws_echo(tmp: Path) -> Proc:
    """A tornado app on a free port: JSON on any path and a websocket echo at any path ending in /ws."""
    return _start_script(tmp, "ws-echo", WS_ECHO)


def start_tcp_echo(tmp: Path) -> Proc:
    """A raw TCP echo server on a free loopback port; it hangs up after a line `bye`."""
    return _start_script(tmp, "tcp-echo", TCP_ECHO)
