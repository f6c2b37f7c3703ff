"""The Sessions dashboard in Chromium, as users and admins see it (one hub for the module).

Every test makes its own users and sessions; screenshots of each step are
printed (see conftest.py). Timings of login → dashboard and
+ New session → JupyterLab are printed too (figures, not assertions).
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from jupyterhub_sessions.drives import user_slug
from jupyterhub_sessions.service.policy import parse_time

from ..hubtools import wait_for
from .conftest import FAIL_GROUP, stop_all_sessions

pytestmark = [pytest.mark.hub, pytest.mark.browser]

LAB = "#jp-main-dock-panel"
START = 120_000  # ms: a start takes 5-15 s here, more on a busy machine


def row(page, name, table="#jhs-my-sessions"):
    return page.locator(f"{table} tr[data-session='{name}']")


def timing(shots, label, seconds):
    line = f"{label}: {seconds:.2f} s"
    print(line)
    with open(shots.dir / "timings.txt", "a") as f:
        f.write(line + "\n")


def login_to_dashboard(hub, page):
    """Log in on the hub's login page; the hub lands on the dashboard. Returns seconds taken."""
    page.goto(hub.url + "hub/login")
    page.fill("input#username_input", page.jhs_user)
    t0 = time.monotonic()
    page.click("#login_submit")
    page.wait_for_selector("#jhs-dashboard")
    return time.monotonic() - t0


def open_page(ctx, user):
    page = ctx.new_page()
    page.jhs_user = user
    return page


def authorize_if_asked(page):
    """A shared session asks its collaborator once to let it identify them (JupyterHub's OAuth page)."""
    authorize = page.get_by_role("button", name="Authorize")
    page.locator(LAB).or_(authorize).first.wait_for(timeout=START)
    if authorize.count():
        authorize.click()


