"""The port proxy's body mover on a thread of its own (`serverext/sockrelay.py`), on socket pairs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import threading

import pytest
from tornado.iostream import IOStream

from jupyterhub_sessions.serverext.sockrelay import SocketRelay, SourceClosed
from jupyterhub_sessions.serverext.streamproxy import _stop_listening

MiB = 1024 * 1024


def pattern(n: int) -> bytes:
    return (b"0123456789abcdef" * (n // 16 + 1))[:n]


def pairs():
    """(app end, proxy's app side) and (proxy's client side, client end); the proxy's ends non-blocking."""
    app, src = socket.socketpair()
    dst, client = socket.socketpair()
    src.setblocking(False)
    dst.setblocking(False)
    return app, src, dst, client


def relay_all(src: socket.socket, dst: socket.socket, n: int) -> tuple[int, int]:
    """Run one SocketRelay of `n` bytes to its end on a fresh event loop."""

    async def main():
        return await SocketRelay(src.fileno(), dst.fileno(), n).run()

    return asyncio.run(main())


def send_all(sock: socket.socket, data: bytes, then_close: bool = False) -> threading.Thread:
    def run():
        with contextlib.suppress(OSError):  # a test that ends the transfer early closes the far end
            sock.sendall(data)
        if then_close:
            sock.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def read_n(sock: socket.socket, n: int, out: list) -> threading.Thread:
    def run():
        h, got = hashlib.sha256(), 0
        while got < n:
            try:
                chunk = sock.recv(MiB)
            except OSError:
                break
            if not chunk:
                break
            h.update(chunk)
            got += len(chunk)
        out.extend([got, h.hexdigest()])

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_moves_exactly_the_bytes_asked_and_leaves_the_rest():
    app, src, dst, client = pairs()
    body, extra = pattern(40 * MiB), b"next answer"
    send_all(app, body + extra)
    got = []
    reader = read_n(client, len(body), got)

    assert relay_all(src, dst, len(body)) == (0, len(body))
    reader.join(10)
    assert got == [len(body), hashlib.sha256(body).hexdigest()]
    # what follows the body stays in the app's socket for the next exchange; both sockets stay open
    src.setblocking(True)
    assert src.recv(100) == extra
    dst.sendall(b"still open")
    assert client.recv(100) == b"still open"


def test_source_ending_early_is_an_error():
    app, src, dst, client = pairs()
    send_all(app, pattern(MiB), then_close=True)
    read_n(client, 2 * MiB, [])

    with pytest.raises(SourceClosed):
        relay_all(src, dst, 2 * MiB)


def test_destination_gone_is_an_oserror():
    app, src, dst, client = pairs()
    send_all(app, pattern(8 * MiB))
    client.close()

    with pytest.raises(OSError):
        relay_all(src, dst, 8 * MiB)


def test_stop_ends_a_waiting_transfer_at_once():
    app, src, dst, client = pairs()
    send_all(app, pattern(MiB))  # the app then goes quiet: the relay waits for more
    read_n(client, 4 * MiB, [])

    async def main():
        relay = SocketRelay(src.fileno(), dst.fileno(), 4 * MiB)
        task = asyncio.ensure_future(relay.run())
        await asyncio.sleep(0.3)
        assert not task.done()
        relay.stop()
        return await asyncio.wait_for(task, 5)

    not_moved, written = asyncio.run(main())
    assert not_moved == 3 * MiB
    assert written == MiB


def test_activity_is_reported_on_the_event_loop():
    app, src, dst, client = pairs()
    seen = []
    send_all(app, pattern(MiB))

    async def main():
        loop_thread = threading.get_ident()
        relay = SocketRelay(src.fileno(), dst.fileno(), 2 * MiB, lambda: seen.append(threading.get_ident()))
        task = asyncio.ensure_future(relay.run())
        read_n(client, 2 * MiB, [])
        await asyncio.sleep(1.3)  # > ACTIVITY_EVERY with bytes moving at both ends of it
        app.sendall(pattern(MiB))
        await asyncio.wait_for(task, 5)
        return loop_thread

    loop_thread = asyncio.run(main())
    assert seen and set(seen) == {loop_thread}


def test_tornado_no_longer_reads_a_socket_being_relayed():
    """An idle tornado stream listens on its socket (to see it close) and reads whatever comes into
    its own buffer: bytes a relay waits for. The proxy takes the socket out of the loop first."""
    app, src, dst, client = pairs()

    async def main():
        stream = IOStream(src)
        head = stream.read_until(b"\r\n\r\n")  # waits in the loop, as for an app's answer
        await asyncio.sleep(0.05)
        app.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
        await head
        await asyncio.sleep(0.05)  # tornado now listens on the idle stream
        _stop_listening(stream)
        app.sendall(b"body bytes")
        await asyncio.sleep(0.2)
        return stream._read_buffer_size  # noqa: SLF001

    assert asyncio.run(main()) == 0
    src.setblocking(True)
    assert src.recv(100) == b"body bytes"
