"""Shells, commands, `sftp` and `ssh -L`/`-D` carried into a session over its own websockets.

A command or shell runs through the session's exec endpoint
(`sessions-api/exec`), an sftp subsystem through its SFTP bridge
(`sessions-api/sftp`, OpenSSH's sftp-server in the session), and a forwarded
connection through its TCP bridge (`sessions-api/tcp/<port>`): websockets of
the server extension, reached through the hub's proxy with the gateway's
token. That path works the same on both backends (Kubernetes pods included),
the gateway never touches the session's files or processes itself, and the
session decides what may be reached.
"""

from __future__ import annotations

import asyncio
import json

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


async def open_exec_bridge(server_url: str, token: str, timeout: float = 30) -> WebSocketClientConnection:
    """The session's exec endpoint at `server_url`, ready for a request (`run_exec`)."""
    return await _connect(
        server_url,
        "sessions-api/exec",
        token,
        timeout,
        refused="this session does not allow commands (terminals are disabled in it)",
        missing="this session cannot run commands over SSH (its jupyterhub-sessions is too old)",
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


STDOUT, STDERR = 1, 2
READ_CHUNK = 256 * 1024


def exec_request(process: asyncssh.SSHServerProcess) -> dict:
    """The exec endpoint's first message for an SSH `exec` or `shell` channel."""
    term = process.get_terminal_type()
    pty = None
    if term is not None:
        cols, rows, _, _ = process.get_terminal_size()
        pty = {"term": term, "cols": cols or 80, "rows": rows or 24}
    env = {k: v for k, v in (process.env or {}).items() if isinstance(k, str) and isinstance(v, str)}
    return {"command": process.command, "pty": pty, "env": env}


async def _to_session(process: asyncssh.SSHServerProcess, ws: WebSocketClientConnection) -> None:
    """The client's input, window size changes and signals, until it sends end-of-file."""
    while True:
        try:
            data = await process.stdin.read(READ_CHUNK)
        except asyncssh.TerminalSizeChanged as e:
            await ws.write_message(json.dumps({"resize": [e.width, e.height]}))
            continue
        except asyncssh.SignalReceived as e:
            await ws.write_message(json.dumps({"signal": e.signal}))
            continue
        except asyncssh.BreakReceived:
            continue
        if not data:
            await ws.write_message(json.dumps({"eof": True}))
            return
        await ws.write_message(data, binary=True)


async def _from_session(
    process: asyncssh.SSHServerProcess, ws: WebSocketClientConnection, ended: dict
) -> None:
    """The command's stdout and stderr to the client; how it ended into `ended`."""
    while (message := await ws.read_message()) is not None:
        if isinstance(message, bytes):
            out = process.stderr if message[:1] == bytes([STDERR]) else process.stdout
            out.write(message[1:])
            await out.drain()
            continue
        try:
            msg = json.loads(message)
        except ValueError:
            continue
        if isinstance(msg, dict) and ("exit" in msg or "exit_signal" in msg):
            ended.update(msg)


async def run_exec(process: asyncssh.SSHServerProcess, ws: WebSocketClientConnection) -> dict:
    """Carry one SSH process through the exec endpoint until the command ends.

    Returns how it ended (`{"exit": N}` or `{"exit_signal": NAME, "core": bool}`), or
    `{}` if the session went away first. If the client goes away first, the
    websocket is closed: a command without a PTY reads end-of-file and may go on.
    """
    await ws.write_message(json.dumps(exec_request(process)))
    ended: dict = {}
    down = asyncio.ensure_future(_from_session(process, ws, ended))
    up = asyncio.ensure_future(_to_session(process, ws))
    gone = asyncio.ensure_future(process.channel.wait_closed())
    try:
        pending = {down, up, gone}
        while down in pending and gone in pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if up in done and up.exception() is not None:
                break  # the session stopped taking input: it is going away
        return ended
    finally:
        for task in (down, up, gone):
            task.cancel()
        ws.close()
