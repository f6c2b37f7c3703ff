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
import os
import select
import threading
import time
from collections.abc import Callable

# bytes in flight per transfer: 1 MiB moved 10-20% less per second, 4 MiB no more
BUFFER_BYTES = 2 * 1024 * 1024
ACTIVITY_EVERY = 1.0  # seconds between activity reports during a long transfer


class SourceClosed(Exception):
    """The source socket ended before `left` bytes came."""


class SocketRelay:
    """Move `left` bytes from `src_fd` to `dst_fd` (both sockets, left open) on a thread.

    `await run()` returns (bytes not moved, bytes written to `dst_fd`); raises
    SourceClosed if the source ended early and OSError (BrokenPipeError,
    ConnectionResetError, ...) if the destination failed. After `stop()` it
    returns early with what was left.
    """

    def __init__(self, src_fd: int, dst_fd: int, left: int, on_activity: Callable[[], None] | None = None):
        self.left = left
        self.taken = 0  # bytes read from the source so far, whatever the outcome
        self.on_activity = on_activity
        self._src = os.dup(src_fd)
        self._dst = os.dup(dst_fd)
        self._stop_r, self._stop_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None

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
        thread.start()
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
            for fd in (self._src, self._dst, self._stop_r, self._stop_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            self._loop.call_soon_threadsafe(_settle, done, result, error)

    def _move(self) -> tuple[int, int]:
        buf = memoryview(bytearray(BUFFER_BYTES))
        left, start, end, written = self.left, 0, 0, 0
        poller = select.poll()
        poller.register(self._stop_r, select.POLLIN)
        watched: dict[int, int] = {}
        last_report = time.monotonic()
        while left or end > start:
            moved = 0
            if left and end < BUFFER_BYTES:
                with contextlib.suppress(BlockingIOError):
                    n = os.readv(self._src, [buf[end : end + min(left, BUFFER_BYTES - end)]])
                    if n == 0:
                        raise SourceClosed()
                    left, end, moved = left - n, end + n, n
                    self.taken += n
            if end > start:
                with contextlib.suppress(BlockingIOError):
                    n = os.write(self._dst, buf[start:end])
                    start, written, moved = start + n, written + n, moved + n
                    if start == end:
                        start = end = 0
            if moved:
                last_report = self._report(last_report)
                continue
            want = {}
            if left and end < BUFFER_BYTES:
                want[self._src] = select.POLLIN
            if end > start:
                want[self._dst] = select.POLLOUT
            _watch(poller, watched, want)
            if any(fd == self._stop_r for fd, _ in poller.poll()):
                break
        return left + end - start, written

    def _report(self, last_report: float) -> float:
        """Activity to the event loop, at most every ACTIVITY_EVERY seconds."""
        now = time.monotonic()
        if self.on_activity is None or now - last_report <= ACTIVITY_EVERY:
            return last_report
        self._loop.call_soon_threadsafe(self.on_activity)
        return now


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


def _settle(done: asyncio.Future, result, error) -> None:
    if done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)
