"""A user's path through the embedded platform in a real browser.

Log in on the hub's login page, pick a session type and options on the spawn
form, create a drive, land in JupyterLab, stop from the dashboard (the hub's
home page); the refusals a user can meet (drive in use, session limit) are
readable on the page. The dashboard itself: tests/dashboard/.
"""

import re

import pytest
from playwright.sync_api import expect

from jupyterhub_sessions.drives import user_slug

pytestmark = [pytest.mark.hub, pytest.mark.browser]

LAB_SHELL = "#jp-main-dock-panel"
START_TIMEOUT = 120_000  # ms; a session start takes 5-15 s here, more on a busy box


def spawn_url(hub, user, server):
    return hub.url + f"hub/spawn/{user}/{server}"


def join_gpu_users(hub, user):
    """The GPU type is for the gpu-users group: a second startable card on the embedded backend
    (whose web-app and desktop types are disabled, their programs not being installed)."""
    hub.api("POST", "groups/gpu-users")
    assert hub.api("POST", "groups/gpu-users/users", json={"users": [user]}).status_code == 200


def test_lab_on_a_new_drive_then_stop_from_home(hub, context, stop_all):
    user = hub.new_user("e2e")
    join_gpu_users(hub, user)
    stop_all(user)
    page = context.new_page()
    hub.login(page, user)

    # a second tab, opened earlier, will later try to create the same drive
    other = context.new_page()
    other.goto(spawn_url(hub, user, "two"))

    page.goto(spawn_url(hub, user, "one"))
    names = page.locator(".jhs-type .jhs-name").all_inner_texts()
    assert sorted(names) == [
        "CARTA image viewer",
        "Desktop",
        "Firefly",
        "GPU notebook",
        "Notebook (JupyterLab)",
    ]
    # apps not installed here are shown, disabled, with the reason
    expect(page.get_by_label("Desktop", exact=True)).to_be_disabled()
    expect(page.locator("#jhs-desktop-unavailable")).to_contain_text(
        "a jupyter-server-proxy server named 'desktop' (e.g. jupyter-remote-desktop-proxy), which is not installed"
    )

    # picking a card shows that type's options and hides the others'
    page.get_by_label("GPU notebook", exact=True).check()
    expect(page.locator("#jhs-gpu-cpu")).to_be_visible()
    expect(page.locator("#jhs-notebook-cpu")).to_be_hidden()
    page.get_by_label("Notebook (JupyterLab)", exact=True).check()
    expect(page.locator("#jhs-notebook-cpu")).to_be_visible()
    expect(page.locator("#jhs-gpu-cpu")).to_be_hidden()

    page.select_option("#jhs-notebook-cpu", "2")
    page.select_option("#jhs-notebook-timeout", label="Never")
    expect(page.locator("#jhs-new-drive")).to_be_hidden()  # only asked for when creating
    page.select_option("#jhs-drive-select", "__new__")
    page.fill("#jhs-new-drive", "thesis")
    page.get_by_role("button", name="Start").click()

    page.wait_for_url(re.compile(rf"/user/{user}/one/lab"), timeout=START_TIMEOUT)
    page.wait_for_selector(LAB_SHELL, timeout=START_TIMEOUT)
    opts = hub.user_model(user)["servers"]["one"]["user_options"]
    assert (opts["session_type"], opts["cpu"], opts["timeout"], opts["drive"]) == (
        "notebook",
        2.0,
        -1,
        "thesis",
    )
    drive_dir = hub.data_dir / "drives" / user_slug(user) / "thesis"
    assert drive_dir.is_dir()

    # the old tab asks for the same new drive: refused on the form, in words, nothing started
    other.get_by_label("GPU notebook", exact=True).check()
    other.select_option("#jhs-gpu-timeout", label="4 hours")
    other.select_option("#jhs-drive-select", "__new__")
    other.fill("#jhs-new-drive", "thesis")
    with other.expect_navigation() as nav:
        other.get_by_role("button", name="Start").click()
    assert nav.value.status == 409
    expect(other.locator(".spawn-error-msg")).to_have_text(
        "Error: Drive 'thesis' is in use by 'one'. Stop that session first, or pick another drive."
    )
    assert "two" not in hub.user_model(user)["servers"]
    # the refused form keeps the user's choices, and still starts server "two"
    expect(other.get_by_label("GPU notebook", exact=True)).to_be_checked()
    expect(other.locator("#jhs-gpu-timeout")).to_have_value("14400")
    expect(other.locator("#jhs-drive-select")).to_have_value("__new__")
    expect(other.locator("#jhs-new-drive")).to_have_value("thesis")
    assert other.locator("#spawn_form").get_attribute("action").split("?")[0].endswith(f"/spawn/{user}/two")
    # a freshly loaded form shows the drive as taken
    other.goto(spawn_url(hub, user, "two"))
    taken = other.locator("#jhs-drive-select option[value=thesis]")
    expect(taken).to_have_text("thesis (in use by one)")
    expect(taken).to_be_disabled()
    expect(other.locator("#jhs-drive-select")).to_have_value("home")  # offered as "home (new)"

    # stop from the dashboard: the drive and its files stay, and the drive is free again
    (drive_dir / "notes.txt").write_text("kept")
    page.goto(hub.url + "hub/home")
    row = page.locator("#jhs-my-sessions tr[data-session=one]")
    row.locator("[data-jhs-action=stop]").click()
    expect(row).to_have_attribute("data-state", "stopped", timeout=60_000)
    expect(row.locator("[data-jhs-action=restart]")).to_be_visible()
    assert "one" not in hub.user_model(user)["servers"]
    assert (drive_dir / "notes.txt").read_text() == "kept"
    other.reload()
    expect(other.locator("#jhs-drive-select option[value=thesis]")).to_be_enabled()


