"""Websockets that carry a byte stream into the session, for the SSH gateway.

- `{base_url}sessions-api/tcp/<port>`: one TCP connection to a port listening
  inside the session (`ssh -L`/`-D`);
- `{base_url}sessions-api/sftp`: the stdin/stdout of OpenSSH's `sftp-server`
  started in the session's root directory (`sftp`, `scp -s`).

They are how the SSH gateway reaches sessions it cannot reach directly
(Kubernetes pods): it opens the websocket through the hub's proxy with its
token, and bytes flow both ways as binary messages. Like a terminal, each
needs the `execute` permission on `terminals` of whoever may use the session,
so it gives nothing a terminal in the session could not. The TCP bridge only
connects to 127.0.0.1 ports that the ports API lists (listening in the
session, not the server's own).
"""

from __future__ import annotations

import asyncio
import os
import shutil

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .ports import listening_ports

CHUNK = 64 * 1024
# where distributions put OpenSSH's sftp-server (Debian/Ubuntu, Fedora/RHEL, Alpine, others)
SFTP_SERVER_PATHS = (
    "/usr/lib/openssh/sftp-server",
    "/usr/libexec/openssh/sftp-server",
    "/usr/lib/ssh/sftp-server",
    "/usr/libexec/sftp-server",
    "/usr/lib/sftp-server",
)


def find_sftp_server() -> str | None:
    for path in SFTP_SERVER_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("sftp-server")


class StreamBridgeHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """Base: terminal-level authorization, then pump a reader/writer pair over the websocket."""

    auth_resource = "terminals"
    _writer: asyncio.StreamWriter | None = None
    _pump: asyncio.Task | None = None

    @property
    def ext(self):
        return self.settings["jupyterhub_sessions"]

    @property
    def who(self) -> str:
        user = getattr(self.current_user, "username", "?")
        return f"user={user} session={self.ext.owner}/{self.ext.server_name or '(default)'}"

    async def authorize_bridge(self) -> None:
        user = self.current_user
        if not user:
            raise web.HTTPError(403)
        if self.authorizer is not None and not await ensure_async(
            self.authorizer.is_authorized(self, user, "execute", self.auth_resource)
        ):
            raise web.HTTPError(403)

    def start_pumping(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pump = asyncio.ensure_future(self._pump_out(reader))

    async def _pump_out(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(CHUNK):
                await self.write_message(data, binary=True)
        except (OSError, WebSocketClosedError):
            pass
        self.close(1000, "the other end closed")

    async def on_message(self, message):
        if self._writer is None:
            return
        data = message.encode() if isinstance(message, str) else message
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError:
            self.close(1011, "the other end failed")

    def on_close(self):
        if self._writer is not None:
            self._writer.close()
        if self._pump is not None:
            self._pump.cancel()


class TCPBridgeHandler(StreamBridgeHandler):
    _port = 0

    async def get(self, port: str):
        await self.authorize_bridge()
        number = int(port) if port.isdigit() and len(port) <= 5 else 0
        if not 1 <= number <= 65535:
            raise web.HTTPError(400, f"Not a TCP port: {port[:10]!r}")
        ext = self.ext
        listening = await asyncio.to_thread(listening_ports, ext.root_pid, ext.ports_scope, ext.own_ports())
        if number not in {p.port for p in listening}:
            self.log.info(
                "TCP bridge refused for %s: port %s is not listening in the session", self.who, number
            )
            raise web.HTTPError(403, f"Port {number} is not listening in this session")
        self._port = number
        await ensure_async(super().get(port))

    async def open(self, port: str):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self._port)
        except OSError as e:
            self.close(1011, f"could not connect to port {self._port}: {e.strerror}")
            return
        self.log.info("TCP bridge open for %s to port %s", self.who, self._port)
        self.start_pumping(reader, writer)


class SFTPBridgeHandler(StreamBridgeHandler):
    _command: str | None = None
    _process: asyncio.subprocess.Process | None = None

    async def get(self):
        await self.authorize_bridge()
        self._command = find_sftp_server()
        if self._command is None:
            raise web.HTTPError(
                404, "sftp-server is not installed in this session (install openssh-sftp-server in its image)"
            )
        await ensure_async(super().get())

    async def open(self):
        root = self.settings.get("server_root_dir") or os.getcwd()
        try:
            self._process = await asyncio.create_subprocess_exec(
                self._command,
                "-e",
                cwd=root,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as e:
            self.close(1011, f"could not start sftp-server: {e.strerror}")
            return
        self.log.info("SFTP bridge open for %s in %s", self.who, root)
        self.start_pumping(self._process.stdout, self._process.stdin)

    def on_close(self):
        super().on_close()
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
