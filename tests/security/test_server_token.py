"""A session's own server token acts only on its own server (issue 17, item 4).

Anyone with a terminal in a session can read its `JUPYTERHUB_API_TOKEN`, and
a collaborator has a terminal. Here the collaborator does exactly that, then
tries to act as the owner with it: on the owner's *other* session through
the sessions service, on the hub's sharing API, and on the server
extension's owner-only endpoints. Everything is refused; the owner, in person
(browser login or own token), still shares and renews.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from ..serverext.browsertools import api_fetch
from ..terminaltools import Terminal

pytestmark = [pytest.mark.hub]

API = "services/sessions/api/sessions"
OPTIONS = {"session_type": "notebook", "timeout": 3600, "collaborative": True}


class Setup:
    def __init__(self, hub):
        self.hub = hub
        self.owner = hub.new_user("tokowner")
        self.guest = hub.new_user("tokguest")
        self.stranger = hub.new_user("tokstranger")
        self.server_token = ""

    def base(self, server: str) -> str:
        return f"user/{quote(self.owner)}/{server}/"

    def session(self, server: str, action: str = "") -> str:
        return f"{API}/{quote(self.owner)}/{server}" + (f"/{action}" if action else "")

    def running(self, server: str) -> bool:
        s = self.hub.user_model(self.owner)["servers"].get(server)
        return bool(s and s["ready"] and not s["pending"])


@pytest.fixture(scope="module")
def setup(hub):
    """The owner runs 'shared' (shared with the guest) and 'private'; the guest reads the token."""
    s = Setup(hub)
    for server in ("shared", "private"):
        r = hub.start_session(s.owner, server, {**OPTIONS, "new_drive": server}, wait=False)
        assert r.status_code in (201, 202), r.text
    try:
        for server in ("shared", "private"):
            hub.wait_ready(s.owner, server, timeout=180)
        owner_token = hub.user_token(s.owner)
        r = hub.request(
            "POST", s.base("shared") + "sessions-api/shares", token=owner_token, json={"user": s.guest}
        )
        assert r.status_code == 201, r.text
        with Terminal(hub, s.base("shared"), hub.user_token(s.guest)) as term:
            s.server_token = term.run('printf "%s" "$JUPYTERHUB_API_TOKEN"')
        assert len(s.server_token) >= 32, s.server_token
        yield s
    finally:
        for server in ("shared", "private"):
            hub.stop_session(s.owner, server, wait=False)


def test_a_collaborator_reads_the_server_token_but_it_is_not_the_owners(setup):
    hub = setup.hub
    r = hub.api("GET", "user", token=setup.server_token)
    assert r.status_code == 200 and r.json()["name"] == setup.owner  # it is owned by the owner ...
    scopes = set(r.json()["scopes"])
    # ... but carries nothing that manages servers or shares
    assert not [s for s in scopes if s.startswith(("shares", "delete:servers", "servers", "admin"))], scopes


def test_server_token_cannot_stop_renew_or_ssh_mark_the_owners_sessions(setup):
    hub, token = setup.hub, setup.server_token
    before = hub.request("GET", setup.session("private"), token=hub.user_token(setup.owner)).json()
    for method, path in [
        ("GET", setup.session("private")),
        ("DELETE", setup.session("private")),
        ("POST", setup.session("private", "renew")),
        ("POST", setup.session("private", "ssh")),
        # its own session too: stopping and renewing are the owner's
        ("DELETE", setup.session("shared")),
        ("POST", setup.session("shared", "renew")),
        ("GET", API + "?user=" + quote(setup.owner) + "x"),
    ]:
        r = hub.request(method, path, token=token)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    # it still reads its own session, and lists nothing else
    assert hub.request("GET", setup.session("shared"), token=token).status_code == 200
    listed = hub.request("GET", API, token=token).json()
    assert [(s["user"], s["name"]) for s in listed] == [(setup.owner, "shared")]
    assert setup.running("private") and setup.running("shared")
    after = hub.request("GET", setup.session("private"), token=hub.user_token(setup.owner)).json()
    assert (after["renewals"], after["mode"]) == (before["renewals"], "browser")


def test_server_token_cannot_manage_shares_on_the_hub_or_the_session(setup):
    hub, token = setup.hub, setup.server_token
    shares = f"shares/{quote(setup.owner)}/shared"
    codes = f"share-codes/{quote(setup.owner)}/shared"
    for method, path, body in [
        ("POST", shares, {"user": setup.stranger}),
        ("PATCH", shares, {"user": setup.guest}),
        ("GET", shares, None),
        ("POST", codes, {"expires_in": 600}),
        ("GET", codes, None),
        ("DELETE", codes, None),
    ]:
        r = hub.api(method, path, token=token, json=body)
        assert r.status_code in (403, 404), (method, path, r.status_code, r.text)
    for method, path, body in [
        ("POST", "sessions-api/shares", {"user": setup.stranger}),
        ("DELETE", "sessions-api/shares", {"user": setup.guest}),
        ("GET", "sessions-api/shares", None),
        ("POST", "sessions-api/share-codes", {"expires_in": 600}),
        ("DELETE", "sessions-api/share-codes", None),
        ("POST", "sessions-api/session/renew", None),
    ]:
        r = hub.request(method, setup.base("shared") + path, token=token, json=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    # nothing changed: the stranger is still out, the guest still in, no link exists
    owner_token = hub.user_token(setup.owner)
    listed = hub.request("GET", setup.base("shared") + "sessions-api/shares", token=owner_token).json()
    assert [s["user"] for s in listed["shares"]] == [setup.guest] and listed["share_codes"] == []
    r = hub.request("GET", setup.base("shared") + "api/contents", token=hub.user_token(setup.stranger))
    assert r.status_code == 403


@pytest.mark.browser
def test_the_owner_in_the_browser_still_shares_and_renews(setup, browser):
    hub = setup.hub
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        hub.login(page, setup.owner)
        page.goto(hub.url + setup.base("shared") + "lab")
        page.wait_for_url(lambda u: "/lab" in u, timeout=60_000)
        prefix = "/" + setup.base("shared")
        status, body = api_fetch(page, "POST", prefix + "sessions-api/share-codes", {"expires_in": 600})
        assert status == 201, body
        code_id = json.loads(body)["id"]
        status, body = api_fetch(page, "GET", prefix + "sessions-api/shares")
        assert status == 200 and [c["id"] for c in json.loads(body)["share_codes"]] == [code_id]
        status, body = api_fetch(page, "DELETE", prefix + "sessions-api/share-codes", None)
        assert status == 204, body
        status, body = api_fetch(page, "POST", prefix + "sessions-api/session/renew", None)
        assert status == 200, body
        assert json.loads(body)["renewals"] >= 1
    finally:
        ctx.close()


def test_server_token_is_no_way_into_the_session(setup):
    # a collaborator who copied it must not keep the owner's access after a revoke
    hub, token = setup.hub, setup.server_token
    for method, path in [
        ("GET", "api/contents"),
        ("POST", "api/terminals"),
        ("GET", "sessions-api/session"),
        ("GET", "proxy/1/"),
    ]:
        r = hub.request(
            method, setup.base("shared") + path, token=token, json={} if method == "POST" else None
        )
        assert r.status_code in (302, 401, 403), (method, path, r.status_code, r.text[:200])
    # the owner's own token and the guest's still get in
    for name in (setup.owner, setup.guest):
        r = hub.request("GET", setup.base("shared") + "api/contents", token=hub.user_token(name))
        assert r.status_code == 200, r.text