def test_two_users_create_share_renew_stop_restart_and_delete(dash, new_context, shots):
    hub, _, _ = dash
    alice, bob = hub.new_user("alice"), hub.new_user("bob")
    actx = new_context()
    actx.grant_permissions(["clipboard-read", "clipboard-write"], origin=hub.url.rstrip("/"))
    a = open_page(actx, alice)
    try:
        timing(shots, "login → dashboard (alice)", login_to_dashboard(hub, a))
        assert a.url.endswith("/hub/home")
        expect(a.locator("#jhs-no-sessions")).to_be_visible()
        expect(a.locator("#jhs-limit")).to_contain_text("You have 0 of 3 sessions")
        shots(a, "flow-01-empty-dashboard")

        # + New session: one step from a name to the spawn form
        a.fill("#jhs-new-name", "work")
        t0 = time.monotonic()
        a.click("#jhs-new-session")
        a.wait_for_url(re.compile(rf"/hub/spawn/{alice}/work$"))
        # embedded honesty: types whose app is missing are disabled with the reason
        carta = a.locator(".jhs-type[data-session-type=carta]")
        expect(carta.locator("input[name=session_type]")).to_be_disabled()
        expect(carta.locator(".jhs-unavailable-why")).to_contain_text(
            "'carta' is not installed on this machine"
        )
        expect(a.locator("#jhs-unenforced-note")).to_contain_text("image, CPU, memory and GPU choices are")
        expect(a.locator("label[for=jhs-notebook-cpu] .jhs-unenforced")).to_have_text("(not enforced here)")
        shots(a, "flow-02-spawn-form")
        a.select_option("#jhs-notebook-cpu", "2")
        a.select_option("#jhs-notebook-timeout", label="4 hours")
        a.check("#jhs-notebook-collaborative")
        a.select_option("#jhs-drive-select", "__new__")
        a.fill("#jhs-new-drive", "thesis")
        a.get_by_role("button", name="Start").click()
        a.wait_for_selector(LAB, timeout=START)
        timing(shots, "+ New session → JupyterLab visible (incl. choosing options)", time.monotonic() - t0)
        options = hub.user_model(alice)["servers"]["work"]["user_options"]
        assert (options["cpu"], options["timeout"], options["drive"], options["collaborative"]) == (
            2.0,
            14400,
            "thesis",
            True,
        )

        a.goto(hub.url + "hub/home")
        work = row(a, "work")
        expect(work).to_have_attribute("data-state", "running")
        expect(work.locator(".jhs-type")).to_have_text("Notebook (JupyterLab)")
        expect(work.locator(".jhs-drive")).to_have_text("thesis")
        expect(work.locator(".jhs-why")).to_have_text("if idle (4 hours idle timeout)")
        expect(work.locator(".jhs-left")).to_have_text(re.compile(r"^(3 h 5\d min|4 h)$"))
        expect(work.locator(".jhs-access")).to_contain_text("Browser")
        expect(work.locator(".jhs-access")).to_contain_text("Collaborative: not shared yet")
        expect(a.locator("#jhs-limit")).to_contain_text("You have 1 of 3 sessions")
        shots(a, "flow-03-running")

        # share: someone who never logged in is told to use a link; bob by name works
        work.locator("[data-jhs-action=share]").click()
        expect(a.locator("#jhs-share-dialog")).to_be_visible()
        a.fill("#jhs-share-name", "nobody-ever-here")
        a.click("#jhs-share-form button[type=submit]")
        expect(a.locator("#jhs-share-message")).to_contain_text(
            "nobody-ever-here has never logged in to this hub, so sessions can't be shared with them by name yet. "
            "Create a share link below"
        )
        shots(a, "flow-04-share-never-logged-in")
        a.fill("#jhs-share-name", bob)
        a.click("#jhs-share-form button[type=submit]")
        expect(a.locator("#jhs-share-message")).to_contain_text(f"Shared with {bob}.")
        expect(a.locator(f"#jhs-share-list [data-share='user:{bob}']")).to_be_visible()
        a.click("#jhs-share-link")
        expect(a.locator("#jhs-share-link-url")).to_have_value(re.compile(r"/hub/accept-share\?code="))
        link = a.locator("#jhs-share-link-url").input_value()
        shots(a, "flow-05-shared")
        a.keyboard.press("Escape")
        expect(work.locator(".jhs-access")).to_contain_text(f"shared with {bob}, 1 open share link")

        # bob sees it under "Shared with me" and opens it
        b = open_page(new_context(), bob)
        timing(shots, "login → dashboard (bob)", login_to_dashboard(hub, b))
        shared = b.locator(f"#jhs-shared tr[data-owner='{alice}'][data-session=work]")
        expect(shared).to_contain_text("Notebook (JupyterLab)")
        shots(b, "flow-06-bob-shared-with-me")
        shared.get_by_role("link", name="Open").click()
        authorize_if_asked(b)
        b.wait_for_selector(LAB, timeout=START)
        assert f"/user/{alice}/work/" in b.url

        # someone new accepts the share link: it lands under "Shared with me" too
        carol = f"carol{time.time_ns() % 10**9}"
        c = open_page(new_context(), carol)
        c.goto(link)
        c.fill("input#username_input", carol)
        c.click("#login_submit")
        c.get_by_role("button", name=re.compile("Accept", re.I)).click()
        c.goto(hub.url + "hub/home")
        expect(c.locator(f"#jhs-shared tr[data-owner='{alice}'][data-session=work]")).to_be_visible()
        shots(c, "flow-07-link-accepted-shared-with-me")

        # renew: the maximum age moves, the idle timer does not
        before = hub.request("GET", f"services/sessions/api/sessions/{alice}/work").json()
        work.locator("[data-jhs-action=renew]").click()
        expect(a.locator("#jhs-notice")).to_contain_text("Renewed “work”")
        after = hub.request("GET", f"services/sessions/api/sessions/{alice}/work").json()
        assert after["renewals"] == before["renewals"] + 1
        assert parse_time(after["deadlines"]["max_age"]) > parse_time(before["deadlines"]["max_age"])
        expect(work.locator(".jhs-time")).to_contain_text("renewed 1×")

        # copy the ssh command
        work.locator("[data-jhs-action=ssh]").click()
        expect(a.locator("#jhs-notice")).to_contain_text("Copied: ssh -p ")
        assert a.evaluate("navigator.clipboard.readText()").endswith(f"{alice}+work@127.0.0.1")
        shots(a, "flow-08-renewed-ssh-copied")

        # stop: the row says who stopped it
        work.locator("[data-jhs-action=stop]").click()
        expect(work).to_have_attribute("data-state", "stopped", timeout=60_000)
        expect(work.locator(".jhs-end")).to_contain_text("Stopped by you.")
        shots(a, "flow-09-stopped")

        # restart with the same options, in one click
        work.locator("[data-jhs-action=restart]").click()
        expect(work).to_have_attribute("data-state", "running", timeout=START)
        again = hub.user_model(alice)["servers"]["work"]["user_options"]
        assert again == options
        shots(a, "flow-10-restarted")

        # delete: stop, then delete; the drive stays
        work.locator("[data-jhs-action=stop]").click()
        expect(work).to_have_attribute("data-state", "stopped", timeout=60_000)
        a.once("dialog", lambda d: d.accept())
        work.locator("[data-jhs-action=delete]").click()
        expect(a.locator("#jhs-notice")).to_contain_text("Deleted session “work”; its drive is kept.")
        expect(work).to_have_count(0)
        assert "work" not in hub.api("GET", f"users/{alice}?include_stopped_servers=1").json()["servers"]
        assert (hub.data_dir / "drives" / user_slug(alice) / "thesis").is_dir()
        expect(a.locator("#jhs-my-drives")).to_contain_text("thesis")
        shots(a, "flow-11-deleted")
    finally:
        stop_all_sessions(hub, alice)


