"""CSRF: state-changing endpoints refuse browser (cookie) requests without the XSRF token;
the same requests with the token, or with an API token, work (so refusals are not accidents)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.hub, pytest.mark.browser]


@pytest.fixture
def page(hub, browser, alice):
    ctx = browser.new_context()
    p = ctx.new_page()
    hub.login(p, alice.name)
    try:
        yield p
    finally:
        ctx.close()


def xsrf_cookie(page, path_prefix: str) -> str:
    cookies = [
        c
        for c in page.context.cookies()
        if c["name"] == "_xsrf" and path_prefix.startswith(c["path"].rstrip("/"))
    ]
    assert cookies, page.context.cookies()
    return max(cookies, key=lambda c: len(c["path"]))["value"]


def share_codes(hub, victim) -> list:
    r = hub.api("GET", f"share-codes/{victim.name}/{victim.server}")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_session_api_refuses_cookie_posts_without_xsrf(hub, page, alice):
    base = hub.url + alice.base
    # OAuth into the session; its pages set the session's cookie and its _xsrf cookie
    page.goto(base + "lab", wait_until="domcontentloaded", timeout=120_000)
    token = xsrf_cookie(page, "/" + alice.base)
    # the cookie does authenticate (with the XSRF token), so the refusals below are about XSRF
    assert page.request.get(base + "sessions-api/session", headers={"X-XSRFToken": token}).status == 200
    before = len(share_codes(hub, alice))
    cross = {"Origin": "http://evil.example", "Content-Type": "application/json"}
    r = page.request.post(base + "sessions-api/share-codes", data="{}", headers=cross)
    assert r.status == 403, r.text()
    r = page.request.delete(base + "sessions-api/shares", data='{"user": "x"}', headers=cross)
    assert r.status == 403, r.text()
    r = page.request.post(base + "sessions-api/session/renew", data="{}", headers=cross)
    assert r.status == 403, r.text()
    assert len(share_codes(hub, alice)) == before
    # with the XSRF token the same browser may act
    r = page.request.post(
        base + "sessions-api/share-codes",
        data="{}",
        headers={"X-XSRFToken": token, "Content-Type": "application/json"},
    )
    assert r.status == 201, r.text()
    r = page.request.delete(base + "sessions-api/share-codes", headers={"X-XSRFToken": token})
    assert r.status == 204, r.text()


def test_sessions_service_api_refuses_cookie_only_requests(hub, page, alice):
    api = hub.url + f"services/sessions/api/sessions/{alice.name}/{alice.server}"
    for method in ("delete", "post"):
        url = api + ("/renew" if method == "post" else "")
        r = getattr(page.request, method)(url, headers={"Origin": "http://evil.example"})
        assert r.status in (401, 403), (method, r.status, r.text())
    assert alice.running()
    # a token is the way in
    r = hub.request("GET", f"services/sessions/api/sessions/{alice.name}/{alice.server}", token=alice.token)
    assert r.status_code == 200


def test_hub_api_refuses_cookie_posts_without_xsrf(hub, page, alice):
    page.goto(hub.url + "hub/home")
    r = page.request.post(
        hub.url + f"hub/api/users/{alice.name}/servers/csrf",
        data="{}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status == 403, r.text()
    r = page.request.delete(hub.url + f"hub/api/users/{alice.name}/servers/{alice.server}")
    assert r.status == 403, r.text()
    assert alice.running()
    assert "csrf" not in hub.user_model(alice.name)["servers"]


def test_ssh_key_pages_refuse_cookie_posts_without_xsrf(hub, page, alice):
    page.goto(hub.url + "services/ssh/")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl csrf@test"
    r = page.request.post(
        hub.url + "services/ssh/api/keys",
        data={"name": "csrf", "key": key},
        headers={"Origin": "http://evil.example"},
    )
    assert r.status in (401, 403), r.text()
    r = page.request.post(hub.url + "services/ssh/keys", form={"name": "csrf", "key": key})
    assert r.status in (401, 403), r.text()[:300]
    listed = hub.request("GET", "services/ssh/api/keys", token=alice.token)
    assert listed.status_code == 200, listed.text
    assert not [k for k in listed.json()["keys"] if k.get("name") == "csrf"]