def test_named_server_limit_is_enforced_and_shown(hub, context):
    user = hub.new_user("limit")
    page = context.new_page()
    hub.login(page, user)
    page.goto(hub.url + "hub/home")
    expect(page.locator("#jhs-limit")).to_contain_text("You have 0 of 3 sessions")

    # opening the spawn form creates a named server (stopped) in the hub: three are allowed
    for name in ("a", "b", "c"):
        assert page.goto(spawn_url(hub, user, name)).status == 200
        expect(page.locator("#jhs-session-types")).to_be_visible()
    r = page.goto(spawn_url(hub, user, "d"))
    assert r.status == 400
    expect(page.locator(".error")).to_contain_text(f"{user} already has the maximum of 3 named servers")
    assert not page.locator("#jhs-session-types").count()

    # the dashboard counts the three (never started, they still count) and says how to free a slot
    page.goto(hub.url + "hub/home")
    expect(page.locator("#jhs-limit")).to_contain_text(
        "You have 3 of 3 sessions (running, stopped and not yet started ones all count). "
        "The limit is reached: delete a session you no longer need to start a new one (its drive is kept)."
    )
    expect(page.locator("#jhs-new-session")).to_be_disabled()
    assert page.locator("#jhs-my-sessions tr[data-state=new]").count() == 3
    assert hub.user_model(user)["servers"] == {}
    # deleting one frees the slot
    page.once("dialog", lambda d: d.accept())
    page.locator("#jhs-my-sessions tr[data-session=a] [data-jhs-action=delete]").click()
    expect(page.locator("#jhs-limit")).to_contain_text("You have 2 of 3 sessions")
    expect(page.locator("#jhs-new-session")).to_be_enabled()


def test_form_works_without_javascript(hub, browser, stop_all):
    user = hub.new_user("nojs")
    join_gpu_users(hub, user)
    stop_all(user)
    ctx = browser.new_context(java_script_enabled=False)
    try:
        page = ctx.new_page()
        hub.login(page, user)
        page.goto(spawn_url(hub, user, "plain"))
        # the cards switch by CSS alone
        page.check("input[name=session_type][value=gpu]")
        expect(page.locator("#jhs-gpu-cpu")).to_be_visible()
        expect(page.locator("#jhs-notebook-cpu")).to_be_hidden()
        page.check("input[name=session_type][value=notebook]")
        page.select_option("#jhs-notebook-cpu", "0.5")
        page.select_option("#jhs-notebook-memory", "1G")
        page.select_option("#jhs-notebook-timeout", label="15 minutes")
        page.check("#jhs-notebook-collaborative")
        page.uncheck("#jhs-notebook-collaborative")
        expect(page.locator("#jhs-drive-select")).to_have_value("home")  # "home (new)" by default
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(rf"/hub/spawn-pending/{user}/plain"))

        hub.wait_ready(user, "plain", timeout=START_TIMEOUT / 1000)
        opts = hub.user_model(user)["servers"]["plain"]["user_options"]
        assert opts == {
            **opts,
            "session_type": "notebook",
            "cpu": 0.5,
            "memory": "1G",
            "timeout": 900,
            "drive": "home",
            "collaborative": False,
        }
        # the browser reaches the session through the hub's OAuth redirects, no script needed
        r = page.goto(hub.session_url(user, "plain"))
        assert r.status == 200 and re.search(rf"/user/{user}/plain/lab", page.url)
    finally:
        ctx.close()


def test_rest_started_session_opens_in_the_browser(hub, context, stop_all):
    user = hub.new_user("rest")
    stop_all(user)
    r = hub.start_session(
        user,
        "api",
        {"session_type": "notebook", "drive": "__new__", "new_drive": "data", "timeout": 14400},
        token=hub.user_token(user),
    )
    assert r.status_code in (201, 202), r.text
    page = context.new_page()
    hub.login(page, user)
    page.goto(hub.url + "hub/home")
    link = page.locator("#jhs-my-sessions tr[data-session=api] a[data-jhs-action=open]")
    expect(link).to_be_visible()
    link.click()
    page.wait_for_selector(LAB_SHELL, timeout=START_TIMEOUT)
    assert re.search(rf"/user/{user}/api/lab", page.url)
    # the spawn form of another server shows the REST-created drive as taken by 'api'
    page.goto(spawn_url(hub, user, "next"))
    expect(page.locator("#jhs-drive-select option[value=data]")).to_have_text("data (in use by api)")
