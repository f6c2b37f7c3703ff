"""What the port proxy removes before a request reaches the app (fast; the hub e2e is in tests/security)."""

from __future__ import annotations

import sys

import pytest
import requests
import websocket
from tornado.httputil import HTTPHeaders

from jupyterhub_sessions.serverext.streamproxy import (
    strip_cookie_header,
    strip_credentials,
    strip_query_credentials,
)

from . import bulk_app
from .servertools import free_port, start_jupyter_server, start_process

SESSION = {"session_type": "notebook", "collaborative": False, "interface": {"kind": "lab"}}


def test_hub_cookies_go_the_apps_stay():
    value = (
        "jupyterhub-session-id=a; app=1; jupyterhub-user-x-s=b;__Host-jupyterhub-user-y=c; _xsrf=d; other=2"
    )
    assert strip_cookie_header(value) == "app=1; _xsrf=d; other=2"
    # the server's own login cookie (non-hub jupyter-server) goes by exact name and prefix
    assert (
        strip_cookie_header("username-127-0-0-1-8888=e; app=1", frozenset({"username-127-0-0-1-8888"}))
        == "app=1"
    )


@pytest.mark.parametrize(
    "query, left",
    [
        ("token=abc", ""),
        ("a=1&token=abc&b=2", "a=1&b=2"),
        ("TOKEN=abc&%74oken=def&a=1", "a=1"),
        ("tokenizer=1&mytoken=2&a=token", "tokenizer=1&mytoken=2&a=token"),
        ("a=%20b&c", "a=%20b&c"),
    ],
)
def test_token_query_parameters_go_the_rest_stays_byte_for_byte(query, left):
    assert strip_query_credentials(query) == left


def test_token_and_bearer_authorization_go_other_schemes_stay():
    for value in ("token abc", "Bearer abc", "TOKEN abc"):
        headers = HTTPHeaders({"Authorization": value, "Cookie": "jupyterhub-session-id=x"})
        strip_credentials(headers)
        assert "Authorization" not in headers and "Cookie" not in headers
    headers = HTTPHeaders({"Authorization": "Basic YTpi", "Referer": "http://h/p?x=1&token=abc#frag"})
    strip_credentials(headers)
    assert headers["Authorization"] == "Basic YTpi"
    assert headers["Referer"] == "http://h/p?x=1#frag"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("creds")
    port = free_port()
    app = start_process([sys.executable, bulk_app.__file__, str(port)], port, tmp, "recorder")
    server = start_jupyter_server(tmp / "server", SESSION)
    yield server, app
    server.stop()
    app.stop()


def recorded(app):
    return requests.get(f"http://127.0.0.1:{app.port}/recorded", timeout=10).json()["requests"]


def test_the_app_gets_no_token_or_login_cookie_on_http_and_websockets(setup):
    server, app = setup
    requests.delete(f"http://127.0.0.1:{app.port}/recorded", timeout=10)
    base = f"{server.url}proxy/{app.port}/"
    cookie = "jupyterhub-user-someone=c; jupyterhub-session-id=s; app=1"
    r = requests.get(
        base + f"echo/x?token={server.token}&a=1",
        headers={"Authorization": f"token {server.token}", "Cookie": cookie},
        timeout=10,
    )
    assert r.status_code == 200
    ws = websocket.create_connection(
        base.replace("http://", "ws://") + f"ws?token={server.token}",
        header=[f"Authorization: token {server.token}", f"Cookie: {cookie}"],
        timeout=10,
    )
    ws.close()
    entries = recorded(app)
    assert [e["kind"] for e in entries] == ["http", "websocket"]
    for entry in entries:
        assert server.token not in str(entry)
        assert entry["cookies"] == ["app"]
        assert "token" not in entry["query"]
    assert entries[0]["query"] == "a=1"


def test_the_app_cannot_set_cookies_with_the_hubs_names(setup):
    server, app = setup
    r = requests.get(
        f"{server.url}proxy/{app.port}/set-cookies",
        headers={"Authorization": f"token {server.token}"},
        timeout=10,
    )
    assert r.status_code == 200
    set_cookies = r.raw.headers.getlist("Set-Cookie")
    assert "app-session=kept; Path=/" in set_cookies
    assert [c for c in set_cookies if c.startswith("jupyterhub-")] == []