def test_admin_filters_all_sessions_and_sees_drives_and_types(dash, new_context, shots):
    hub, _, _ = dash
    u1, u2 = hub.new_user("filt"), hub.new_user("filt")
    try:
        for user, name in ((u1, "one"), (u1, "two"), (u2, "three")):
            r = hub.start_session(
                user, name, {"session_type": "notebook", "new_drive": f"d{name}"}, wait=False
            )
            assert r.status_code in (201, 202), r.text
        for user, name in ((u1, "one"), (u1, "two"), (u2, "three")):
            hub.wait_ready(user, name)
        hub.stop_session(u1, "two")
        page = open_page(new_context(), "admin")
        login_to_dashboard(hub, page)
        table = "#jhs-all-sessions"
        mine = page.locator(f"{table} tbody tr[data-user^='filt']")
        expect(row(page, "one", table)).to_be_visible()
        shots(page, "admin-01-all")

        page.select_option("#jhs-filter-user", label=u1)
        expect(page.locator(f"{table} tbody tr[data-user='{u2}']")).to_be_hidden()
        expect(page.locator(f"{table} tbody tr[data-user='{u1}']")).to_have_count(2)
        page.select_option("#jhs-filter-state", "stopped")
        expect(row(page, "two", table)).to_be_visible()
        expect(row(page, "one", table)).to_be_hidden()
        shots(page, "admin-02-filtered-user-stopped")
        page.select_option("#jhs-filter-user", "")
        page.select_option("#jhs-filter-state", "running")
        page.fill("#jhs-filter-text", u2)
        expect(row(page, "three", table)).to_be_visible()
        visible = [r.get_attribute("data-session") for r in mine.all() if r.is_visible()]
        assert visible == ["three"]
        page.fill("#jhs-filter-text", "")
        page.select_option("#jhs-filter-type", label="Notebook (JupyterLab)")
        visible = sorted(r.get_attribute("data-session") for r in mine.all() if r.is_visible())
        assert visible == ["one", "three"]
        shots(page, "admin-03-filtered-type-running")

        # drives per user with who uses them; the types as loaded
        drives = page.locator("#jhs-admin-drives")
        expect(drives.locator(f"tr[data-user='{u1}'][data-drive=done] td").nth(2)).to_have_text("one")
        expect(drives.locator(f"tr[data-user='{u1}'][data-drive=dtwo] td").nth(2)).to_have_text("—")
        expect(drives.locator(f"tr[data-user='{u1}'][data-drive=done] td").nth(3)).to_have_text(
            re.compile(r"\d kB|\d B")
        )
        # an admin stops someone else's session from the dashboard: its owner is told who
        page.select_option("#jhs-filter-type", "")
        page.select_option("#jhs-filter-state", "")
        three = row(page, "three", table)
        three.locator("[data-jhs-action=stop]").click()
        expect(three).to_have_attribute("data-state", "stopped", timeout=60_000)
        expect(three.locator(".jhs-end")).to_contain_text("Stopped by you.")
        owner_page = open_page(new_context(), u2)
        login_to_dashboard(hub, owner_page)
        expect(row(owner_page, "three").locator(".jhs-end")).to_contain_text("Stopped by admin admin.")
        shots(owner_page, "admin-05-owner-sees-admin-stop")
        types = page.locator("#jhs-types")
        expect(types.locator("tr[data-type=carta] .jhs-type-unavailable")).to_contain_text(
            "'carta' is not installed"
        )
        expect(types.locator("tr[data-type=notebook]")).to_contain_text("max age 4 days")
        shots(page, "admin-04-drives-types")
    finally:
        stop_all_sessions(hub, u1)
        stop_all_sessions(hub, u2)


