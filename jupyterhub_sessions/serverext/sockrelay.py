"""A body moved from one socket to another on a thread of its own.

The thread waits in `poll()` and, as soon as either side is ready, reads from
one socket into a 2 MiB buffer and writes from it to the other, with the GIL
released around each system call; the event loop sees none of it. Driving the
same transfer from the event loop (wait for readable, read, wait for writable,
write) costs a future, two `epoll_ctl`s and a trip through the loop for every
piece: 0.6x a direct download where nginx, which does the same `recv`/`send`
loop, reached 0.85x.

Why a copy and not Linux `splice` through a pipe: measured side by side on
loopback (benchmarks/README.md, issue 16), the copy moves 20-30% more per
second than the splice it replaced; a pipe holds at most 1 MiB (unprivileged)
in page-sized slots, so each splice moves little, and the copy's two memcpys
cost less than the extra system calls. It also works on any socket (TCP or
Unix) on any POSIX system with `poll()`.

The thread works on duplicates of the two sockets (tornado keeps its own
registrations of the originals) and never touches tornado's objects: it
reports activity through `call_soon_threadsafe` and its result through a
future. `stop()` wakes it at once (the client went away).
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import re
import select
import threading
import time
from collections.abc import Callable

# bytes in flight per transfer: 1 MiB moved 10-20% less per second, 4 MiB no more
BUFFER_BYTES = 2 * 1024 * 1024
ACTIVITY_EVERY = 1.0  # seconds between activity reports during a long transfer
LAST_CHUNK = b"0\r\n\r\n"
MAX_CHUNK_LINE = 1024  # a chunk-size line with its extensions
MAX_TRAILERS = 64 * 1024
MAX_THREADS = 32  # relays at once per server; past that, bodies go through the event loop
# RFC 9112 7.1: chunk-size, then chunk extensions (tokens or quoted strings; no CTLs, no bare CR or LF)
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_EXT = rb"(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*"
CHUNK_LINE = re.compile(rb"([0-9a-fA-F]{1,15})" + _EXT)


class SourceClosed(Exception):
    """The source socket ended (or failed) before the body did."""


class BadChunking(Exception):
    """The app's chunked body does not follow RFC 9112 (7.1)."""


