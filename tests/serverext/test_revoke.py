"""The access re-check's decisions, with a scripted hub (the real hub is in tests/security/test_access_recheck.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from jupyterhub_sessions.serverext import revoke


class FakeHubAuth:
    """Answers like HubAuth: a user model per token, or an error when the hub is down."""

    access_scopes = {"access:servers!server=owner/s"}

    def __init__(self, allowed: set[str], down: bool = False):
        self.allowed = allowed
        self.down = down
        self.asked: list[tuple[str, bool]] = []
        self.cache = {"some": "answer"}

    def get_token(self, handler, in_cookie=True):
        return handler.token

    def get_session_id(self, handler):
        return None

    async def user_for_token(self, token, use_cache=True, session_id=None, sync=True):
        self.asked.append((token, use_cache))
        if self.down:
            raise ConnectionError("hub unreachable")
        scopes = sorted(self.access_scopes) if token in self.allowed else []
        return {"name": token.split("-")[0], "scopes": scopes}

    def check_scopes(self, required, model):
        return set(required) & set(model["scopes"])


class FakeSocket:
    def __init__(self, user: str, token: str):
        self._jupyterhub_user = SimpleNamespace(username=user)
        self.token = token
        self.ws_connection = object()
        self.closed_with = None

    def close(self, code, reason):
        self.closed_with = code
        self.ws_connection = None


@pytest.fixture
def sockets(monkeypatch):
    socks = [
        FakeSocket("owner", "owner-tok"),
        FakeSocket("guest", "guest-tok"),
        FakeSocket("guest", "guest-tok"),  # a second connection with the same token
        FakeSocket("other", "other-tok"),
    ]
    monkeypatch.setattr(revoke, "open_websockets", lambda: [s for s in socks if s.ws_connection])
    return socks


def app(hub_auth):
    return SimpleNamespace(identity_provider=SimpleNamespace(hub_auth=hub_auth))


async def test_lost_access_is_closed_once_per_token_and_the_cache_cleared(sockets):
    hub_auth = FakeHubAuth(allowed={"other-tok"})
    closed = await revoke.close_revoked_connections(app(hub_auth), "owner", "test", clear_cache=False)
    assert closed == 2
    assert [s.closed_with for s in sockets] == [None, 1008, 1008, None]
    # asked the hub without its cache, once per token, never about the owner
    assert sorted(hub_auth.asked) == [("guest-tok", False), ("other-tok", False)]
    assert hub_auth.cache == {}  # a reconnect is asked afresh


async def test_nothing_lost_keeps_connections_and_cache(sockets):
    hub_auth = FakeHubAuth(allowed={"guest-tok", "other-tok"})
    assert await revoke.close_revoked_connections(app(hub_auth), "owner", "test", clear_cache=False) == 0
    assert [s.closed_with for s in sockets] == [None] * 4
    assert hub_auth.cache == {"some": "answer"}


async def test_a_hub_that_cannot_answer_closes_collaborators_not_the_owner(sockets):
    hub_auth = FakeHubAuth(allowed={"guest-tok", "other-tok"}, down=True)
    assert await revoke.close_revoked_connections(app(hub_auth), "owner", "test", clear_cache=False) == 3
    assert [s.closed_with for s in sockets] == [None, 1008, 1008, 1008]


async def test_the_watch_runs_one_pass_at_a_time(sockets, monkeypatch):
    gate = asyncio.Event()
    calls = []

    async def slow_pass(*args, **kwargs):
        calls.append(args)
        await gate.wait()
        return 0

    monkeypatch.setattr(revoke, "close_revoked_connections", slow_pass)
    watch = revoke.AccessWatch(app(FakeHubAuth(set())), "owner", "test", interval=30)
    first = asyncio.ensure_future(watch.check())
    await asyncio.sleep(0)
    assert await watch.check() == 0  # skipped: the first pass still runs
    gate.set()
    await first
    assert len(calls) == 1


async def test_accepted_websockets_are_tracked_without_walking_the_heap():
    from tornado import web, websocket
    from tornado.httpserver import HTTPServer
    from tornado.testing import bind_unused_port

    class Echo(websocket.WebSocketHandler):
        def on_message(self, message):
            self.write_message(message)

    revoke.track_websockets()
    revoke.track_websockets()  # idempotent
    sock, port = bind_unused_port()
    server = HTTPServer(web.Application([(r"/ws", Echo)]))
    server.add_sockets([sock])
    try:
        client = await websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
        await client.write_message("hi")
        assert await client.read_message() == "hi"
        (handler,) = [h for h in revoke.open_websockets() if isinstance(h, Echo)]
        handler.close(1008, "gone")
        assert await client.read_message() is None and client.close_code == 1008
        assert [h for h in revoke.open_websockets() if isinstance(h, Echo)] == []
    finally:
        server.stop()
