"""XSS in session names, drive names and admin profile text: everything is rendered escaped.

Checked in a real browser (Debian Chromium): a payload that runs sets
`window.__xss` or opens a dialog; the tests assert neither happens and that
the text is shown literally (so the payload really reached the page).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from jupyterhub_sessions.drives import Drive
from jupyterhub_sessions.profiles import SessionType
from jupyterhub_sessions.spawner.form import render_spawn_form
from tests.hubtools import wait_for

PAYLOADS = [
    '"><img src=x onerror="window.__xss=1">',
    "<script>window.__xss=1</script>",
    "'><svg onload=window.__xss=1>",
    "{{7*7}}</textarea><iframe srcdoc='<script>parent.__xss=1</script>'>",
]


def watch(page):
    fired = []
    page.on("dialog", lambda d: (fired.append(d.message), d.dismiss()))
    return fired


def executed(page, fired) -> bool:
    # handlers of broken images, svg onload and iframe scripts have all run by the load event
    # (test_the_detector_sees_payloads_that_run shows this catches each payload)
    page.wait_for_load_state("load")
    return bool(fired) or bool(
        page.evaluate("() => !!(window.__xss || (window.frames[0] && window.frames[0].__xss))")
    )


@pytest.mark.browser
@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_detector_sees_payloads_that_run(browser, payload):
    """Positive control: each payload, put in a page unescaped, is caught by `executed`."""
    page = browser.new_page()
    try:
        fired = watch(page)
        page.set_content(f"<html><body><form><textarea>{payload}</textarea></form>{payload}</body></html>")
        assert executed(page, fired)
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.parametrize("payload", PAYLOADS)
def test_profile_text_and_names_in_the_spawn_form_are_inert(browser, payload):
    st = SessionType(
        slug="evil",
        display_name=payload,
        description=payload + " description",
        image={"default": "a/b:1", "allowed": ["a/b:1", "a/b:2" + payload.replace(" ", "")]},
        interface={"kind": "webapp", "name": "app", "title": payload, "command": ["x"]},
        default=True,
    )
    drives = [Drive(name="home", owner="u"), Drive(name="data", owner="u", in_use_by=payload)]
    html = render_spawn_form({"evil": st}, drives, previous={"session_type": "evil", "image": payload})
    page = browser.new_page()
    try:
        fired = watch(page)
        page.set_content(f"<html><body><form>{html}</form></body></html>")
        assert not executed(page, fired), "payload executed in the spawn form"
        text = page.text_content("body")
        assert payload in text  # shown literally
        assert f"in use by {payload}" in text
    finally:
        page.close()


@pytest.mark.hub
@pytest.mark.parametrize("payload", PAYLOADS[:2] + ["x/y", "../x"])
def test_hostile_session_names_are_refused_by_the_hub(hub, payload):
    user = hub.new_user("xss")
    r = hub.api("POST", hub.server_path(user, payload), json={})
    assert r.status_code in (400, 404), r.text
    assert hub.user_model(user)["servers"] == {}
    assert r.headers["Content-Type"].startswith("application/json")


@pytest.mark.hub
@pytest.mark.parametrize("payload", PAYLOADS[:2])
def test_hostile_drive_names_are_refused_and_never_reach_a_page(hub, payload):
    user = hub.new_user("xss")
    r = hub.start_session(user, "x", {"new_drive": payload}, wait=False)
    assert r.status_code == 400 and "new_drive" in r.json()["message"]
    assert r.headers["Content-Type"].startswith("application/json")


@pytest.mark.hub
@pytest.mark.browser
def test_hostile_drive_directory_on_the_hub_spawn_page_is_inert(hub, browser, alice):
    """A drive directory with a hostile name on disk is not offered, and nothing runs."""
    from jupyterhub_sessions.drives import user_slug

    evil_dir = hub.data_dir / "drives" / user_slug(alice.name) / PAYLOADS[0].replace("/", "_")
    evil_dir.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        fired = watch(page)
        hub.login(page, alice.name)
        page.goto(hub.url + f"hub/spawn/{alice.name}/other")
        page.wait_for_selector("#jhs-drive-select")
        assert not executed(page, fired)
        drives = page.eval_on_selector_all("#jhs-drive-select option", "els => els.map(e => e.value)")
        assert PAYLOADS[0].replace("/", "_") not in drives  # invalid names are not offered at all
        assert "in use by s1" in page.text_content("#jhs-drive")  # home is shown in use by s1
        page.goto(hub.url + "hub/home")
        assert not executed(page, fired)
    finally:
        ctx.close()
        evil_dir.rmdir()


# user names may hold anything but "/" (JupyterHub's rule; the hub lower-cases them)
HOSTILE_NAMES = [
    '"><img src=x onerror="window.__xss=1">',
    "'><svg onload=window.__xss=1>",
    "{{7*7}}<img src=x onerror=window.__xss=1>",
]


@pytest.mark.hub
@pytest.mark.browser
@pytest.mark.parametrize("payload", HOSTILE_NAMES, ids=["img", "svg", "template"])
def test_a_hostile_user_name_shows_as_text_on_every_hub_page(hub, browser, payload):
    """The user's own name is on the home page, the ssh page and the spawn-pending page: as text."""
    name = hub.ensure_user(f"{payload}{hub.new_user('x')}")
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        fired = watch(page)
        hub.login(page, name)
        # the pending page leaves (reloads into the session) on the progress stream's "ready":
        # without that stream it stays, however fast the session starts
        page.route("**/progress", lambda route: route.abort())
        # the hub's POST returns only once the session is up, if that takes under 10 s: send it
        # from a thread and open the pending page while the spawn is still pending
        posted = ThreadPoolExecutor(1).submit(
            hub.start_session, name, "s", {"session_type": "notebook"}, wait=False
        )
        wait_for(
            lambda: (hub.user_model(name)["servers"].get("s") or {}).get("pending") == "spawn",
            timeout=60,
            interval=0.02,
            what="spawn pending",
        )
        # spawn-pending first: the hub serves that page only while the spawn is pending
        for path in (f"hub/spawn-pending/{quote(name, safe='')}/s", "hub/home", "services/ssh/"):
            page.goto(hub.url + path)
            assert not executed(page, fired), path
            assert name in page.text_content("body"), path  # the payload reached the page, as text
            assert page.locator("img[src=x], svg[onload]").count() == 0, path
        r = posted.result(timeout=120)
        assert r.status_code in (201, 202), r.text
        hub.wait_ready(name, "s", timeout=180)
    finally:
        ctx.close()
        hub.stop_session(name, "s", timeout=90)


@pytest.mark.hub
@pytest.mark.browser
@pytest.mark.parametrize("payload", PAYLOADS)
def test_login_next_parameter_is_inert(hub, browser, payload):
    """`hub/login?next=<payload>`: the login form carries it back unchanged, and nothing runs."""
    page = browser.new_page()  # logged out: the login page itself is shown
    try:
        fired = watch(page)
        page.goto(hub.url + "hub/login?next=" + quote(payload, safe=""))
        assert not executed(page, fired)
        action = page.eval_on_selector("form", "f => new URL(f.action).searchParams.get('next')")
        assert action == payload  # it reached the page, inside an attribute
        assert page.locator("img[src=x], svg[onload], iframe").count() == 0
    finally:
        page.close()