class SocketRelay:
    """Move `left` bytes from `src_fd` to `dst_fd` (both sockets, left open) on a thread.

    `await run()` returns (bytes not moved, bytes written to `dst_fd`); raises
    SourceClosed if the source ended or failed early and OSError (BrokenPipeError,
    ConnectionResetError, ...) only if the destination failed, so the caller knows
    which side went. After `stop()` it returns early with what was left.
    The buffer is anonymous memory, backed only as far as the bytes in flight
    have reached (a stalled transfer holds a page, not 2 MiB).
    """

    active = 0  # relay threads running in this process (MAX_THREADS)

    def __init__(self, src_fd: int, dst_fd: int, left: int, on_activity: Callable[[], None] | None = None):
        self.left = left
        self.taken = 0  # bytes read from the source so far, whatever the outcome
        self.on_activity = on_activity
        self._src = os.dup(src_fd)
        self._dst = os.dup(dst_fd)
        self._stop_r, self._stop_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: select.poll | None = None  # made on the thread
        self._watched: dict[int, int] = {}

    @classmethod
    def available(cls) -> bool:
        """A relay thread may start (fewer than MAX_THREADS run)."""
        return cls.active < MAX_THREADS

    def stop(self) -> None:
        """Wake the thread and end the transfer (call from the event loop's thread)."""
        if not self._stopped:
            self._stopped = True
            with contextlib.suppress(OSError):
                os.write(self._stop_w, b"x")

    async def run(self) -> tuple[int, int]:
        self._loop = asyncio.get_running_loop()
        done = self._loop.create_future()
        thread = threading.Thread(target=self._thread, args=(done,), name="sockrelay", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread to be had: nothing of this relay stays open
            for fd in (self._src, self._dst):
                os.close(fd)
            self._close_stop_pipe()
            raise
        SocketRelay.active += 1  # before _settle can run: that is on this (busy) thread
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            self.stop()
            raise

    # -- on the thread ---------------------------------------------------------------------

    def _thread(self, done: asyncio.Future) -> None:
        try:
            result, error = self._move(), None
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
            result, error = None, e
        finally:
            for fd in (self._src, self._dst):
                with contextlib.suppress(OSError):
                    os.close(fd)
        try:
            self._loop.call_soon_threadsafe(self._settle, done, result, error)
        except RuntimeError:  # the loop is gone: nobody waits, nobody calls stop()
            SocketRelay.active -= 1
            self._close_stop_pipe()

    def _settle(self, done: asyncio.Future, result, error) -> None:
        """On the loop's thread: the stop pipe closes here, so a late `stop()` (same thread)
        finds it gone instead of writing to whatever reused its number."""
        SocketRelay.active -= 1
        self._stopped = True
        self._close_stop_pipe()
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def _close_stop_pipe(self) -> None:
        for fd in (self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    @staticmethod
    def _buffer(size: int) -> memoryview:
        """Anonymous memory: pages are backed as they are first written, freed with the view."""
        return memoryview(mmap.mmap(-1, size))

    def _move(self) -> tuple[int, int]:
        buf = self._buffer(BUFFER_BYTES)
        left, start, end, written = self.left, 0, 0, 0
        last_report = time.monotonic()
        while left or end > start:
            moved = 0
            if left and end < BUFFER_BYTES:
                n = self._read(buf[end : end + min(left, BUFFER_BYTES - end)])
                left, end, moved = left - n, end + n, n
            if end > start:
                n = self._write(buf[start:end])
                start, written, moved = start + n, written + n, moved + n
                if start == end:
                    start = end = 0
            if moved:
                last_report = self._report(last_report)
            elif self._wait(left and end < BUFFER_BYTES, end > start):
                break
        return left + end - start, written

    def _read(self, into: memoryview) -> int:
        """Bytes read from the source into `into`, 0 if none are waiting; SourceClosed at its end."""
        try:
            n = os.readv(self._src, [into])
        except BlockingIOError:
            return 0
        except OSError as e:  # reset: the source failed, whatever the error says
            raise SourceClosed(str(e)) from e
        if n == 0:
            raise SourceClosed()
        self.taken += n
        return n

    def _write(self, data: memoryview) -> int:
        """Bytes of `data` the destination took, 0 if it is full."""
        try:
            return os.write(self._dst, data)
        except BlockingIOError:
            return 0

    def _wait(self, reading: bool, writing: bool) -> bool:
        """Wait until the source can be read or the destination written; True if stopped."""
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self._stop_r, select.POLLIN)
        want = {}
        if reading:
            want[self._src] = select.POLLIN
        if writing:
            want[self._dst] = select.POLLOUT
        _watch(self._poller, self._watched, want)
        return any(fd == self._stop_r for fd, _ in self._poller.poll())

    def _report(self, last_report: float) -> float:
        """Activity to the event loop, at most every ACTIVITY_EVERY seconds."""
        now = time.monotonic()
        if self.on_activity is None or now - last_report <= ACTIVITY_EVERY:
            return last_report
        self._loop.call_soon_threadsafe(self.on_activity)
        return now


class ChunkedRelay(SocketRelay):
    """Move a chunked body (RFC 9112 7.1) from `src_fd` to `dst_fd` until it ends, on a thread.

    The app's chunks go on as they are (size lines, extensions, data); its
    last-chunk line and trailers are read and dropped and `0\\r\\n\\r\\n` is
    written instead, as the event-loop path does (trailers could carry what
    the proxy filters from headers). `first`: bytes of the body already read
    with the answer's head. `await run()` returns (bytes read past the body's
    end, bytes written); anything past the end means the app's connection must
    not be reused. Raises BadChunking, SourceClosed or OSError as `SocketRelay`.
    """

    def __init__(self, src_fd: int, dst_fd: int, first: bytes = b"", on_activity=None):
        super().__init__(src_fd, dst_fd, 0, on_activity)
        self.first = first

    def _move(self) -> tuple[int, int]:
        size = max(BUFFER_BYTES, 2 * len(self.first))
        data = mmap.mmap(-1, size)  # as SocketRelay._buffer; also searched (`find`)
        buf = memoryview(data)
        data[: len(self.first)] = self.first
        framing = ChunkedFraming()
        start, end, written = 0, len(self.first), 0
        ready = framing.scan(data, end)
        tail = memoryview(LAST_CHUNK)
        last_report = time.monotonic()
        while not framing.done or start < ready or tail:
            moved = 0
            if not framing.done and end < size:
                moved = self._read(buf[end:])
                end += moved
                ready = framing.scan(data, end)
            if start < ready:
                n = self._write(buf[start:ready])
                start += n
            else:  # the body's end once it is all sent
                n = self._write(tail) if framing.done and tail else 0
                tail = tail[n:]
            written, moved = written + n, moved + n
            if start == ready and not framing.done and (start == end or end == size):
                # all that may go has gone: what is left (part of a size line, trailers) moves to the front
                data[: end - start] = data[start:end]
                framing.shift(start)
                start, ready, end = 0, 0, end - start
            if moved:
                last_report = self._report(last_report)
            elif self._wait(not framing.done and end < size, start < ready or (framing.done and bool(tail))):
                break
        return (end - framing.pos if framing.done else 0), written


def whole_chunked_body(first: bytes) -> tuple[bytes, int] | None:
    """If `first` holds a whole chunked body: what goes to the client (trailers dropped, the
    last chunk written anew) and how many bytes came after its end; else None."""
    data = bytearray(first)
    framing = ChunkedFraming()
    ready = framing.scan(data, len(data))
    if not framing.done:
        return None
    return bytes(data[:ready]) + LAST_CHUNK, len(data) - framing.pos


class ChunkedFraming:
    """Where a chunked body ends, found in the bytes as they pass through a buffer.

    `scan(data, end)` looks at the bytes read since the last call (up to `end`)
    and returns how far the buffer may be sent on: whole chunk-size lines and
    chunk data. A size line is held back until it is whole (it may be the last
    one); the last-chunk line and the trailers never go. `done` once the empty
    line after the trailers is read; `pos` is then where the body ended.
    `shift(n)`: the buffer's first n bytes were dropped.
    """

    def __init__(self):
        self.pos = 0  # next byte to look at
        self.ready = 0  # bytes before this may be sent on
        self.line_start = 0  # the size or trailer line being read
        self.state = "size"  # size | data | crlf | trailers
        self.left = 0  # data bytes, or bytes of the CRLF after them, still to come
        self.trailer_bytes = 0
        self.done = False

    def shift(self, n: int) -> None:
        self.pos -= n
        self.ready -= n
        self.line_start -= n

    def scan(self, data, end: int) -> int:
        while self.pos < end and not self.done:
            if self.state == "data":
                n = min(self.left, end - self.pos)
                self.pos, self.left = self.pos + n, self.left - n
                if not self.left:
                    self.state, self.left = "crlf", 2
                self.ready = self.pos
            elif self.state == "crlf":
                if data[self.pos] != b"\r\n"[2 - self.left]:
                    raise BadChunking("chunk data not followed by CRLF")
                self.pos, self.left = self.pos + 1, self.left - 1
                if not self.left:
                    self.state, self.line_start = "size", self.pos
                self.ready = self.pos
            elif (line := self._line(data, end)) is not None:
                self._line_read(line)
        return self.ready

    def _line(self, data, end: int) -> bytes | None:
        """The CRLF-ended line from `line_start`, once it is whole (pos moves past it)."""
        crlf = data.find(b"\r\n", max(self.line_start, self.pos - 1), end)
        if crlf < 0:
            self.pos = end
            self._check_length(end - self.line_start)
            return None
        self.pos = crlf + 2
        self._check_length(self.pos - self.line_start)
        return bytes(data[self.line_start : crlf])

    def _check_length(self, n: int) -> None:
        if self.state == "size" and n > MAX_CHUNK_LINE:
            raise BadChunking("chunk-size line too long")
        if self.state == "trailers" and self.trailer_bytes + n > MAX_TRAILERS:
            raise BadChunking("trailers too long")

    def _line_read(self, line: bytes) -> None:
        if self.state == "trailers":
            self.trailer_bytes += len(line) + 2
            self.done = not line
            self.line_start = self.pos
            return
        m = CHUNK_LINE.fullmatch(line)
        if m is None:  # what a laxer parser after us would read otherwise (bare LF in an extension)
            raise BadChunking(f"bad chunk-size line {line[:40]!r}")
        size = int(m.group(1), 16)
        if size:
            self.state, self.left, self.ready = "data", size, self.pos
        else:
            self.state, self.line_start = "trailers", self.pos  # ready stays before the last-chunk line


def _watch(poller: select.poll, watched: dict[int, int], want: dict[int, int]) -> None:
    """Make `poller` watch exactly `want` (besides the stop pipe), touching only what changed."""
    for fd in [fd for fd in watched if fd not in want]:
        poller.unregister(fd)
        del watched[fd]
    for fd, events in want.items():
        if watched.get(fd) != events:
            (poller.modify if fd in watched else poller.register)(
                fd, events | select.POLLERR | select.POLLHUP
            )
            watched[fd] = events
