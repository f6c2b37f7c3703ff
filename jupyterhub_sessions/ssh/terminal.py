"""A client for one Jupyter terminal in a session (REST + websocket).

The gateway reaches sessions only through the hub's public URL with a
token, like a browser would, so it works the same on both backends.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

log = logging.getLogger(__name__)


class TerminalError(RuntimeError):
    """The session refused or lost the terminal; the message is safe to show."""


class TerminalClient:
    """Create, attach to and remove one terminal under `server_url` (ends with /)."""

    def __init__(self, server_url: str, token: str, connect_timeout: float = 30):
        self.server_url = server_url
        self._token = token
        self.connect_timeout = connect_timeout
        self.name: str | None = None
        self._gone = False
        self._ws: WebSocketClientConnection | None = None

    def _headers(self) -> dict:
        return {"Authorization": f"token {self._token}"}

    async def open(self) -> None:
        """Create a new terminal and attach to its websocket."""
        http = AsyncHTTPClient()
        try:
            r = await http.fetch(
                HTTPRequest(
                    self.server_url + "api/terminals",
                    method="POST",
                    body="{}",
                    headers={**self._headers(), "Content-Type": "application/json"},
                    request_timeout=self.connect_timeout,
                )
            )
        except HTTPClientError as e:
            raise TerminalError(f"the session refused a terminal (HTTP {e.code})") from None
        except OSError as e:
            raise TerminalError(f"the session could not be reached ({e.__class__.__name__})") from None
        self.name = json.loads(r.body)["name"]
        ws_url = self.server_url.replace("http", "ws", 1) + "terminals/websocket/" + quote(self.name)
        try:
            self._ws = await websocket_connect(
                HTTPRequest(ws_url, headers=self._headers(), connect_timeout=self.connect_timeout),
                max_message_size=16 * 1024 * 1024,
            )
        except (HTTPClientError, OSError) as e:
            await self.close()
            raise TerminalError(f"could not attach to the session's terminal ({e})") from None

    async def read(self) -> str | None:
        """Next chunk of terminal output; None when the terminal is gone."""
        while self._ws is not None:
            msg = await self._ws.read_message()
            if msg is None:
                return None
            try:
                kind, *rest = json.loads(msg)
            except (ValueError, TypeError):
                continue
            if kind == "stdout" and rest:
                return str(rest[0])
            if kind == "disconnect":
                self._gone = True
                return None
        return None

    async def write(self, text: str) -> None:
        if self._ws is not None and text:
            await self._ws.write_message(json.dumps(["stdin", text]))

    async def set_size(self, rows: int, cols: int) -> None:
        if self._ws is not None and rows > 0 and cols > 0:
            await self._ws.write_message(json.dumps(["set_size", rows, cols]))

    async def close(self) -> None:
        """Detach and remove the terminal (ending its processes), like closing an ssh session."""
        if self._ws is not None:
            self._ws.close()
            self._ws = None
        if self.name is None or self._gone:
            return
        name, self.name = self.name, None
        try:
            await AsyncHTTPClient().fetch(
                HTTPRequest(
                    self.server_url + "api/terminals/" + quote(name),
                    method="DELETE",
                    headers=self._headers(),
                    request_timeout=self.connect_timeout,
                )
            )
        except (HTTPClientError, OSError) as e:
            log.debug("terminal %s: delete failed: %s", name, e)
