"""The server extension inside a real `jupyter server` process (no hub).

Two servers share the module: a collaborative JupyterLab session, and a
non-collaborative web-app session whose app is `python -m http.server`
behind jupyter-server-proxy. Both use token auth; the token plays the role
of the hub's OAuth token (owner).
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
from urllib.parse import urlparse

import pytest
import websocket

from jupyterhub_sessions.serverext.extension import drop_unwritten_debug_records
from jupyterhub_sessions.session_info import SessionInfo

from .servertools import start_http_server, start_jupyter_server, start_ws_echo, wait_until

LAB_INFO = {
    "session_type": "notebook",
    "image": "quay.io/jupyter/scipy-notebook:2025-10-20",
    "cpu": 1.0,
    "memory": "2G",
    "gpu": 0,
    "drive": "home",
    "timeout": 3600,
    "collaborative": True,
    "display_name": "Notebook (JupyterLab)",
    "interface": {"kind": "lab", "name": None, "command": [], "title": None, "url_path": "/", "timeout": 30},
    "server_name": "",
    "service": "sessions",
    "scratch": None,
}

APP_INFO = {
    **LAB_INFO,
    "session_type": "files",
    "collaborative": False,
    "display_name": "File browser app",
    "interface": {
        "kind": "webapp",
        "name": "files",
        "title": "Files app",
        "command": [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
        "url_path": "/",
        "timeout": 30,
    },
    "server_name": "viewer",
}


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    server = start_jupyter_server(tmp_path_factory.mktemp("lab"), LAB_INFO)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    server = start_jupyter_server(tmp_path_factory.mktemp("app"), APP_INFO)
    (server.root / "in-the-app.txt").write_text("served by the web app\n")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http_app(tmp_path_factory):
    proc = start_http_server(tmp_path_factory.mktemp("www"))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ws_app(tmp_path_factory):
    proc = start_ws_echo(tmp_path_factory.mktemp("ws"))
    yield proc
    proc.stop()


# ---- session info -------------------------------------------------------------


def test_session_info_is_what_the_spawner_set(lab_server):
    r = lab_server.get("sessions-api/session")
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["session"] == SessionInfo.model_validate(LAB_INFO).model_dump(mode="json")  # as written
    assert data["collaborative"] is True
    assert data["is_owner"] is True


def test_session_info_without_a_hub_says_why_timing_is_missing(lab_server):
    data = lab_server.get("sessions-api/session").json()
    assert data["timing"] is None
    assert "JupyterHub API token" in data["timing_error"]


@pytest.mark.parametrize("path", ["sessions-api/session", "sessions-api/ports", "sessions-api/shares"])
@pytest.mark.parametrize("token", ["", "not-the-token"])
def test_api_refuses_requests_without_the_servers_auth(lab_server, path, token):
    r = lab_server.get(path, token=token)
    assert r.status_code == 403
    assert "LAB_INFO" not in r.text and '"session"' not in r.text


def test_renew_without_a_hub_is_a_clear_error(lab_server):
    r = lab_server.request("POST", "sessions-api/session/renew")
    assert r.status_code == 503
    assert "JupyterHub API token" in r.json()["message"]


# ---- sharing: input is checked before anything reaches the hub ----------------------


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"expires_in": 5}, "expires_in"),
        ({"expires_in": 10**9}, "expires_in"),
        ({"expires_in": "3600"}, "expires_in"),
        ({"expires_in": True}, "expires_in"),
        ({"expires_in": 3600, "scopes": ["admin:users"]}, "Unknown field"),
    ],
)
def test_share_link_options_are_validated(lab_server, body, needle):
    r = lab_server.request("POST", "sessions-api/share-codes", json=body)
    assert r.status_code == 400
    assert needle in r.json()["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"user": "a", "group": "b"}, {"user": ""}, {"user": 3}, {"user": "a", "scopes": ["x"]}, [1, 2]],
)
def test_share_target_must_be_one_user_or_group(lab_server, body):
    for method in ("POST", "DELETE"):
        r = lab_server.request(method, "sessions-api/shares", json=body)
        assert r.status_code == 400, (method, body, r.text)


def test_invalid_json_is_refused(lab_server):
    r = lab_server.request("POST", "sessions-api/share-codes", data="{not json")
    assert r.status_code == 400
    assert "JSON" in r.json()["message"]


@pytest.mark.parametrize(
    "data, status",
    [
        ("[" * 20_000 + "]" * 20_000, 400),
        ('{"a":' * 50_000 + "1" + "}" * 50_000, 400),
        ('{"expires_in": 1e999}', 400),
        ('{"user": "' + "x" * 2_000_000 + '"}', 413),
    ],
)
def test_hostile_bodies_are_refused_cleanly(lab_server, data, status):
    for method, path in (("POST", "share-codes"), ("DELETE", "shares"), ("POST", "shares")):
        r = lab_server.request(method, "sessions-api/" + path, data=data)
        assert r.status_code == status, (method, path, r.status_code, r.text[:200])
    assert lab_server.get("sessions-api/session").status_code == 200


def test_bad_share_code_id_is_refused(lab_server):
    r = lab_server.request("DELETE", "sessions-api/share-codes?id=../../users")
    assert r.status_code == 400


def test_sharing_without_a_hub_is_a_clear_error(lab_server):
    r = lab_server.request("POST", "sessions-api/share-codes", json={"expires_in": 3600})
    assert r.status_code == 503
    assert "JupyterHub API token" in r.json()["message"]


# ---- collaboration on / off ---------------------------------------------------------


def _page_config(server) -> dict:
    r = server.get("lab")
    assert r.status_code == 200
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', r.text, re.S)
    return json.loads(m.group(1))


def test_collaborative_session_serves_shared_documents(lab_server):
    (lab_server.root / "shared.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    r = lab_server.request(
        "PUT", "api/collaboration/session/shared.ipynb", json={"format": "json", "type": "notebook"}
    )
    assert r.status_code in (200, 201), r.text
    assert r.json()["sessionId"]
    assert _page_config(lab_server)["disableRTC"] is False


def test_a_collaborative_session_with_an_open_document_stops_and_exits_at_sigint(tmp_path):
    """The spawner's SIGINT stops the server through its cleanup and the process exits: no
    waiting for SIGTERM and SIGKILL (a minute on the local spawner) because the document's
    room, still open in a browser, left anyio worker threads behind (exitwatch.py)."""
    server = start_jupyter_server(tmp_path, LAB_INFO)
    try:
        (server.root / "notes.ipynb").write_text(
            json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
        )
        r = server.request(
            "PUT", "api/collaboration/session/notes.ipynb", json={"format": "json", "type": "notebook"}
        )
        assert r.status_code in (200, 201), r.text
        room = f"json:notebook:{r.json()['fileId']}?sessionId={r.json()['sessionId']}"
        ws = websocket.create_connection(
            server.url.replace("http", "ws") + "api/collaboration/room/" + room,
            header=[f"Authorization: token {server.token}"],
            timeout=10,
        )
        try:
            ws.recv_data()  # the room is up (and stays open, as in a user's browser)
            wait_until(lambda: "loaded from file notes.ipynb" in server.log_tail(200), what="the room loaded")
            server.proc.send_signal(signal.SIGINT)
            server.proc.wait(20)  # LocalProcessSpawner waits 30 s before it sends SIGTERM
        finally:
            ws.close()
        log = server.log_tail(40)
        assert "received SIGINT, stopping" in log
        assert re.search(r"Shutting down \d+ extensions", log)  # jupyter-server's cleanup ran
        assert re.search(r"stopped; ended \d+ anyio worker thread\(s\)", log)
        assert "ending the process" not in log  # a normal exit, not the forced one
        assert server.proc.returncode == 0
    finally:
        server.stop()


def test_non_collaborative_session_has_no_collaboration_at_all(app_server):
    (app_server.root / "solo.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    r = app_server.request(
        "PUT", "api/collaboration/session/solo.ipynb", json={"format": "json", "type": "notebook"}
    )
    assert r.status_code == 404
    # nor the document websocket
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(
            app_server.url.replace("http", "ws") + "api/collaboration/room/json:notebook:x",
            header=[f"Authorization: token {app_server.token}"],
            timeout=10,
        )
    assert e.value.status_code == 404
    # and the frontend is told, so it does not try
    assert _page_config(app_server)["disableRTC"] is True


# ---- port proxying --------------------------------------------------------------------


def test_owner_reaches_a_local_http_server_through_the_proxy(lab_server, http_app):
    for prefix in ("proxy", "proxy/absolute"):
        r = lab_server.get(f"{prefix}/{http_app.port}/hello.txt")
        if prefix == "proxy/absolute":
            # absolute mode keeps the full path: http.server has no such file
            assert r.status_code == 404
            continue
        assert r.status_code == 200, r.text
        assert r.text == "hello from the app\n"


def test_absolute_proxy_passes_the_full_path(lab_server, ws_app):
    r = lab_server.get(f"proxy/absolute/{ws_app.port}/some/where")
    assert r.status_code == 200
    assert r.json()["path"] == f"/proxy/absolute/{ws_app.port}/some/where"
    r = lab_server.get(f"proxy/{ws_app.port}/some/where")
    assert r.json()["path"] == "/some/where"


@pytest.mark.parametrize("prefix", ["proxy", "proxy/absolute"])
@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_proxy_refuses_http_without_auth(lab_server, http_app, prefix, token):
    r = lab_server.get(f"{prefix}/{http_app.port}/hello.txt", token=token)
    assert r.status_code in (302, 403), r.status_code
    assert "hello from the app" not in r.text
    if r.status_code == 302:
        assert "/login" in r.headers["Location"]


def _ws_url(server, path):
    return server.url.replace("http://", "ws://") + path


@pytest.mark.parametrize("prefix", ["proxy", "proxy/absolute"])
def test_owner_websocket_through_the_proxy(lab_server, ws_app, prefix):
    ws = websocket.create_connection(
        _ws_url(lab_server, f"{prefix}/{ws_app.port}/ws"),
        header=[f"Authorization: token {lab_server.token}"],
        timeout=10,
    )
    try:
        ws.send("ping through the proxy")
        assert ws.recv() == "ping through the proxy"
    finally:
        ws.close()


@pytest.mark.parametrize("prefix", ["proxy", "proxy/absolute"])
@pytest.mark.parametrize("auth", [None, "token wrong-token", "query"])
def test_proxy_refuses_websocket_upgrade_without_auth(lab_server, ws_app, prefix, auth):
    """CVE-2024-28179: the websocket path must be as protected as HTTP."""
    url = _ws_url(lab_server, f"{prefix}/{ws_app.port}/ws")
    header = []
    if auth == "query":
        url += "?token=wrong-token"
    elif auth:
        header = [f"Authorization: {auth}"]
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        ws = websocket.create_connection(url, header=header, timeout=10)
        ws.close()
    assert e.value.status_code in (302, 401, 403)


def test_unknown_proxy_target_host_is_refused(lab_server):
    # only localhost is allowed: the proxy is not an open relay
    r = lab_server.get("proxy/example.org:80/")
    assert r.status_code == 403


# ---- web-app sessions -----------------------------------------------------------------


def test_app_session_opens_on_its_app(app_server):
    r = app_server.get("")
    assert r.status_code == 302
    assert urlparse(r.headers["Location"]).path == "/files/"


def test_app_session_has_a_launcher_for_its_app(app_server):
    r = app_server.get("server-proxy/servers-info")
    assert r.status_code == 200
    (entry,) = [s for s in r.json()["server_processes"] if s["name"] == "files"]
    assert entry["launcher_entry"]["title"] == "Files app"
    assert entry["launcher_entry"]["path_info"] == "files/"


def test_app_is_started_on_demand_and_listed_in_ports(app_server, http_app):
    r = app_server.get("files/in-the-app.txt", timeout=60)
    assert r.status_code == 200, r.text
    assert r.text == "served by the web app\n"

    def app_port():
        ports = app_server.get("sessions-api/ports").json()
        return [p for p in ports if p["process"] and "python" in p["process"]]

    listed = wait_until(app_port, timeout=10, what="app port listed")
    (entry,) = listed
    assert entry["proxy_url"] == f"/proxy/{entry['port']}/"
    assert entry["absolute_proxy_url"] == f"/proxy/absolute/{entry['port']}/"
    # the advertised proxy URL really reaches the app
    r = app_server.get(entry["proxy_url"] + "in-the-app.txt")
    assert r.text == "served by the web app\n"

    all_ports = {p["port"] for p in app_server.get("sessions-api/ports").json()}
    # not the server's own port, and not a process outside this session
    assert app_server.port not in all_ports
    assert http_app.port not in all_ports


def test_unauthenticated_app_access_is_refused(app_server):
    r = app_server.get("files/in-the-app.txt", token="")
    assert r.status_code in (302, 403)
    assert "served by the web app" not in r.text


def test_proxy_to_a_closed_port_is_an_error_not_a_page(lab_server):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = lab_server.get(f"proxy/{port}/")
    assert r.status_code >= 500


# ---- logging ------------------------------------------------------------------------------


def logger_with(
    *handler_levels: int, parent_levels: tuple[int, ...] = (), level: int = logging.DEBUG, name: str = "t"
) -> logging.Logger:
    parent = logging.Logger(f"{name}-parent", logging.WARNING)
    for handler_level in parent_levels:
        parent.addHandler(logging.NullHandler(handler_level))
    log = logging.Logger(name, level)
    log.parent = parent
    for level in handler_levels:
        log.addHandler(logging.NullHandler(level))
    return log


@pytest.mark.parametrize(
    "handlers, parent, expected",
    [
        ((logging.INFO,), (), logging.INFO),  # traitlets' console handler: debug records go at once
        ((logging.WARNING, logging.INFO), (), logging.INFO),
        ((logging.INFO, logging.DEBUG), (), logging.DEBUG),  # a debug file handler gets everything
        ((logging.INFO,), (logging.DEBUG,), logging.DEBUG),  # so does one records propagate to
        ((logging.INFO,), (logging.NOTSET,), logging.DEBUG),
        ((), (), logging.DEBUG),  # no handler: nothing to go by
    ],
)
def test_the_logger_drops_only_what_no_handler_writes(handlers, parent, expected):
    log = logger_with(*handlers, parent_levels=parent)
    drop_unwritten_debug_records(log)
    assert log.level == expected


def test_a_logger_that_inherits_a_higher_level_is_left_alone():
    """NOTSET takes the parent's WARNING: raising it to the handler's INFO would let more through."""
    log = logger_with(logging.INFO, level=logging.NOTSET)
    drop_unwritten_debug_records(log)
    assert (log.level, log.getEffectiveLevel()) == (logging.NOTSET, logging.WARNING)


def test_a_session_started_with_debug_still_logs_its_proxied_requests(tmp_path, http_app):
    server = start_jupyter_server(tmp_path, {**LAB_INFO, "collaborative": False}, ["--debug"])
    try:
        assert server.get(f"proxy/{http_app.port}/hello.txt").status_code == 200
        wait_until(
            lambda: f"GET /proxy/{http_app.port}/hello.txt" in server.log_path.read_text(),
            timeout=10,
            what="the debug access line",
        )
    finally:
        server.stop()
