"""The port proxy's connections to apps (`serverext/upstream.py`): how many open at once, how long an answer may take."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from tornado.httputil import HTTPHeaders

from jupyterhub_sessions.serverext.upstream import AppExchange, UpstreamPool


class FakeStream:
    def __init__(self, n: int):
        self.n = n
        self.closed_ = False

    def closed(self):
        return self.closed_

    def close(self):
        self.closed_ = True


def counting_pool(limit: int, connect_seconds: float) -> tuple[UpstreamPool, dict]:
    pool = UpstreamPool(max_connecting_per_app=limit)
    seen = {"now": 0, "most": 0, "opened": 0}

    async def fake_open(host, port, unix_socket, timeout):
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        await asyncio.sleep(connect_seconds)
        seen["now"] -= 1
        seen["opened"] += 1
        return FakeStream(seen["opened"])

    pool._open = fake_open  # the TCP side is tested through the proxy (test_streamproxy)
    return pool, seen


def test_a_burst_opens_a_few_connections_at_a_time():
    pool, seen = counting_pool(limit=3, connect_seconds=0.02)

    async def main():
        return await asyncio.gather(*(pool.connect("127.0.0.1", 9, reuse=False) for _ in range(20)))

    results = asyncio.run(main())
    assert len(results) == 20 and all(not reused for _, reused in results)
    assert seen["most"] == 3
    assert seen["opened"] == 20
    assert pool._gates == {}  # nothing kept per app once the burst is over


def test_a_waiting_request_takes_a_connection_released_meanwhile(monkeypatch):
    pool, seen = counting_pool(limit=1, connect_seconds=0.2)
    monkeypatch.setattr("jupyterhub_sessions.serverext.upstream._alive", lambda stream: True)
    done_with = FakeStream(99)  # another request's connection, kept alive

    async def main():
        first = asyncio.ensure_future(pool.connect("127.0.0.1", 9))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(pool.connect("127.0.0.1", 9))  # waits for its turn
        await asyncio.sleep(0.01)
        pool.release(pool.key("127.0.0.1", 9), done_with)
        return await first, await second

    (first, first_reused), (second, second_reused) = asyncio.run(main())
    assert (first.n, first_reused) == (1, False)
    assert second is done_with and second_reused
    assert seen["opened"] == 1


def test_waiting_for_a_turn_counts_against_the_connect_timeout():
    pool, seen = counting_pool(limit=1, connect_seconds=5)

    async def main():
        return await asyncio.gather(
            *(pool.connect("127.0.0.1", 9, timeout=0.3, reuse=False) for _ in range(3)),
            return_exceptions=True,
        )

    results = asyncio.run(main())
    assert all(isinstance(r, TimeoutError) for r in results), results


def test_a_real_connection_is_opened_and_kept_for_reuse():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        pool = UpstreamPool()

        async def main():
            stream, reused = await pool.connect("127.0.0.1", port)
            assert not reused
            pool.release(pool.key("127.0.0.1", port), stream)
            again, reused = await pool.connect("127.0.0.1", port)
            pool.close()
            return again is stream, reused

        assert asyncio.run(main()) == (True, True)


@pytest.mark.parametrize("limit", [1, 4])
def test_the_gate_lets_everyone_through_in_the_end(limit):
    pool, seen = counting_pool(limit=limit, connect_seconds=0)

    async def main():
        return await asyncio.gather(*(pool.connect("127.0.0.1", 9, reuse=False) for _ in range(50)))

    assert len(asyncio.run(main())) == 50
    assert seen["most"] <= limit


async def exchange_with(answer_after: float | None, timeout: float, then_wait: float = 0.0):
    """One GET to an app that answers after `answer_after` seconds (None: never); what the proxy saw."""

    async def app(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        if answer_after is not None:
            await asyncio.sleep(answer_after)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await asyncio.sleep(timeout + then_wait + 1)

    server = await asyncio.start_server(app, "127.0.0.1", 0)
    pool = UpstreamPool()
    try:
        stream, _ = await pool.connect("127.0.0.1", server.sockets[0].getsockname()[1])
        exchange = AppExchange(stream)
        exchange.send_head("GET", "/", HTTPHeaders({"Host": "app"}), b"", streamed=False)
        try:
            start, _ = await exchange.read_head(timeout)
            body = await exchange.read_small_body()
            outcome = (start.code, body)
        except TimeoutError as e:
            outcome = ("timeout", str(e))
        await asyncio.sleep(then_wait)
        return outcome, stream.closed()
    finally:
        pool.close()
        server.close()


def test_an_app_that_never_answers_times_out_and_its_connection_is_dropped():
    (kind, message), closed = asyncio.run(exchange_with(None, timeout=0.3))
    assert kind == "timeout" and "0.3 s" in message
    assert closed  # never reused: its answer could still come and be taken for the next one's


def test_an_answer_in_time_leaves_the_connection_open_after_the_timeout():
    outcome, closed = asyncio.run(exchange_with(0.05, timeout=0.3, then_wait=0.5))
    assert outcome == (200, b"ok")
    assert not closed  # the timer went with the answer


def test_an_answer_that_came_in_time_wins_over_a_busy_loop():
    """The head arrives before the deadline, but another handler holds the loop past it: the
    read and the timer fall due in one turn, and the answer must win."""

    def app(server):
        conn, _ = server.accept()
        conn.recv(65536)
        time.sleep(0.1)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(2)
        conn.close()

    async def main(port):
        pool = UpstreamPool()
        try:
            stream, _ = await pool.connect("127.0.0.1", port)
            exchange = AppExchange(stream)
            exchange.send_head("GET", "/", HTTPHeaders({"Host": "app"}), b"", streamed=False)
            asyncio.get_running_loop().call_later(0.05, time.sleep, 0.5)  # another handler holds the loop
            start, _ = await exchange.read_head(0.3)
            return start.code, await exchange.read_small_body(), stream.closed()
        finally:
            pool.close()

    with socket.create_server(("127.0.0.1", 0)) as server:
        threading.Thread(target=app, args=(server,), daemon=True).start()
        assert asyncio.run(main(server.getsockname()[1])) == (200, b"ok", False)
