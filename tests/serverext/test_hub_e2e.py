"""The server extension in a real hub: sharing, co-editing and the port proxy.

One collaborative session of an owner (shared by the module's tests); each
test that needs a collaborator gets a fresh one (`guest`: shared with by name
through the extension's API, logged in, the session authorized), and the share
link test lets its own user in by a link. Every test revokes what it granted,
so any test runs alone or in any order. Browsers are headless Chromium
contexts, one per user.
"""

from __future__ import annotations

import json
import sqlite3
from urllib.parse import quote

import pytest
import requests
import websocket
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from jupyterhub_sessions.hub.fixes import DEAD_SHARE_LINK

from .browsertools import (
    api_fetch,
    authorize_shared_server,
    empty_notebook,
    open_notebook,
    type_in_first_cell,
    wait_for_cell_text,
)
from .servertools import start_ws_echo

pytestmark = [pytest.mark.hub, pytest.mark.browser]

SERVER = "collab"


class World:
    """Users, their browser pages and the session, shared by the module's tests."""

    def __init__(self, hub, browser):
        self.hub = hub
        self.owner = hub.new_user("owner")
        self.guest = hub.new_user("guest")
        self.stranger = hub.new_user("stranger")
        self.contexts = {}
        self.pages = {}
        self.browser = browser

    @property
    def base(self) -> str:
        return f"user/{quote(self.owner)}/{SERVER}/"

    def token(self, name):
        return self.hub.user_token(name)

    def api(self, method, path, name=None, **kw):
        return self.hub.request(method, self.base + path, token=self.token(name or self.owner), **kw)

    def close_page(self, name):
        self.pages.pop(name, None)
        ctx = self.contexts.pop(name, None)
        if ctx is not None:
            ctx.close()

    def page(self, name):
        if name not in self.pages:
            ctx = self.browser.new_context()
            self.contexts[name] = ctx
            page = ctx.new_page()
            self.hub.login(page, name)
            self.pages[name] = page
        return self.pages[name]

    def close(self):
        for ctx in self.contexts.values():
            ctx.close()


@pytest.fixture(scope="module")
def world(hub, browser):
    w = World(hub, browser)
    r = hub.start_session(w.owner, SERVER, options={"session_type": "notebook", "collaborative": True})
    assert r.status_code in (201, 202), r.text
    r = w.api(
        "PUT",
        "api/contents/shared.ipynb",
        json={"type": "notebook", "format": "json", "content": empty_notebook("# notes\n")},
    )
    assert r.status_code in (200, 201), r.text
    try:
        yield w
    finally:
        w.close()
        hub.stop_session(w.owner, SERVER)


@pytest.fixture
def guest(world):
    """A collaborator of this test alone: the owner shares with them by name, and their browser
    has authorized the shared session (so fetch() from their page reaches it)."""
    name = world.hub.new_user("guest")
    r = world.api("POST", "sessions-api/shares", json={"user": name})
    assert r.status_code == 201, r.text
    page = world.page(name)
    page.goto(world.hub.url + world.base + "lab")
    authorize_shared_server(page)  # stays on the session's lab page: fetch() works from there
    try:
        yield name
    finally:
        world.api("DELETE", "sessions-api/shares", json={"user": name})
        world.close_page(name)


@pytest.fixture(scope="module")
def echo_app(tmp_path_factory):
    proc = start_ws_echo(tmp_path_factory.mktemp("echo"))
    yield proc
    proc.stop()


def test_owner_sees_session_info_with_timing_from_the_service(world):
    r = world.api("GET", "sessions-api/session")
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["owner"] == world.owner and data["is_owner"] is True
    assert data["session"]["collaborative"] is True
    assert data["session"]["server_name"] == SERVER
    assert data["timing"]["name"] == SERVER
    assert data["timing_error"] is None


def test_uninvited_user_gets_a_403_page_from_the_hub(world):
    page = world.page(world.stranger)
    response = page.goto(world.hub.url + world.base + "lab/tree/shared.ipynb")
    assert response.status == 403
    assert "/hub/" in page.url
    assert page.locator(".jp-Notebook").count() == 0
    # and through the API, with the stranger's own token
    r = world.api("GET", "api/contents/shared.ipynb", name=world.stranger)
    assert r.status_code == 403
    assert "notes" not in r.text


