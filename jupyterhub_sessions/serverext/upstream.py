"""HTTP/1.1 from the port proxy to the web apps in a session: kept-alive, copy-light.

jupyter-server-proxy fetches every proxied request with a new tornado
`AsyncHTTPClient`: a new TCP connection each time, and a buffering client
that caps bodies at 100 MB. The streaming proxy (`streamproxy.py`) speaks
HTTP/1.1 to the app itself:

- `UpstreamPool` keeps connections the app left open and reuses them. A
  pooled connection may have been closed by the app while it sat idle: it
  is checked (one non-blocking peek) before reuse, and a request that finds
  it dead before any byte of the answer arrived is retried once on a new
  connection by the caller, so an app's idle timeout never shows as an error.
- `AppExchange` is one request and its answer. Bodies are read with
  `IOStream.read_into` into one buffer per transfer and written on from
  there, so a byte is copied once in and once out of the kernel and
  nothing grows with the size of the body (tornado's `HTTP1Connection`
  copies each chunk three times and allocates a new one every read).
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import re
import socket
import time
from dataclasses import dataclass

from tornado import gen, httputil
from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpclient import TCPClient

from .sockrelay import CHUNK_LINE

READ_CHUNK = 256 * 1024  # one recv from the app's socket
MAX_HEAD = 64 * 1024  # status line and headers of an answer
MAX_INTERIM = 10  # "100 Continue" and friends before the real answer
CR_OR_LF = re.compile(r"[\r\n]")


class AppProtocolError(Exception):
    """The app's answer is not HTTP/1.x we can pass on."""


@dataclass
class _Idle:
    stream: IOStream
    since: float


def _alive(stream: IOStream) -> bool:
    """True if an idle stream is still open and has nothing unread (no stray bytes, no EOF)."""
    if stream.closed() or stream._read_buffer_size:  # noqa: SLF001 - no public "bytes buffered"
        return False
    try:
        stream.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return True  # nothing to read: open and idle
    except OSError:
        return False
    return False  # EOF (b"") or bytes nobody asked for


class _Gate:
    """At most `limit` holders at once; the others wait in order."""

    def __init__(self, limit: int):
        self.limit = limit
        self.busy = 0
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    async def __aenter__(self):
        while self.busy >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)
        self.busy += 1

    async def __aexit__(self, *exc):
        self.busy -= 1
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    @property
    def unused(self) -> bool:
        return self.busy == 0 and not self.waiters


class UpstreamPool:
    """Idle keep-alive connections per app address, bounded in number and age.

    New connections to one app are opened at most `max_connecting_per_app` at a time: a burst of
    requests (a page's assets, a load test) must not open hundreds at once, which overflows the
    listen backlog of small servers (`python -m http.server` has 5) and leaves the rest to
    SYN retries a second and more apart. A request waiting to connect takes a kept-alive
    connection instead if one comes free meanwhile.
    """

    def __init__(
        self, max_idle_per_app: int = 16, idle_seconds: float = 30.0, max_connecting_per_app: int = 4
    ):
        self.max_idle_per_app = max_idle_per_app
        self.idle_seconds = idle_seconds
        self.max_connecting_per_app = max_connecting_per_app
        self._idle: dict[tuple, list[_Idle]] = {}
        self._gates: dict[tuple, _Gate] = {}
        self._tcp = TCPClient()
        self._last_sweep = time.monotonic()

    @staticmethod
    def key(host: str, port, unix_socket: str | None = None) -> tuple:
        return ("unix", unix_socket) if unix_socket else ("tcp", host, int(port))

    async def connect(
        self, host: str, port, unix_socket: str | None = None, timeout: float = 30.0, reuse: bool = True
    ) -> tuple[IOStream, bool]:
        """A stream to the app and whether it is a reused one."""
        key = self.key(host, port, unix_socket)
        if reuse and (stream := self._take(key)) is not None:
            return stream, True
        # the wait for a turn counts against the connect timeout too
        return await asyncio.wait_for(
            self._connect_in_turn(key, host, port, unix_socket, timeout, reuse), timeout
        )

    async def _connect_in_turn(self, key, host, port, unix_socket, timeout, reuse) -> tuple[IOStream, bool]:
        gate = self._gates.setdefault(key, _Gate(self.max_connecting_per_app))
        try:
            async with gate:
                if reuse and (stream := self._take(key)) is not None:
                    return stream, True  # released while this request waited
                return await self._open(host, port, unix_socket, timeout), False
        finally:
            if gate.unused and self._gates.get(key) is gate:
                del self._gates[key]

    async def _open(self, host: str, port, unix_socket: str | None, timeout: float) -> IOStream:
        if unix_socket:
            stream = IOStream(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            await gen.with_timeout(datetime.timedelta(seconds=timeout), stream.connect(unix_socket))
        else:
            stream = await self._tcp.connect(host, int(port), timeout=datetime.timedelta(seconds=timeout))
            stream.set_nodelay(True)
        stream.read_chunk_size = READ_CHUNK
        return stream

    def release(self, key: tuple, stream: IOStream) -> None:
        """Keep a stream whose last exchange ended cleanly, or close it if the pool is full."""
        now = time.monotonic()
        idle = self._idle.setdefault(key, [])
        if stream.closed() or len(idle) >= self.max_idle_per_app:
            stream.close()
        else:
            idle.append(_Idle(stream, now))
        if now - self._last_sweep > self.idle_seconds:
            self._sweep(now)

    def _take(self, key: tuple) -> IOStream | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            entry = idle.pop()
            if now - entry.since < self.idle_seconds and _alive(entry.stream):
                return entry.stream
            entry.stream.close()
        return None

    def _sweep(self, now: float) -> None:
        """Close connections idle for too long (the app may hold a thread or a slot for each)."""
        self._last_sweep = now
        for key in list(self._idle):
            keep = [e for e in self._idle[key] if now - e.since < self.idle_seconds and not e.stream.closed()]
            for entry in self._idle[key]:
                if entry not in keep:
                    entry.stream.close()
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]

    def close(self) -> None:
        for entries in self._idle.values():
            for entry in entries:
                entry.stream.close()
        self._idle.clear()


