"""The port proxy's body mover on a thread of its own (`serverext/sockrelay.py`), on socket pairs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import struct
import threading
import time

import pytest
from tornado.iostream import IOStream

from jupyterhub_sessions.serverext.sockrelay import (
    MAX_THREADS,
    BadChunking,
    ChunkedFraming,
    ChunkedRelay,
    SocketRelay,
    SourceClosed,
)
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


# ---- chunked answers -------------------------------------------------------------------------


def chunked(pieces: list[bytes], ext: bytes = b"", trailers: bytes = b"") -> bytes:
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(p), ext, p) for p in pieces)
    return body + b"0" + ext + b"\r\n" + trailers + b"\r\n"


def scan_in_pieces(wire: bytes, cuts: list[int]) -> tuple[bytes, int]:
    """What ChunkedFraming lets through when `wire` arrives cut at `cuts`, and where it ended."""
    data = bytearray(wire)
    framing, out, sent = ChunkedFraming(), b"", 0
    for end in [*cuts, len(wire)]:
        ready = framing.scan(data, end)
        out, sent = out + bytes(data[sent:ready]), ready
        if framing.done:
            break
    assert framing.done
    return out, framing.pos


@pytest.mark.parametrize("seed", range(20))
def test_chunk_framing_finds_the_end_wherever_the_reads_cut(seed):
    rng = random.Random(seed)
    pieces = [rng.randbytes(rng.randint(1, 3000)) for _ in range(rng.randint(1, 8))]
    ext = rng.choice([b"", b";name=value", b' ; q="x;y"'])
    trailers = rng.choice([b"", b"Digest: sha-256=abc\r\n", b"A: 1\r\nB: 2\r\n"])
    wire = chunked(pieces, ext, trailers)
    cuts = sorted(rng.sample(range(1, len(wire)), min(len(wire) - 1, rng.randint(0, 40))))
    out, end = scan_in_pieces(wire + b"HTTP/1.1 200 OK", cuts)
    assert out == wire[: wire.rindex(b"0" + ext + b"\r\n" + trailers + b"\r\n")]  # all but the last chunk
    assert end == len(wire)  # the next answer's bytes are not the body's


@pytest.mark.parametrize(
    "wire, error",
    [
        (b"zz\r\nab\r\n0\r\n\r\n", "bad chunk-size line"),
        (b"+2\r\nab\r\n0\r\n\r\n", "bad chunk-size line"),
        (b"0x2\r\nab\r\n0\r\n\r\n", "bad chunk-size line"),
        (b"1_0\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n", "bad chunk-size line"),
        # what a laxer parser after the proxy would split differently: bare LF, CR or NUL in an extension
        (b"1;x\nZ\n0\n\nHTTP/1.1 200 OK\r\n\r\n", "bad chunk-size line"),
        (b"1;x\rZ\r\nZ\r\n0\r\n\r\n", "bad chunk-size line"),
        (b"1;x=\x00\r\nZ\r\n0\r\n\r\n", "bad chunk-size line"),
        (b"2\r\nabX\r\n0\r\n\r\n", "not followed by CRLF"),
        (b"1" * 2000, "too long"),
        (b"0\r\n" + b"A: b\r\n" * 20000, "trailers too long"),
    ],
)
def test_chunk_framing_refuses_what_is_not_chunked(wire, error):
    with pytest.raises(BadChunking, match=error):
        ChunkedFraming().scan(bytearray(wire), len(wire))


def chunked_relay(src, dst, first=b""):
    async def main():
        return await ChunkedRelay(src.fileno(), dst.fileno(), first).run()

    return asyncio.run(main())


def test_a_chunked_body_goes_on_as_chunked_without_trailers_and_stops_at_its_end():
    app, src, dst, client = pairs()
    pieces = [pattern(3 * MiB + 5), b"x" * 17, pattern(MiB)]
    wire = chunked(pieces, b";e=1", b"Set-Cookie: jupyterhub-session-id=evil\r\n")
    send_all(app, wire[100:] + b"next answer")
    got = []
    expected = chunked(pieces, b";e=1")[: -len(b"0;e=1\r\n\r\n")] + b"0\r\n\r\n"
    reader = read_n(client, len(expected), got)
    extra, written = chunked_relay(src, dst, first=wire[:100])
    reader.join(10)
    assert got == [len(expected), hashlib.sha256(expected).hexdigest()]
    assert written == len(expected)
    assert extra == len(b"next answer")  # read past the end: that connection is not reused


def test_a_chunked_body_cut_off_or_malformed_fails():
    app, src, dst, client = pairs()
    send_all(app, b"10\r\nonly part", then_close=True)
    with pytest.raises(SourceClosed):
        chunked_relay(src, dst)
    app, src, dst, client = pairs()
    send_all(app, b"4\r\nabcd\r\nnope\r\n")
    with pytest.raises(BadChunking):
        chunked_relay(src, dst)


# ---- which side failed, and the stop pipe ------------------------------------------------------


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        near = socket.create_connection(server.getsockname())
        far, _ = server.accept()
    return near, far


def test_a_source_that_resets_is_told_apart_from_a_destination_that_fails():
    """A reset from the app must not pass for the client leaving (the proxy would end the
    client's answer as if it were whole)."""
    src, app = tcp_pair()
    dst, client = socket.socketpair()
    src.setblocking(False)
    dst.setblocking(False)
    app.sendall(b"x" * 1000)
    app.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    app.close()  # a reset, not an orderly end
    with pytest.raises(SourceClosed):
        relay_all(src, dst, 10 * MiB)


def test_stop_after_the_relay_ended_writes_to_no_other_socket():
    """A late stop() (the client left as the transfer ended) must not write into whatever
    socket reused the number of the relay's stop pipe."""
    app, src, dst, client = pairs()
    app.sendall(b"hello")

    async def main():
        relay = SocketRelay(src.fileno(), dst.fileno(), 5)
        task = asyncio.ensure_future(relay.run())
        await asyncio.sleep(0)
        time.sleep(0.3)  # the loop is busy: the thread ends meanwhile
        newcomers = [socket.socketpair() for _ in range(4)]  # e.g. clients accepted meanwhile
        relay.stop()
        await task
        for a, b in newcomers:
            for end in (a, b):
                end.setblocking(False)
                with pytest.raises(BlockingIOError):
                    end.recv(10)
        return relay

    asyncio.run(main())


def test_relays_are_counted_and_capped():
    """Past MAX_THREADS relays at once the proxy uses the event loop; a relay that ends (even
    failing) gives its place back, or relays would stop for good."""
    before = SocketRelay.active
    app, src, dst, client = pairs()
    app.sendall(b"x" * 10)
    app.close()
    with pytest.raises(SourceClosed):
        relay_all(src, dst, 100)
    app, src, dst, client = pairs()
    app.sendall(b"y" * 100)
    assert relay_all(src, dst, 100) == (0, 100)
    assert SocketRelay.active == before
    SocketRelay.active = MAX_THREADS
    try:
        assert not SocketRelay.available()
    finally:
        SocketRelay.active = before
    assert SocketRelay.available()