def test_owner_makes_a_share_link_and_the_guest_accepts_it(world):
    invitee = world.hub.new_user("invitee")
    before = world.api("GET", "sessions-api/shares").json()
    r = world.api("POST", "sessions-api/share-codes", json={"expires_in": 3600})
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["accept_url"].startswith("/hub/accept-share?code=")
    assert link["expires_at"]

    shares = world.api("GET", "sessions-api/shares").json()
    codes = [c["id"] for c in shares["share_codes"]]
    assert sorted(codes) == sorted([c["id"] for c in before["share_codes"]] + [link["id"]])
    assert invitee not in [s["user"] for s in shares["shares"]]

    page = world.page(invitee)
    page.goto(world.hub.url + link["accept_url"].lstrip("/"))
    page.get_by_role("button", name="Accept invitation").click()
    authorize_shared_server(page)
    assert f"/user/{world.owner}/{SERVER}/lab" in page.url

    shares = world.api("GET", "sessions-api/shares").json()
    assert [s["user"] for s in shares["shares"]].count(invitee) == 1
    world.api("DELETE", "sessions-api/shares", json={"user": invitee})
    world.close_page(invitee)


def test_collaborator_appears_under_their_own_name(world, guest):
    page = world.page(guest)
    status, body = api_fetch(page, "GET", f"/{world.base}api/me")
    assert status == 200
    assert json.loads(body)["identity"]["username"] == guest


def test_collaborator_may_not_manage_shares_or_renew(world, guest):
    page = world.page(guest)
    for method, path, body in [
        ("GET", "sessions-api/shares", None),
        ("POST", "sessions-api/share-codes", {"expires_in": 600}),
        ("DELETE", "sessions-api/shares", {"user": guest}),
        ("DELETE", "sessions-api/share-codes", None),
        ("POST", "sessions-api/session/renew", None),
    ]:
        status, text = api_fetch(page, method, f"/{world.base}{path}", body)
        assert status == 403, (method, path, status, text)
        assert "owner" in json.loads(text)["message"]
    # but may read what the session is
    status, text = api_fetch(page, "GET", f"/{world.base}sessions-api/session")
    assert status == 200
    assert json.loads(text)["is_owner"] is False


def test_owner_and_collaborator_co_edit_a_notebook(world, guest):
    url = world.hub.url + world.base + "lab/tree/shared.ipynb"
    owner_page = world.page(world.owner)
    guest_page = world.page(guest)
    open_notebook(owner_page, url)
    open_notebook(guest_page, url)

    type_in_first_cell(owner_page, " from-the-owner")
    wait_for_cell_text(guest_page, "from-the-owner", timeout_ms=30_000)

    type_in_first_cell(guest_page, " and-the-guest")
    wait_for_cell_text(owner_page, "and-the-guest", timeout_ms=30_000)


def test_proxy_for_owner_and_collaborator_not_without_auth(world, guest, echo_app):
    path = f"proxy/{echo_app.port}/hello"
    r = world.api("GET", path)
    assert r.status_code == 200 and r.json()["path"] == "/hello"

    status, body = api_fetch(world.page(guest), "GET", f"/{world.base}{path}")
    assert status == 200 and json.loads(body)["path"] == "/hello"

    r = requests.get(world.hub.url + world.base + path, allow_redirects=False, timeout=30)
    assert r.status_code in (302, 403) and "hello" not in r.text
    r = world.api("GET", path, name=world.stranger)
    assert r.status_code == 403


def _ws(world, echo_app, token):
    url = world.hub.url.replace("http://", "ws://") + world.base + f"proxy/{echo_app.port}/ws"
    header = [f"Authorization: token {token}"] if token else []
    return websocket.create_connection(url, header=header, timeout=30)


def test_proxy_websocket_needs_the_sessions_auth(world, guest, echo_app):
    for name in (world.owner, guest):
        ws = _ws(world, echo_app, world.token(name))
        try:
            ws.send(f"hi from {name}")
            assert ws.recv() == f"hi from {name}"
        finally:
            ws.close()
    for token in ("", "not-a-token", world.token(world.stranger)):
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            _ws(world, echo_app, token).close()
        refused = e.value
        # which of the three, and who answered (the hub's proxy says 503 when the session's
        # server dropped the connection instead of refusing it)
        who = {"": "no token", "not-a-token": "a bogus token"}.get(token, "the stranger's token")
        assert refused.status_code in (302, 401, 403), (who, refused.status_code, refused.resp_headers)