def test_a_broken_profile_edit_keeps_the_form_and_admins_see_why(dash, new_context, shots):
    hub, _, profiles = dash
    user = hub.new_user("edit")
    path = profiles / "notebook.yaml"
    good = path.read_text()
    try:
        path.write_text(good.replace("display_name: Notebook (JupyterLab)", "display_name: [unclosed"))
        page = open_page(new_context(), user)
        login_to_dashboard(hub, page)
        response = page.goto(hub.url + f"hub/spawn/{user}/edited")
        assert response.status == 200
        expect(page.locator(".jhs-type[data-session-type=notebook] .jhs-name")).to_have_text(
            "Notebook (JupyterLab)"
        )
        shots(page, "profile-01-form-still-served")
        admin = open_page(new_context(), "admin")
        login_to_dashboard(hub, admin)
        error = admin.locator("#jhs-types-error")
        expect(error).to_contain_text("the last good set is still served")
        expect(error).to_contain_text("notebook.yaml: field '(file)': not valid YAML")
        shots(admin, "profile-02-admin-sees-error")
        log = hub.log_path.read_text(errors="replace")
        assert "not reloaded, still serving the last good set" in log and "notebook.yaml" in log

        # a good edit is served at the next page, and the error is gone
        path.write_text(
            good.replace("display_name: Notebook (JupyterLab)", "display_name: Notebook (edited)")
        )
        page.goto(hub.url + f"hub/spawn/{user}/edited")
        expect(page.locator(".jhs-type[data-session-type=notebook] .jhs-name")).to_have_text(
            "Notebook (edited)"
        )
        admin.reload()
        expect(admin.locator("#jhs-types-error")).to_have_count(0)
    finally:
        path.write_text(good)


