"""hubservice: what both hub services take from the hub's environment, and their JSON errors."""

from __future__ import annotations

import logging

import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from jupyterhub_sessions.hubservice import JSONHandlerMixin
from jupyterhub_sessions.service.app import SessionsService
from jupyterhub_sessions.ssh.app import SSHService

HUB_ENV = {
    "JUPYTERHUB_SERVICE_NAME": "gw",
    "JUPYTERHUB_API_URL": "http://hub:8081/hub/api",
    "JUPYTERHUB_API_TOKEN": "secret-token",
    "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:9999",
    "JUPYTERHUB_SERVICE_PREFIX": "/base/services/gw",
    "JUPYTERHUB_BASE_URL": "/base/",
}


@pytest.mark.parametrize("cls", [SessionsService, SSHService])
def test_both_services_take_the_same_settings_from_the_hub(monkeypatch, cls):
    for key, value in HUB_ENV.items():
        monkeypatch.setenv(key, value)
    app = cls()
    assert (app.service_name, app.hub_api_url, app.api_token) == (
        "gw",
        "http://hub:8081/hub/api",
        "secret-token",
    )
    assert (app.bind_url, app.service_prefix, app.hub_base_url) == (
        "http://127.0.0.1:9999",
        "/base/services/gw/",  # always with its slash
        "/base/",
    )
    # one log setup: the package's logger, whatever module logs
    assert app.log is logging.getLogger("jupyterhub_sessions")


@pytest.mark.parametrize("cls, name", [(SessionsService, "sessions"), (SSHService, "ssh")])
def test_without_the_hub_each_has_its_own_defaults(monkeypatch, cls, name):
    for key in HUB_ENV:
        monkeypatch.delenv(key, raising=False)
    app = cls()
    assert app.service_name == name and app.service_prefix == f"/services/{name}/"
    app.initialize([f"--{cls.__name__}.bind_url=http://0.0.0.0:8282"])
    assert app.bind_url == "http://0.0.0.0:8282"


class Hostile(JSONHandlerMixin, web.RequestHandler):
    def post(self):
        self.write_json({"got": self.parse_json_object(self.request.body)}, 201)

    def get(self):
        raise RuntimeError("internal detail that must not leak")


@pytest.fixture
async def json_app():
    sock, port = bind_unused_port()
    server = HTTPServer(web.Application([("/", Hostile)]))
    server.add_sockets([sock])
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.stop()


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b'{"a": 1}', 201, None),
        (b"", 201, None),
        (b"[1]", 400, "Request body must be a JSON object"),
        (b"{nope", 400, "Request body is not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, 400, "Request body is not valid JSON"),
        (b"x" * (64 * 1024 + 1), 413, "Request body is larger than 65536 bytes"),
    ],
)
async def test_json_bodies_and_errors(json_app, body, status, message):
    r = await AsyncHTTPClient().fetch(json_app, method="POST", body=body, raise_error=False)
    assert r.code == status
    if message:
        assert r.headers["Connection"] == "close"
        assert __import__("json").loads(r.body) == {"status": status, "message": message}


async def test_an_unexpected_error_says_only_its_status(json_app):
    r = await AsyncHTTPClient().fetch(json_app, raise_error=False)
    assert r.code == 500 and b"internal detail" not in r.body
    assert r.body == b'{"status": 500, "message": "Internal Server Error"}'
