"""`ssh -L`/`-D` and `sftp` into a session the gateway cannot reach directly.

A forwarded connection is carried by the session's own TCP bridge
(`sessions-api/tcp/<port>`), and an sftp subsystem by its SFTP bridge
(`sessions-api/sftp`, OpenSSH's sftp-server in the session): websockets of
the server extension, reached through the hub's proxy with the gateway's
token. That is the same path as terminals, so it works wherever shells do
(Kubernetes pods included), and the session decides what may be reached.
"""

from __future__ import annotations

import asyncio

import asyncssh
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect


class TunnelError(Exception):
    """The session refused (`refused`) or could not open the connection; safe to show."""

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.refused = refused


async def open_bridge(
    server_url: str, port: int, token: str, timeout: float = 30
) -> WebSocketClientConnection:
    """Connect to `port` inside the session at `server_url` (ends with /)."""
    return await _connect(
        server_url,
        f"sessions-api/tcp/{int(port)}",
        token,
        timeout,
        refused=f"port {port} is not listening in this session",
    )


async def open_sftp_bridge(server_url: str, token: str, timeout: float = 30) -> WebSocketClientConnection:
    """Start sftp-server inside the session at `server_url` and connect to it."""
    return await _connect(
        server_url,
        "sessions-api/sftp",
        token,
        timeout,
        missing="sftp is not available in this session (its image has no sftp-server)",
    )


async def _connect(
    server_url: str, path: str, token: str, timeout: float, refused: str = "", missing: str = ""
) -> WebSocketClientConnection:
    ws_url = server_url.replace("http", "ws", 1) + path
    try:
        return await websocket_connect(
            HTTPRequest(
                ws_url,
                headers={"Authorization": f"token {token}"},
                connect_timeout=timeout,
                request_timeout=timeout,
            ),
            max_message_size=16 * 1024 * 1024,
        )
    except HTTPClientError as e:
        if e.code == 403 and refused:
            raise TunnelError(refused, refused=True) from None
        if e.code == 404 and missing:
            raise TunnelError(missing) from None
        raise TunnelError(f"the session refused the connection (HTTP {e.code})") from None
    except OSError as e:
        raise TunnelError(f"the session could not be reached ({e.__class__.__name__})") from None


class WebsocketTunnel(asyncssh.SSHTCPSession):
    """Bytes of one forwarded SSH channel to and from the session's TCP bridge."""

    def __init__(self, ws: WebSocketClientConnection):
        self._ws = ws
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


async def pump_process(process: asyncssh.SSHServerProcess, ws: WebSocketClientConnection) -> None:
    """Bytes of an SSH process (a subsystem) to and from a session's bridge, until either ends."""

    async def to_session() -> None:
        while data := await process.stdin.read(65536):
            await ws.write_message(data, binary=True)

    async def from_session() -> None:
        while (message := await ws.read_message()) is not None:
            process.stdout.write(message if isinstance(message, bytes) else message.encode())
            await process.stdout.drain()

    up, down = asyncio.ensure_future(to_session()), asyncio.ensure_future(from_session())
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        ws.close()