def test_tcp_bridge_needs_the_sessions_auth_and_a_port_of_the_session(world, echo_app):
    url = world.hub.url.replace("http://", "ws://") + world.base + f"sessions-api/tcp/{echo_app.port}"
    for token, status in [
        ("", (302, 401, 403)),
        (world.token(world.stranger), (403,)),
        # the owner may use the bridge, but the echo app is not in the session's
        # process tree (embedded backend): another process on this machine
        (world.token(world.owner), (403,)),
    ]:
        header = [f"Authorization: token {token}"] if token else []
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            websocket.create_connection(url, header=header, timeout=30).close()
        assert e.value.status_code in status, token


def test_revoking_the_share_stops_the_collaborator(world, guest, echo_app):
    # the guest is connected: notebook open (collaboration room) and a proxied websocket
    url = world.hub.url + world.base + "lab/tree/shared.ipynb"
    owner_page = world.page(world.owner)
    guest_page = world.page(guest)
    open_notebook(owner_page, url)
    open_notebook(guest_page, url)
    type_in_first_cell(owner_page, " before-the-revoke")
    wait_for_cell_text(guest_page, "before-the-revoke", timeout_ms=30_000)  # the room reaches the guest
    guest_ws = _ws(world, echo_app, world.token(guest))
    guest_ws.send("before")
    assert guest_ws.recv() == "before"

    r = world.api("DELETE", "sessions-api/shares", json={"user": guest})
    assert r.status_code == 204, r.text
    assert guest not in [s["user"] for s in world.api("GET", "sessions-api/shares").json()["shares"]]

    # open connections are closed by the session, not left running
    opcode, data = guest_ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1008
    guest_ws.close()

    # edits no longer reach the guest's open notebook
    type_in_first_cell(owner_page, " after-the-revoke")
    with pytest.raises(PlaywrightTimeout):
        wait_for_cell_text(guest_page, "after-the-revoke", timeout_ms=5_000)

    # the guest's API token and browser no longer get in
    r = world.api("GET", "api/contents/shared.ipynb", name=guest)
    assert r.status_code == 403
    response = guest_page.goto(world.hub.url + world.base + "lab/tree/shared.ipynb")
    assert response.status == 403
    assert guest_page.locator(".jp-Notebook").count() == 0
    with pytest.raises(websocket.WebSocketBadStatusException):
        _ws(world, echo_app, world.token(guest)).close()


def test_revoked_share_link_can_no_longer_be_used(world):
    r = world.api("POST", "sessions-api/share-codes", json={"expires_in": 600})
    link = r.json()
    # the stranger has the invitation open when the owner revokes it
    page = world.page(world.stranger)
    response = page.goto(world.hub.url + link["accept_url"].lstrip("/"))
    assert response.status == 200
    r = world.api("DELETE", "sessions-api/share-codes")
    assert r.status_code == 204
    assert world.api("GET", "sessions-api/shares").json()["share_codes"] == []
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Accept invitation").click()
    assert nav.value.status == 403
    assert DEAD_SHARE_LINK in page.content()
    assert link["code"] not in page.content()  # the code is not echoed
    # opening it again: the same 403 page
    response = page.goto(world.hub.url + link["accept_url"].lstrip("/"))
    assert response.status == 403
    assert DEAD_SHARE_LINK in page.content()
    r = world.api("GET", "api/contents/shared.ipynb", name=world.stranger)
    assert r.status_code == 403


def test_expired_share_link_gets_the_same_403_page(world):
    r = world.api("POST", "sessions-api/share-codes", json={"expires_in": 60})
    link = r.json()
    # let the link expire now instead of in a minute: the hub filters codes by expires_at in SQL
    db = sqlite3.connect(world.hub.data_dir / "jupyterhub.sqlite", timeout=30)
    with db:
        n = db.execute(
            "UPDATE share_codes SET expires_at = '2000-01-01 00:00:00.000000' WHERE prefix = ?",
            (link["code"][:4],),
        ).rowcount
    db.close()
    assert n == 1
    page = world.page(world.stranger)
    response = page.goto(world.hub.url + link["accept_url"].lstrip("/"))
    assert response.status == 403
    assert DEAD_SHARE_LINK in page.content()
    never = world.hub.url + "hub/accept-share?code=" + "x" * 40
    assert page.goto(never).status == 403  # a code that never existed: the same answer


@pytest.fixture(scope="module")
def team(world):
    member = world.hub.new_user("member")
    group = f"team-{member}"
    r = world.hub.api("POST", f"groups/{group}", json={"users": [member]})
    assert r.status_code == 201, r.text
    return group, member


