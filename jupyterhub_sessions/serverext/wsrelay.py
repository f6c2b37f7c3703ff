"""Websockets through the port proxy: the app's own handshake, then bytes both ways.

jupyter-server-proxy accepts the client's websocket itself (choosing the
first subprotocol offered, jupyter-server-proxy#459), opens a second one to
the app, and decodes and re-encodes every message in between. Here the
client's upgrade request goes to the app (without hub credentials), the
app's answer goes back to the client, and after a `101` the two TCP streams
are joined: frames pass as they are, so the app decides subprotocol and
compression, and a round trip costs two socket reads and writes, not four
frame codecs.

The handler stays a tornado `WebSocketHandler` with a connection object
(`Relay`), so whatever closes websockets of users who lost access
(`revoke.close_revoked_connections`) closes these too, with the code it
asks for: `Relay` follows the frame headers coming from the app (not their
payloads) and puts the close frame between two frames.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time

from tornado.iostream import IOStream, StreamClosedError

log = logging.getLogger(__name__)

RELAY_CHUNK = 64 * 1024
CLOSE_GRACE = 5.0  # seconds a closing side gets to finish a frame, or to answer our close frame


class FrameBoundaries:
    """Where websocket frames end in a byte stream: frame headers are read, payloads skipped."""

    def __init__(self):
        self._head = bytearray()  # a frame header cut across reads
        self._left = 0  # payload bytes of the current frame still to come

    @property
    def at_boundary(self) -> bool:
        return not self._head and not self._left

    def feed(self, data, stop_at_boundary: bool = False) -> int:
        """Account for `data`; returns how many bytes were taken (all of them unless stopping)."""
        pos, size = 0, len(data)
        while pos < size:
            if stop_at_boundary and self.at_boundary:
                return pos
            if self._left:
                step = min(self._left, size - pos)
                self._left -= step
                pos += step
                continue
            self._head.append(data[pos])
            pos += 1
            need = _header_length(self._head)
            if need is not None and len(self._head) == need:
                self._left = _payload_length(self._head)
                self._head.clear()
        return pos


def _header_length(head: bytearray) -> int | None:
    if len(head) < 2:
        return None
    n = 2 + (4 if head[1] & 0x80 else 0)
    code = head[1] & 0x7F
    return n + (2 if code == 126 else 8 if code == 127 else 0)


def _payload_length(head: bytearray) -> int:
    code = head[1] & 0x7F
    if code == 126:
        return struct.unpack_from("!H", head, 2)[0]
    if code == 127:
        return struct.unpack_from("!Q", head, 2)[0]
    return code


def close_frame(code: int | None, reason: str | None) -> bytes:
    """A server-to-client close frame (unmasked)."""
    payload = b""
    if code is not None:
        payload = struct.pack("!H", code) + (reason or "").encode("utf-8")[:123]
    return bytes((0x88, len(payload))) + payload


class Relay:
    """Joins the client's stream and the app's after the handshake.

    Stands where tornado keeps its websocket protocol (`handler.ws_connection`),
    so `handler.close(code, reason)` works as for any tornado websocket.
    """

    def __init__(self, handler, client: IOStream, app: IOStream, on_activity):
        self.handler = handler
        self.client = client
        self.app = app
        self.on_activity = on_activity
        self.frames = FrameBoundaries()
        self.closing: tuple[int | None, str | None] | None = None
        self._closed = False
        self._last_activity = 0.0

    # -- what tornado and the revoke code call --------------------------------------------

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Close as the server: a close frame to the client between two frames, then both streams."""
        if self.closing is not None or self._closed:
            return
        self.closing = (code, reason)
        if self.frames.at_boundary:
            self._send_close()
        else:  # the app is in the middle of a frame: its pump sends the close frame after it
            asyncio.get_running_loop().call_later(CLOSE_GRACE, self.abort)

    def on_connection_close(self) -> None:
        self.abort()

    def is_closing(self) -> bool:
        return self.closing is not None or self._closed

    # -- the relay --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Relay until either side closes (or our close frame was answered, or its grace ran out)."""
        to_app = asyncio.ensure_future(self._pump(self.client, self.app, from_app=False))
        to_client = asyncio.ensure_future(self._pump(self.app, self.client, from_app=True))
        try:
            await asyncio.wait([to_app, to_client], return_when=asyncio.FIRST_COMPLETED)
            if self.closing is not None and not to_app.done():
                await asyncio.wait([to_app], timeout=CLOSE_GRACE)  # the client answers and hangs up
        finally:
            self.abort()
            for task in (to_app, to_client):
                if not task.done():
                    task.cancel()
            await asyncio.gather(to_app, to_client, return_exceptions=True)

    async def _pump(self, src: IOStream, dst: IOStream, from_app: bool) -> None:
        buf = bytearray(RELAY_CHUNK)
        view = memoryview(buf)
        try:
            while True:
                n = await src.read_into(view, partial=True)
                self._activity()
                if not from_app:
                    if self.closing is None:
                        await dst.write(view[:n])
                    continue  # after our close frame the client only answers it
                if self.closing is not None:
                    taken = self.frames.feed(view[:n], stop_at_boundary=True)
                    if taken:
                        await dst.write(view[:taken])
                    if self.frames.at_boundary:
                        self._send_close()
                        return
                    continue
                self.frames.feed(view[:n])
                await dst.write(view[:n])
        except StreamClosedError:
            pass
        finally:
            if not from_app and self.closing is None:
                self.app.close()  # the client left: so does the app's side

    def _send_close(self) -> None:
        code, reason = self.closing
        try:
            self.client.write(close_frame(code, reason))
        except StreamClosedError:
            self.abort()
            return
        self.app.close()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.app.close()
        self.client.close()

    def _activity(self) -> None:
        now = time.monotonic()
        if now - self._last_activity > 1.0:
            self._last_activity = now
            self.on_activity()