def test_a_failed_launch_shows_the_sessions_last_output(dash, new_context, shots):
    hub, _, _ = dash
    user = hub.new_user("fails")
    hub.api("POST", f"groups/{FAIL_GROUP}")
    assert hub.api("POST", f"groups/{FAIL_GROUP}/users", json={"users": [user]}).status_code == 200
    page = open_page(new_context(), user)
    login_to_dashboard(hub, page)
    page.fill("#jhs-new-name", "broken")
    page.click("#jhs-new-session")
    page.check("input[name=session_type][value=analysis]")
    t0 = time.monotonic()
    page.get_by_role("button", name="Start").click()
    # it fails within the hub's slow_spawn_timeout: the hub shows the form again with the error
    expect(page.locator(".spawn-error-msg")).to_contain_text(
        "The session exited while starting (exit status 3).", timeout=START
    )
    expect(page.locator(".jhs-launch-failure pre")).to_contain_text(
        "ERROR: licence server license.example.org unreachable"
    )
    expect(page.locator("input[name=session_type][value=analysis]")).to_be_checked()  # choices kept
    timing(shots, "failed launch reported on the spawn form", time.monotonic() - t0)
    shots(page, "failed-01-spawn-form")

    # the hub's progress events say the same (the progress page of a slower failure)
    token = hub.user_token(user)
    hub.api("POST", f"users/{user}/servers/broken", token=token, json={"session_type": "analysis"})
    r = hub.api("GET", f"users/{user}/servers/broken/progress", token=token, stream=True)
    events = [json.loads(line[5:]) for line in r.iter_lines(decode_unicode=True) if line.startswith("data:")]
    assert events[-1]["failed"] and "exit status 3" in events[-1]["message"]
    assert "licence server license.example.org unreachable" in events[-1]["html_message"]
    assert '<pre class="jhs-launch-output">' in events[-1]["html_message"]

    page.goto(hub.url + "hub/home")
    broken = row(page, "broken")
    expect(broken).to_have_attribute("data-state", "failed")
    expect(broken.locator(".jhs-failure")).to_contain_text(
        "The session exited while starting (exit status 3)."
    )
    broken.locator(".jhs-output summary").click()
    expect(broken.locator(".jhs-output pre")).to_contain_text("Loading the analysis toolkit")
    expect(broken.locator(".jhs-output pre")).to_contain_text(
        "licence server license.example.org unreachable"
    )
    expect(broken.locator("[data-jhs-action=restart]")).to_be_visible()
    shots(page, "failed-02-dashboard")


def test_a_culled_session_says_why(dash, new_context, shots):
    hub, service, _ = dash
    user = hub.new_user("culled")
    r = hub.start_session(user, "idle", {"session_type": "notebook", "timeout": 900})
    assert r.status_code in (201, 202), r.text
    try:
        page = open_page(new_context(), user)
        login_to_dashboard(hub, page)
        idle = row(page, "idle")
        expect(idle.locator(".jhs-why")).to_have_text("if idle (15 minutes idle timeout)")
        server = hub.user_model(user)["servers"]["idle"]
        last = parse_time(server["last_activity"]) or parse_time(server["started"])
        early = service.cull(last + timedelta(seconds=840))
        assert (user, "idle", "idle") not in early.stopped
        report = service.cull(last + timedelta(seconds=905))
        assert (user, "idle", "idle") in report.stopped
        wait_for(lambda: not hub.user_model(user)["servers"].get("idle"), timeout=60, what="culled")
        page.reload()
        expect(idle).to_have_attribute("data-state", "stopped")
        end = idle.locator(".jhs-end")
        expect(end).to_have_attribute("data-reason", "idle")
        expect(end).to_contain_text("Stopped after 15 minutes idle (idle since ")
        shots(page, "culled-01-reason")
        ended = hub.request("GET", f"services/sessions/api/ended?user={user}").json()
        assert ended[0]["reason"] == "idle" and ended[0]["timeout"] == 900
    finally:
        stop_all_sessions(hub, user)


