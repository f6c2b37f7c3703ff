"""hubapi: the one hub API client, against a small in-process stand-in for the hub."""

from __future__ import annotations

import asyncio
import socket

import pytest
from tornado import web
from tornado.httpserver import HTTPServer

from jupyterhub_sessions.hubapi import PAGINATION, HubAPI, HubAPIError, server_path

TOKEN = "t0ken"


class FakeHub(web.RequestHandler):
    def prepare(self):
        if self.request.headers.get("Authorization") != f"token {TOKEN}":
            raise web.HTTPError(403)
        self.settings["seen"].append(
            (self.request.method, self.request.uri, self.request.headers.get("Accept"))
        )

    def write_error(self, status_code, **kwargs):
        self.finish({"status": status_code, "message": f"fake says {status_code}"})

    async def get(self, path):
        if path == "users":
            self.settings["active"][0] += 1
            self.settings["active"][1] = max(self.settings["active"])
            await asyncio.sleep(0.01)
            self.settings["active"][0] -= 1
            offset, limit = int(self.get_argument("offset", "0")), int(self.get_argument("limit"))
            names = [f"u{i}" for i in range(offset, min(offset + limit, 5))]
            nxt = {"offset": offset + limit, "limit": limit} if offset + limit < 5 else None
            self.finish({"items": [{"name": n} for n in names], "_pagination": {"next": nxt}})
        elif path == "plain":
            self.finish(b'[{"name": "a"}, {"name": "b"}]')
        elif path == "broken":
            self.finish(b"<html>not json</html>")
        else:
            raise web.HTTPError(404)

    def delete(self, path):
        self.set_status(204)


@pytest.fixture
async def hub():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    seen: list = []
    active = [0, 0]
    server = HTTPServer(web.Application([(r"/hub/api/(.*)", FakeHub)], seen=seen, active=active))
    server.add_sockets([sock])
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/hub/api"
    try:
        yield url, seen, active
    finally:
        server.stop()


def test_server_path_escapes_names_and_has_the_default_server_endpoint():
    assert server_path("alice", "") == "users/alice/server"
    assert server_path("a/../b", "x?y") == "users/a%2F..%2Fb/servers/x%3Fy"


async def test_a_refusal_keeps_the_hubs_status_and_message(hub):
    url, _, _ = hub
    with pytest.raises(HubAPIError) as e:
        await HubAPI(url, TOKEN).fetch("users/nobody")
    assert (e.value.status, e.value.message) == (404, "fake says 404")
    with pytest.raises(HubAPIError) as e:
        await HubAPI(url, "wrong").fetch("users")
    assert e.value.status == 403


async def test_allowed_statuses_are_returned_not_raised(hub):
    url, _, _ = hub
    api = HubAPI(url, TOKEN)
    assert await api.fetch("users/nobody", allow=(404,)) == (404, {"status": 404, "message": "fake says 404"})
    assert (await api.fetch("users/nobody", allow=True))[0] == 404
    assert await api.fetch("users/x", "DELETE", body={"remove": True}) == (204, None)


async def test_an_answer_that_is_not_json_and_an_unreachable_hub_are_502(hub):
    url, _, _ = hub
    with pytest.raises(HubAPIError) as e:
        await HubAPI(url, TOKEN).fetch("broken")
    assert e.value.status == 502 and "invalid JSON" in e.value.message
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HubAPIError) as e:
        await HubAPI(f"http://127.0.0.1:{port}/hub/api", TOKEN, request_timeout=5).fetch("users")
    assert e.value.status == 502 and "unreachable" in e.value.message


async def test_every_page_is_read_by_offset_with_the_pagination_header(hub):
    url, seen, _ = hub
    names = [
        u["name"] async for u in HubAPI(url, TOKEN).fetch_paginated("users", {"state": "active"}, page_size=2)
    ]
    assert names == ["u0", "u1", "u2", "u3", "u4"]
    assert [s[1] for s in seen] == [
        "/hub/api/users?state=active&limit=2",
        "/hub/api/users?state=active&limit=2&offset=2",
        "/hub/api/users?state=active&limit=2&offset=4",
    ]
    assert {s[2] for s in seen} == {PAGINATION}


async def test_a_hub_without_pagination_gives_its_whole_list(hub):
    url, _, _ = hub
    assert [u["name"] async for u in HubAPI(url, TOKEN).fetch_paginated("plain")] == ["a", "b"]


async def test_concurrency_bounds_the_requests_in_flight(hub):
    url, _, active = hub
    api = HubAPI(url, TOKEN, concurrency=2)
    try:
        await asyncio.gather(*(api.fetch("users?limit=1") for _ in range(8)))
    finally:
        api.close()
    assert active[1] == 2 and api.requests == 8
