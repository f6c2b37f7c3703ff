"""HubClient against a small in-process stand-in for the hub API and the sessions service."""

from __future__ import annotations

import json
import socket

import pytest
from tornado import web
from tornado.httpserver import HTTPServer

from jupyterhub_sessions.serverext.hubclient import HubClient, HubError

TOKEN = "server-token"


class FakeHub(web.RequestHandler):
    def check_auth(self):
        if self.request.headers.get("Authorization") != f"token {TOKEN}":
            raise web.HTTPError(403)

    def write_error(self, status_code, **kwargs):
        self.finish({"status": status_code, "message": f"fake says {status_code}"})

    def get(self, path):
        self.check_auth()
        self.application.settings["seen"].append(self.request.uri)
        if path.startswith("shares/"):
            offset = int(self.get_argument("offset", "0"))
            items = [{"kind": "user", "user": {"name": f"u{i}"}} for i in range(offset, min(offset + 2, 5))]
            nxt = {"offset": offset + 2} if offset + 2 < 5 else None
            self.finish(
                {"items": items, "_pagination": {"offset": offset, "limit": 2, "total": 5, "next": nxt}}
            )
        elif path == "services/sessions":
            port = self.application.settings["port"]
            self.finish(
                {"name": "sessions", "url": f"http://127.0.0.1:{port}", "prefix": "/services/sessions/"}
            )
        elif path.startswith("services/sessions/api/sessions/"):
            self.finish({"name": path.rsplit("/", 1)[-1], "expires_at": None})
        else:
            raise web.HTTPError(404)

    def patch(self, path):
        self.check_auth()
        self.application.settings["seen"].append((self.request.method, self.request.uri, self.request.body))
        raise web.HTTPError(400)


@pytest.fixture
async def fake_hub():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    seen = []
    app = web.Application([(r"/(?:hub/api/)?(.*)", FakeHub)], seen=seen, port=port)
    server = HTTPServer(app)
    server.add_sockets([sock])
    try:
        yield port, seen
    finally:
        server.stop()


def _client(port, token=TOKEN):
    return HubClient(f"http://127.0.0.1:{port}/hub/api", token, "alice", "work", timeout=5)


async def test_all_pages_of_shares_are_read(fake_hub):
    port, seen = fake_hub
    shares = await _client(port).list_shares()
    assert [s["user"]["name"] for s in shares] == ["u0", "u1", "u2", "u3", "u4"]
    assert all(u.startswith("/hub/api/shares/alice/work?") for u in seen)


async def test_service_is_found_through_the_hub(fake_hub):
    port, seen = fake_hub
    timing = await _client(port).session_timing()
    assert timing == {"name": "work", "expires_at": None}
    assert "/hub/api/services/sessions" in seen
    assert "/services/sessions/api/sessions/alice/work" in seen


async def test_hub_refusals_keep_their_status_and_message(fake_hub):
    port, seen = fake_hub
    with pytest.raises(HubError) as e:
        await _client(port).revoke_share("user", "bob")
    assert e.value.status == 400
    assert e.value.message == "fake says 400"
    assert seen[-1] == ("PATCH", "/hub/api/shares/alice/work", b'{"user": "bob"}')


async def test_wrong_token_is_a_refusal_not_a_crash(fake_hub):
    port, _ = fake_hub
    with pytest.raises(HubError) as e:
        await _client(port, token="stolen").list_share_codes()
    assert e.value.status == 403


async def test_unreachable_hub_is_502():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HubError) as e:
        await _client(port).list_shares()
    assert e.value.status == 502
    assert "unreachable" in e.value.message


async def test_names_are_escaped_in_paths(fake_hub):
    port, seen = fake_hub
    client = HubClient(f"http://127.0.0.1:{port}/hub/api", TOKEN, "a/../b", "x?y", timeout=5)
    with pytest.raises(HubError):
        await client.revoke_share("user", "bob")
    assert seen[-1][1] == "/hub/api/shares/a%2F..%2Fb/x%3Fy"
    assert json.loads(seen[-1][2]) == {"user": "bob"}
