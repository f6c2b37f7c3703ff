"""The port proxy hands no hub credential to the app behind it (issue 17, class 2).

A collaborator visits an app in the owner's session through `/proxy/<port>/`
with a real browser (hub login, OAuth grant, the server's cookie) and with
API tokens; the app records everything it is sent. Whoever runs the app must
not collect the visitor's hub cookies, tokens in headers or in `?token=`, on
HTTP or websockets, and must not be able to plant cookies with the hub's names.
"""

from __future__ import annotations

import json
import sys

import pytest
import requests
import websocket

from ..serverext import bulk_app
from ..serverext.servertools import free_port, start_process

pytestmark = [pytest.mark.hub, pytest.mark.browser]


@pytest.fixture(scope="module")
def recorder(tmp_path_factory):
    port = free_port()
    proc = start_process(
        [sys.executable, bulk_app.__file__, str(port)], port, tmp_path_factory.mktemp("rec"), "recorder"
    )
    yield proc
    proc.stop()


@pytest.fixture
def recorded(recorder):
    """What the app was sent during the test."""
    url = f"http://127.0.0.1:{recorder.port}/recorded"
    requests.delete(url, timeout=10).raise_for_status()
    return lambda: requests.get(url, timeout=10).json()["requests"]


@pytest.fixture(scope="module")
def shared(hub, victims):
    """alice's collaborative session, shared with a fresh guest for this module."""
    alice = victims[0]
    guest = hub.new_user("guest")
    r = hub.request("POST", alice.base + "sessions-api/shares", token=alice.token, json={"user": guest})
    assert r.status_code in (200, 201), r.text
    yield alice, guest
    hub.request("DELETE", alice.base + "sessions-api/shares", token=alice.token, json={"user": guest})


def assert_nothing_of_the_hub(entries: list[dict], secrets: list[str]) -> None:
    assert entries, "the app was sent nothing"
    text = json.dumps(entries)
    for secret in secrets:
        assert secret not in text, "a hub credential reached the app"
    for entry in entries:
        assert not [c for c in entry["cookies"] if c.startswith(("jupyterhub-", "__Host-jupyterhub-"))], entry
        for name, value in entry["headers"]:
            if name.lower() == "authorization":
                assert value.split()[0].lower() not in ("token", "bearer"), entry
        assert "token=" not in entry["query"], entry


def test_a_collaborators_browser_gives_the_app_no_hub_cookie_or_token(
    hub, shared, recorder, recorded, browser
):
    alice, guest = shared
    guest_token = hub.user_token(guest)
    app = f"{hub.url}{alice.base}proxy/{recorder.port}/"
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        hub.login(page, guest)
        page.goto(app + "set-cookies")
        page.wait_for_url(lambda u: "/oauth2/authorize" in u or "set-cookies" in u, timeout=60_000)
        if "/oauth2/authorize" in page.url:
            page.get_by_role("button", name="Authorize").click()
            page.wait_for_url(lambda u: "set-cookies" in u, timeout=60_000)
        assert "cookies set" in page.content()
        cookies = {c["name"]: c["value"] for c in ctx.cookies()}
        # the app's own cookie arrived; the ones named like the hub's did not
        assert cookies.get("app-session") == "kept"
        assert "planted" not in cookies.values()
        hub_cookies = [v.strip('"') for n, v in cookies.items() if n.startswith("jupyterhub-")]
        assert any(n.startswith(f"jupyterhub-user-{alice.name}") for n in cookies), cookies

        # a page, a fetch with the app's own Basic credentials, a websocket, each with ?token=
        page.goto(app + f"echo/page?keep=1&token={guest_token}")
        assert page.locator("body").inner_text().startswith("{")
        status = page.evaluate(
            """async (url) => (await fetch(url, {headers: {"Authorization": "Basic YXBwOnB3"}})).status""",
            app + "echo/fetch?keep=2",
        )
        assert status == 200
        ws_url = app.replace("http://", "ws://") + f"ws?keep=3&token={guest_token}"
        echoed = page.evaluate(
            """(url) => new Promise((ok, fail) => {
                const ws = new WebSocket(url);
                ws.onopen = () => ws.send("hello");
                ws.onmessage = (e) => { ws.close(); ok(e.data); };
                ws.onerror = () => fail("websocket failed");
            })""",
            ws_url,
        )
        assert echoed == "hello"
    finally:
        ctx.close()

    entries = recorded()
    assert {e["kind"] for e in entries} == {"http", "websocket"}
    assert sorted(e["query"] for e in entries if "keep" in e["query"]) == ["keep=1", "keep=2", "keep=3"]
    assert all("app-session" in e["cookies"] for e in entries)
    basic = [v for e in entries for n, v in e["headers"] if n.lower() == "authorization"]
    assert basic == ["Basic YXBwOnB3"]  # the app's own scheme passes
    assert_nothing_of_the_hub(entries, [guest_token, *hub_cookies])


def test_api_tokens_of_a_collaborator_do_not_reach_the_app(hub, shared, recorder, recorded):
    alice, guest = shared
    token = hub.user_token(guest)
    app = f"{alice.base}proxy/{recorder.port}/"
    for auth in (f"token {token}", f"Bearer {token}"):
        r = hub.request(
            "POST",
            app + f"echo/api?token={token}&x=1",
            token="",
            headers={"Authorization": auth, "Cookie": "jupyterhub-session-id=abc; app-session=mine"},
            data=b"payload",
        )
        assert r.status_code == 200, r.text
        assert r.json()["cookies"] == ["app-session"]
    # a browser's websocket may authenticate with ?token= alone (JupyterHub allows it there)
    ws = websocket.create_connection(
        hub.url.replace("http://", "ws://") + app + f"ws?token={token}",
        header=["Sec-Fetch-Mode: websocket"],
        timeout=30,
    )
    try:
        ws.send("ping")
        assert ws.recv() == "ping"
    finally:
        ws.close()
    ws = websocket.create_connection(
        hub.url.replace("http://", "ws://") + app + "ws", header=[f"Authorization: token {token}"], timeout=30
    )
    ws.close()
    entries = recorded()
    assert [e["kind"] for e in entries] == ["http", "http", "websocket", "websocket"]
    assert_nothing_of_the_hub(entries, [token])
    assert entries[0]["query"] == "x=1"