def test_group_share_is_granted_listed_and_revoked(world, team):
    group, _ = team
    r = world.api("POST", "sessions-api/shares", json={"group": group})
    assert r.status_code == 201, r.text
    assert r.json()["group"] == group and r.json()["kind"] == "group"
    shares = world.api("GET", "sessions-api/shares").json()["shares"]
    assert [s["group"] for s in shares if s["kind"] == "group"] == [group]
    r = world.api("DELETE", "sessions-api/shares", json={"group": group})
    assert r.status_code == 204
    assert [s for s in world.api("GET", "sessions-api/shares").json()["shares"] if s["kind"] == "group"] == []


def test_group_share_lets_members_in_and_revoking_it_shuts_them_out(world, team):
    group, member = team
    token = world.token(member)
    assert world.api("GET", "api/contents/shared.ipynb", name=member).status_code == 403
    assert world.api("POST", "sessions-api/shares", json={"group": group}).status_code == 201
    try:
        r = world.api("GET", "api/contents/shared.ipynb", name=member)
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "shared.ipynb"
        # the member is a collaborator, not an owner
        r = world.api("GET", "sessions-api/shares", name=member)
        assert r.status_code == 403
        # a token the member narrowed to other things does not gain the share
        narrow = world.hub.user_token(member, scopes=["read:users:name"])
        assert (
            world.hub.request("GET", world.base + "api/contents/shared.ipynb", token=narrow).status_code
            == 403
        )
        # someone outside the group is still refused
        assert world.api("GET", "api/contents/shared.ipynb", name=world.stranger).status_code == 403
    finally:
        r = world.api("DELETE", "sessions-api/shares", json={"group": group})
        assert r.status_code == 204
    r = world.hub.request("GET", world.base + "api/contents/shared.ipynb", token=token)
    assert r.status_code == 403


def test_group_member_opens_the_shared_session_in_the_browser(world, team):
    group, member = team
    assert world.api("POST", "sessions-api/shares", json={"group": group}).status_code == 201
    try:
        page = world.page(member)
        page.goto(world.hub.url + world.base + "lab/tree/shared.ipynb")
        authorize_shared_server(page)
        page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
        status, body = api_fetch(page, "GET", f"/{world.base}api/me")
        assert status == 200 and json.loads(body)["identity"]["username"] == member
    finally:
        world.api("DELETE", "sessions-api/shares", json={"group": group})
    # revoked: the member's open browser is refused on its next request
    response = page.goto(world.hub.url + world.base + "lab/tree/shared.ipynb")
    assert response.status == 403


def test_leaving_the_group_ends_access(world, team):
    group, _ = team
    leaver = world.hub.new_user("leaver")
    r = world.hub.api("POST", f"groups/{group}/users", json={"users": [leaver]})
    assert r.status_code == 200, r.text
    assert world.api("POST", "sessions-api/shares", json={"group": group}).status_code == 201
    try:
        assert world.api("GET", "api/contents/shared.ipynb", name=leaver).status_code == 200
        r = world.hub.api("DELETE", f"groups/{group}/users", json={"users": [leaver]})
        assert r.status_code == 200, r.text
        # the hub answers from membership at every request; the session caches an answer
        # for at most AUTH_CACHE_SECONDS, so ask with a token it has not seen yet
        fresh = world.hub.user_token(leaver, scopes=["inherit"])
        r = world.hub.request("GET", world.base + "api/contents/shared.ipynb", token=fresh)
        assert r.status_code == 403
    finally:
        world.api("DELETE", "sessions-api/shares", json={"group": group})


def test_sharing_with_an_unknown_user_is_a_clear_error(world):
    r = world.api("POST", "sessions-api/shares", json={"user": "nobody-by-this-name"})
    assert r.status_code == 400
    assert r.json()["message"].startswith(
        "nobody-by-this-name has never logged in to this hub, so sessions can't be shared with them by name yet. "
        "Create a share link and send it to them"
    )
    r = world.api("POST", "sessions-api/shares", json={"group": "no-such-group-here"})
    assert r.status_code == 400
    assert "no-such-group-here" in r.json()["message"] or "No such group" in r.json()["message"]
    shares = world.api("GET", "sessions-api/shares").json()["shares"]
    assert "nobody-by-this-name" not in [s["user"] for s in shares]
    assert "no-such-group-here" not in [s["group"] for s in shares]
