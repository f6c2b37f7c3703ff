"""`ssh -L`/`-D` into a session the gateway cannot reach directly.

The forwarded connection is carried by the session's own TCP bridge
(`sessions-api/tcp/<port>`, a websocket of the server extension) through the
hub's proxy, with the gateway's token: the same path as terminals, so it
works wherever shells do (Kubernetes pods included), and the session decides
which ports may be reached.
"""

from __future__ import annotations

import asyncio
import logging

import asyncssh
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

log = logging.getLogger(__name__)


class TunnelError(Exception):
    """The session refused or could not open the connection; safe to show."""


async def open_bridge(server_url: str, port: int, token: str, timeout: float = 30) -> WebSocketClientConnection:
    """Connect to `port` inside the session at `server_url` (ends with /)."""
    ws_url = server_url.replace("http", "ws", 1) + f"sessions-api/tcp/{int(port)}"
    try:
        return await websocket_connect(
            HTTPRequest(ws_url, headers={"Authorization": f"token {token}"}, connect_timeout=timeout,
                        request_timeout=timeout),
            max_message_size=16 * 1024 * 1024,
        )
    except HTTPClientError as e:
        if e.code == 403:
            raise TunnelError(f"port {port} is not listening in this session") from None
        raise TunnelError(f"the session refused the connection (HTTP {e.code})") from None
    except OSError as e:
        raise TunnelError(f"the session could not be reached ({e.__class__.__name__})") from None


class WebsocketTunnel(asyncssh.SSHTCPSession):
    """Bytes of one forwarded SSH channel to and from the session's TCP bridge."""

    def __init__(self, ws: WebSocketClientConnection, label: str):
        self._ws = ws
        self._label = label
        self._chan = None
        self._pump: asyncio.Task | None = None

    def connection_made(self, chan) -> None:
        self._chan = chan
        self._pump = asyncio.ensure_future(self._from_session())

    async def _from_session(self) -> None:
        while True:
            message = await self._ws.read_message()
            if message is None:
                break
            self._chan.write(message if isinstance(message, bytes) else message.encode())
        # the port closed its end (or the session went away)
        self._chan.close()

    def data_received(self, data, datatype) -> None:
        fut = self._ws.write_message(data, binary=True)
        fut.add_done_callback(self._write_done)

    def _write_done(self, fut: asyncio.Future) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self._chan.close()

    def eof_received(self) -> bool:
        # a websocket cannot half-close: keep reading the answer until the port closes
        return True

    def connection_lost(self, exc) -> None:
        self._ws.close()
        if self._pump is not None:
            self._pump.cancel()