def test_without_javascript_everything_still_works(dash, new_context, shots):
    hub, _, _ = dash
    user = hub.new_user("nojs")
    ctx = new_context(java_script_enabled=False)
    page = open_page(ctx, user)
    try:
        login_to_dashboard(hub, page)
        expect(page.locator("#noscript")).to_be_hidden()
        # + New session: the form goes through the sessions service to the spawn form
        page.fill("#jhs-new-name", "Bad Name")
        page.click("#jhs-new-session")  # the browser checks the name rule itself
        assert page.url.endswith("/hub/home")
        page.goto(hub.url + "services/sessions/new?name=Bad%20Name")  # and so does the service
        expect(page.locator("#jhs-error")).to_contain_text("“Bad Name” is not a valid session name")
        shots(page, "nojs-01-bad-name")
        page.goto(hub.url + "hub/home")
        page.fill("#jhs-new-name", "plain")
        page.click("#jhs-new-session")
        page.wait_for_url(re.compile(rf"/hub/spawn/{user}/plain$"))
        page.click("button[type=submit]")
        hub.wait_ready(user, "plain", timeout=START / 1000)
        page.goto(hub.url + "hub/home")
        plain = row(page, "plain")
        expect(plain).to_have_attribute("data-state", "running")
        expect(plain.locator(".jhs-left")).to_have_text(re.compile(r"(59|60) min|1 h"))
        shots(page, "nojs-02-running")

        # the confirmation pages are forms with the service's XSRF token, for the owner only
        confirm = hub.url + f"services/sessions/confirm/stop/{user}/plain"
        assert page.request.post(confirm, form={"x": "1"}).status == 403  # no _xsrf: refused
        other = open_page(new_context(java_script_enabled=False), hub.new_user("nojsother"))
        login_to_dashboard(hub, other)
        assert other.goto(confirm).status == 403
        expect(other.locator("#jhs-error")).to_contain_text(f"You may not stop sessions of user '{user}'")
        assert hub.user_model(user)["servers"]["plain"]["ready"]

        # stop through the confirmation page
        plain.get_by_role("link", name="Stop").click()
        expect(page.locator("#jhs-confirm")).to_contain_text("Its drive “home” and the files on it are kept.")
        shots(page, "nojs-03-confirm-stop")
        page.click("#jhs-confirm-button")
        page.wait_for_url(re.compile(r"/hub/home$"))
        wait_for(lambda: not hub.user_model(user)["servers"].get("plain"), timeout=60, what="stopped")
        page.reload()
        expect(plain).to_have_attribute("data-state", "stopped")
        expect(plain.locator(".jhs-end")).to_contain_text("Stopped by you.")
        # restart without JavaScript: the spawn form, filled with the last options
        assert (
            plain.get_by_role("link", name="Restart")
            .get_attribute("href")
            .endswith(f"/hub/spawn/{user}/plain")
        )
        plain.get_by_role("link", name="Delete").click()
        page.click("#jhs-confirm-button")
        page.wait_for_url(re.compile(r"/hub/home$"))
        expect(plain).to_have_count(0)
        shots(page, "nojs-04-deleted")
    finally:
        stop_all_sessions(hub, user)


def test_admin_filter_without_javascript(dash, new_context, shots):
    hub, _, _ = dash
    u1, u2 = hub.new_user("cssf"), hub.new_user("cssf")
    try:
        for user in (u1, u2):
            hub.start_session(user, "s", {"session_type": "notebook"})
        page = open_page(new_context(java_script_enabled=False), "admin")
        login_to_dashboard(hub, page)
        table = "#jhs-all-sessions"
        page.select_option("#jhs-filter-user", label=u1)
        expect(page.locator(f"{table} tr[data-user='{u1}']")).to_be_visible()
        expect(page.locator(f"{table} tr[data-user='{u2}']")).to_be_hidden()
        page.select_option("#jhs-filter-state", "stopped")
        expect(page.locator(f"{table} tr[data-user='{u1}']")).to_be_hidden()
        shots(page, "nojs-admin-filter")
        # stopping someone else's session without JavaScript: the service's confirmation page
        page.select_option("#jhs-filter-state", "")
        page.locator(f"{table} tr[data-user='{u1}']").get_by_role("link", name="Stop").click()
        expect(page.locator("#jhs-confirm")).to_contain_text(f"Stop session “s” of {u1}?")
        page.click("#jhs-confirm-button")
        page.wait_for_url(re.compile(r"/hub/home$"))
        wait_for(lambda: not hub.user_model(u1)["servers"].get("s"), timeout=60, what="stopped by the admin")
        ended = hub.request("GET", f"services/sessions/api/ended?user={u1}").json()
        assert (ended[0]["by"], ended[0]["by_role"]) == ("admin", "admin")
    finally:
        stop_all_sessions(hub, u1)
        stop_all_sessions(hub, u2)


def test_the_page_is_the_hubs_home_with_its_navbar(dash, new_context):
    hub, _, _ = dash
    user = hub.new_user("nav")
    page = open_page(new_context(), user)
    login_to_dashboard(hub, page)
    expect(page.locator("nav.navbar #login_widget")).to_contain_text(user)
    expect(page.locator("nav.navbar a.nav-link", has_text="Home")).to_be_visible()
    config = json.loads(page.locator("#jhs-config").text_content())
    assert config["user"] == user and config["hub_prefix"] == "/hub/"