class AppExchange:
    """One HTTP/1.1 request to the app and its answer, over `stream`."""

    def __init__(self, stream: IOStream):
        self.stream = stream
        self.chunked_request = False
        self.request_done = False
        self.answer_done = False
        self.keep_alive = False
        self._framing: str | None = None  # "none" | "length" | "chunked" | "close"
        self._length = 0
        self._method = ""

    # -- request ---------------------------------------------------------------------------

    def send_head(
        self, method: str, target: str, headers: httputil.HTTPHeaders, body: bytes | None, streamed: bool
    ) -> None:
        """Request line and headers, with the whole body unless it is `streamed` (then `send`, `end`)."""
        self._method = method
        self.chunked_request = streamed and "Content-Length" not in headers
        lines = [f"{method} {target} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in headers.get_all()]
        if self.chunked_request:
            lines.append("Transfer-Encoding: chunked")
        for line in lines:
            if CR_OR_LF.search(line):
                raise ValueError(f"CR or LF in a request header: {line!r}")
        self.stream.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + (body or b""))
        self.request_done = not streamed

    async def send(self, data: bytes) -> None:
        """A piece of a streamed request body (waits until the app's socket took it)."""
        if self.chunked_request:
            self.stream.write(b"%x\r\n" % len(data))
            self.stream.write(data)
            await self.stream.write(b"\r\n")
        else:
            await self.stream.write(data)

    async def end(self) -> None:
        if self.chunked_request:
            await self.stream.write(b"0\r\n\r\n")
        self.request_done = True

    # -- answer ------------------------------------------------------------------------------

    async def read_head(
        self, timeout: float, upgrade: bool = False
    ) -> tuple[httputil.ResponseStartLine, httputil.HTTPHeaders]:
        """The app's status line and headers (interim 1xx answers skipped, but `101` to an `upgrade`)."""
        for _ in range(MAX_INTERIM + 1):
            raw = await self._within(timeout, self.stream.read_until_regex(b"\r?\n\r?\n", max_bytes=MAX_HEAD))
            text = raw.decode("latin1").lstrip("\r\n")
            first, _, rest = text.partition("\n")
            try:
                start = httputil.parse_response_start_line(first.rstrip("\r"))
                headers = httputil.HTTPHeaders.parse(rest)
            except httputil.HTTPInputError as e:
                raise AppProtocolError(str(e)) from None
            if start.code == 101 and upgrade:
                self._framing = "none"
                return start, headers
            if 100 <= start.code < 200:
                if start.code == 101:
                    raise AppProtocolError("101 Switching Protocols to a plain HTTP request")
                continue
            self._frame(start, headers)
            return start, headers
        raise AppProtocolError("too many interim (1xx) answers")

    async def _within(self, timeout: float, read: asyncio.Future):
        """`read`'s result, or TimeoutError (the stream closed) if it takes over `timeout` seconds.

        A timer that closes the stream, rather than `gen.with_timeout`, whose
        future chained to the read's costs each answer one more turn of the
        event loop (of some ten a proxied request takes).
        """
        expired = False

        def expire():
            nonlocal expired
            if read.done():  # the answer came in the same turn of the loop: it wins
                return
            expired = True
            self.stream.close()

        timer = asyncio.get_running_loop().call_later(timeout, expire)
        try:
            return await read
        except StreamClosedError:
            if expired:
                raise TimeoutError(f"no answer in {timeout} s") from None
            raise
        finally:
            timer.cancel()

    def _frame(self, start: httputil.ResponseStartLine, headers: httputil.HTTPHeaders) -> None:
        """How the body ends (RFC 9112 6.3), and whether the connection may carry another request."""
        tokens = {t.strip().lower() for v in headers.get_list("Connection") for t in v.split(",")}
        encoding = headers.get("Transfer-Encoding", "").strip().lower()
        if self._method == "HEAD" or start.code in (204, 304):
            self._framing = "none"
        elif encoding:
            if encoding != "chunked":
                raise AppProtocolError(f"unsupported Transfer-Encoding {encoding!r}")
            self._framing = "chunked"
        elif "Content-Length" in headers:
            values = {v.strip() for v in headers["Content-Length"].split(",")}
            if len(values) != 1 or not values.copy().pop().isdigit():
                raise AppProtocolError(f"bad Content-Length {headers['Content-Length']!r}")
            self._framing = "length"
            self._length = int(values.pop())
        else:
            self._framing = "close"
        self.keep_alive = start.version == "HTTP/1.1" and "close" not in tokens and self._framing != "close"

    @property
    def chunked(self) -> bool:
        """The body comes in chunks (Transfer-Encoding: chunked)."""
        return self._framing == "chunked"

    @property
    def length(self) -> int | None:
        """The body's size, when the app said it."""
        return {"none": 0, "length": self._length}.get(self._framing)

    async def read_small_body(self) -> bytes:
        """The whole body of an answer with a known, small length."""
        data = await self.stream.read_bytes(self._length) if self._length else b""
        self.answer_done = True
        return data

    async def read_into(self, buf: bytearray):
        """Yield the body as the sizes of consecutive pieces read into `buf` (reused)."""
        view = memoryview(buf)
        if self._framing == "length":
            pieces = self._read_length(view, self._length)
        elif self._framing == "chunked":
            pieces = self._read_chunked(view)
        elif self._framing == "close":
            pieces = self._read_until_closed(view)
        else:
            pieces = None
        if pieces is not None:
            async for n in pieces:
                yield n
        self.answer_done = True

    async def _read_length(self, view: memoryview, left: int):
        while left:
            n = await self.stream.read_into(view[: min(left, len(view))], partial=True)
            left -= n
            yield n

    async def _read_chunked(self, view: memoryview):
        stream = self.stream
        while True:
            line = await stream.read_until(b"\r\n", max_bytes=1024)
            m = CHUNK_LINE.fullmatch(line[:-2])
            if m is None:  # int(x, 16) alone takes "-1", "0x5", "1_0"
                raise AppProtocolError(f"bad chunk-size line {line[:40]!r}")
            left = int(m.group(1), 16)
            if left == 0:
                break
            async for n in self._read_length(view, left):
                yield n
            if await stream.read_bytes(2) != b"\r\n":
                raise AppProtocolError("chunk not followed by CRLF")
        while await stream.read_until(b"\r\n", max_bytes=MAX_HEAD) != b"\r\n":
            pass  # trailers: not passed on

    async def _read_until_closed(self, view: memoryview):
        while True:
            try:
                n = await self.stream.read_into(view, partial=True)
            except StreamClosedError:
                return
            yield n

    @property
    def reusable(self) -> bool:
        return self.keep_alive and self.request_done and self.answer_done and not self.stream.closed()
