"""`{base_url}sessions-api/tcp/<port>`: a websocket carrying one TCP connection
to a port listening inside the session.

It is how the SSH gateway forwards `ssh -L`/`-D` into sessions it cannot reach
directly (Kubernetes pods): the gateway opens this websocket through the hub's
proxy with its token, and bytes flow both ways as binary messages. Like a
terminal, it needs the `execute` permission on `terminals` of whoever may use
the session, and it only connects to 127.0.0.1 ports that the ports API lists
(listening in the session, not the server's own), so it reaches nothing a
terminal in the session could not.
"""

from __future__ import annotations

import asyncio

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .ports import listening_ports

CHUNK = 64 * 1024


class TCPBridgeHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    auth_resource = "terminals"
    _port = 0
    _writer: asyncio.StreamWriter | None = None
    _pump: asyncio.Task | None = None

    @property
    def ext(self):
        return self.settings["jupyterhub_sessions"]

    async def get(self, port: str):
        user = self.current_user
        if not user:
            raise web.HTTPError(403)
        if self.authorizer is not None and not await ensure_async(
            self.authorizer.is_authorized(self, user, "execute", self.auth_resource)
        ):
            raise web.HTTPError(403)
        number = int(port) if port.isdigit() and len(port) <= 5 else 0
        if not 1 <= number <= 65535:
            raise web.HTTPError(400, f"Not a TCP port: {port[:10]!r}")
        ext = self.ext
        listening = await asyncio.to_thread(listening_ports, ext.root_pid, ext.ports_scope, ext.own_ports())
        if number not in {p.port for p in listening}:
            self.log.info("TCP bridge refused for user=%s: port %s is not listening in %s/%s",
                          getattr(user, "username", "?"), number, ext.owner, ext.server_name or "(default)")
            raise web.HTTPError(403, f"Port {number} is not listening in this session")
        self._port = number
        await ensure_async(super().get(port))

    async def open(self, port: str):
        try:
            reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        except OSError as e:
            self.close(1011, f"could not connect to port {self._port}: {e.strerror}")
            return
        self.log.info("TCP bridge open for user=%s to port %s of %s/%s",
                      getattr(self.current_user, "username", "?"), self._port,
                      self.ext.owner, self.ext.server_name or "(default)")
        self._pump = asyncio.ensure_future(self._from_port(reader))

    async def _from_port(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(CHUNK):
                await self.write_message(data, binary=True)
        except (OSError, WebSocketClosedError):
            pass
        self.close(1000, "connection closed by the port")

    async def on_message(self, message):
        if self._writer is None:
            return
        data = message.encode() if isinstance(message, str) else message
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError:
            self.close(1011, "connection to the port failed")

    def on_close(self):
        if self._writer is not None:
            self._writer.close()
        if self._pump is not None:
            self._pump.cancel()
