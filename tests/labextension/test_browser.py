"""The JupyterLab extension in a real session: a real hub (embedded platform),
a real single-user server with the server extension, headless Chromium.

The session type has a short maximum age (500 s, renewable by an hour), so the
countdown visibly ticks, the expiry warning fires at once, and Renew visibly
moves the expiry.
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime
from urllib.parse import quote

import pytest

from jupyterhub_sessions.drives import user_slug
from tests.hubtools import free_port, start_hub, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.hub, pytest.mark.timeout(600)]

# A hostile-looking display name: it must show as text, never as markup.
QUICK_TYPE = """\
display_name: Quick <b>Lab</b>
default: true
image: {default: local}
interface: {kind: lab}
timeouts: {default: -1, choices: [900], allow_never: true}
lifetime: {max_age: 500, renewal_period: 3600}
collaborative: true
"""

CLOCK = re.compile(r"(?:(\d+) min )?(\d+) s")


def seconds_of(text: str) -> int:
    """'8 min 03 s' -> 483 (the countdown format below an hour)."""
    m = CLOCK.search(text)
    assert m, f"no countdown in {text!r}"
    return int(m.group(1) or 0) * 60 + int(m.group(2))


@pytest.fixture(scope="module")
def quick_hub(tmp_path_factory):
    base = tmp_path_factory.mktemp("labext")
    profiles = base / "profiles"
    profiles.mkdir()
    (profiles / "quick.yaml").write_text(QUICK_TYPE)
    hub = start_hub(base / "hub", env={"JUPYTERHUB_SESSIONS_PROFILES": str(profiles)}, timeout=180)
    try:
        yield hub
    finally:
        hub.stop()


def run_in_terminal(hub, user: str, command: str, expect: str, timeout: float = 60) -> None:
    """Type `command` into a new Jupyter terminal of the user's session (like a user would),
    then read the terminal until `expect` shows (the command is running)."""
    from websockets.sync.client import connect

    token = hub.user_token(user)
    r = hub.request("POST", f"user/{quote(user)}/api/terminals", token=token)
    assert r.status_code == 200, r.text
    name = r.json()["name"]
    ws_url = hub.url.replace("http://", "ws://") + f"user/{quote(user)}/terminals/websocket/{name}"
    with connect(ws_url, additional_headers={"Authorization": f"token {token}"}, open_timeout=30) as ws:
        ws.send(json.dumps(["stdin", command + "\r"]))
        seen = ""
        deadline = time.monotonic() + timeout
        while expect not in seen:
            assert time.monotonic() < deadline, f"terminal never showed {expect!r}: {seen[-500:]!r}"
            kind, *text = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if kind == "stdout":
                seen += "".join(text)


def open_panel(page):
    page.locator(".jp-SessionsStatus-text").click()
    panel = page.locator("#jupyterhub-sessions-panel")
    panel.wait_for(state="visible", timeout=30_000)
    return panel


def test_session_panel_countdown_renew_share_ports(quick_hub, browser):
    hub = quick_hub
    alice = hub.new_user("alice")
    bob = hub.new_user("bob")
    # idle timeout 15 min; the 500 s maximum age comes first until Renew moves it an hour out
    r = hub.start_session(alice, options={"collaborative": True, "timeout": 900}, timeout=180)
    assert r.status_code in (201, 202), r.text

    # A web app started inside the session, on a port chosen now.
    app_port = free_port()
    run_in_terminal(
        hub, alice, f"{sys.executable} -m http.server {app_port} --bind 127.0.0.1", f"port {app_port}"
    )

    ctx = browser.new_context()
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} at {m.location.get('url')}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    hub.login(page, alice)
    page.goto(hub.session_url(alice) + "lab", timeout=120_000)

    # Status bar: type and a live countdown below the 500 s maximum age.
    status = page.locator(".jp-SessionsStatus-text")
    status.wait_for(state="visible", timeout=90_000)
    first = status.inner_text()
    assert first.startswith("Quick <b>Lab</b> · "), first
    assert 0 < seconds_of(first) <= 500
    # it ticks: sample each new value the status bar paints, until it has gone down three times
    samples = [(time.time(), seconds_of(status.inner_text()))]
    for _ in range(3):
        page.wait_for_function(
            "([sel, old]) => document.querySelector(sel).innerText !== old",
            arg=[".jp-SessionsStatus-text", status.inner_text()],
            timeout=15_000,
        )
        samples.append((time.time(), seconds_of(status.inner_text())))
    values = [v for _, v in samples]
    assert values == sorted(values, reverse=True) and values[-1] < values[0], samples
    # It shows the hub's expiry: a busy page may paint a few seconds late.
    timing = hub.request("GET", f"services/sessions/api/sessions/{alice}/").json()
    expires = datetime.fromisoformat(timing["expires_at"].replace("Z", "+00:00")).timestamp()
    for at, shown in samples:
        assert -2 <= shown - (expires - at) <= 5, (samples, timing["expires_at"])

    # Under 10 minutes left: a visible warning that offers Renew.
    warning = page.locator(".Toastify__toast", has_text="This session will be stopped in")
    warning.wait_for(state="visible", timeout=15_000)
    assert "maximum age" in warning.inner_text()

    # Side panel: session facts, rendered as text.
    panel = open_panel(page)
    assert panel.locator(".jp-SessionsPanel-type").inner_text() == "Quick <b>Lab</b>"
    assert panel.locator(".jp-SessionsPanel-drive").inner_text() == "home"
    # the session's private scratch directory ($SCRATCH; embedded backend: under the data dir)
    scratch = panel.locator(".jp-SessionsPanel-scratch").inner_text()
    assert scratch == str(hub.data_dir / "scratch" / user_slug(alice) / "_default"), scratch
    assert panel.locator(".jp-SessionsPanel-renewals").inner_text() == "0"
    assert panel.locator("b").count() == 0
    ends_before = panel.locator(".jp-SessionsPanel-expires").inner_text()
    # the maximum age ends it first; the later idle deadline is listed too
    assert panel.locator(".jp-SessionsPanel-deadline").count() == 1
    assert panel.locator(".jp-SessionsPanel-deadline.jp-mod-idle").is_visible()

    # Renew: the maximum age moves to an hour from now.
    panel.locator(".jp-SessionsPanel-renew").click()
    wait_for(lambda: panel.locator(".jp-SessionsPanel-renewals").inner_text() == "1",
             timeout=30, what="renewal shown")
    assert panel.locator(".jp-SessionsPanel-expires").inner_text() != ends_before
    # now the idle timeout comes first, and the moved maximum age is shown too
    wait_for(lambda: "when idle" in panel.locator(".jp-SessionsPanel-timeLeft").inner_text(),
             timeout=30, what="idle timeout first")
    after = seconds_of(panel.locator(".jp-SessionsPanel-timeLeft").inner_text())
    assert 0 < after <= 900, after
    max_age_row = panel.locator(".jp-SessionsPanel-deadline.jp-mod-max_age")
    timing = hub.request("GET", f"services/sessions/api/sessions/{alice}/").json()
    assert timing["expiry_reason"] == "idle"
    # as the browser writes the service's deadline (local time)
    shown = page.evaluate("iso => new Date(Date.parse(iso)).toLocaleString()", timing["deadlines"]["max_age"])
    assert max_age_row.inner_text() == shown
    max_age = datetime.fromisoformat(timing["deadlines"]["max_age"].replace("Z", "+00:00")).timestamp()
    assert 55 * 60 <= max_age - time.time() <= 3600
    assert timing["renewals"] == 1

    # Ports: the web app is listed with a proxy link that opens it in a new tab.
    ports = panel.locator(".jp-SessionsPanel-ports")
    link = ports.get_by_role("link", name=str(app_port), exact=True)
    ports.locator(".jp-SessionsPanel-refreshPorts").click()  # the app listens already (see above)
    link.wait_for(timeout=30_000)
    expected = hub.session_url(alice) + f"proxy/{app_port}/"
    assert link.get_attribute("href") == expected
    with ctx.expect_page() as new_tab:
        link.click()
    tab = new_tab.value
    tab.wait_for_load_state()
    assert tab.url == expected
    assert "Directory listing" in tab.content()
    tab.close()

    # Share: a link that bob accepts, then alice revokes his access.
    panel.locator(".jp-SessionsPanel-createLink").click()
    link_input = panel.locator(".jp-SessionsPanel-linkInput")
    link_input.wait_for(state="visible", timeout=30_000)
    accept_url = link_input.input_value()
    assert "accept-share?code=" in accept_url, accept_url
    assert panel.locator(".jp-SessionsPanel-noShares").is_visible()

    bob_ctx = browser.new_context()
    bob_page = bob_ctx.new_page()
    hub.login(bob_page, bob)
    bob_page.goto(accept_url)
    bob_page.get_by_role("button", name="Accept invitation").click()
    # The hub asks bob once to let alice's server identify him, then opens it.
    bob_page.get_by_role("button", name="Authorize").click(timeout=60_000)
    bob_page.wait_for_url(re.compile(f"^{re.escape(hub.session_url(alice))}"), wait_until="commit", timeout=60_000)
    bob_ctx.close()

    shares = panel.locator(".jp-SessionsPanel-shares")
    panel.locator(".jp-SessionsPanel-refreshShares").click()
    shares.get_by_text(bob, exact=True).wait_for(timeout=30_000)
    panel.get_by_role("button", name=f"Revoke access of user {bob}").click()
    panel.locator(".jp-SessionsPanel-noShares").wait_for(timeout=30_000)
    r = hub.api("GET", f"shares/{alice}/")
    assert r.status_code == 200 and r.json()["items"] == [], r.text

    # Invite by name: an unknown user is a readable error; a group lets its members in.
    invite = panel.locator(".jp-SessionsPanel-invite")
    invite.get_by_label("User name").fill("nobody-by-this-name")
    invite.get_by_role("button", name="Share").click()
    # someone who never logged in: the message says to send a share link instead
    toast = page.locator(".Toastify__toast", has_text="has never logged in to this hub")
    toast.wait_for(timeout=30_000)
    assert "Create a share link" in toast.inner_text()
    # the browser logs the refused request itself; that one is expected
    errors[:] = [e for e in errors if not ("400" in e and "sessions-api/shares" in e)]
    carol = hub.new_user("carol")
    team = f"team-{carol}"
    assert hub.api("POST", f"groups/{team}", json={"users": [carol]}).status_code == 201
    contents = f"user/{quote(alice)}/api/contents"
    assert hub.request("GET", contents, token=hub.user_token(carol)).status_code == 403
    invite.get_by_label("Share with a user or a group").select_option("group")
    invite.get_by_label("Group name").fill(team)
    invite.get_by_role("button", name="Share").click()
    shares.get_by_text(team, exact=True).wait_for(timeout=30_000)
    assert "(group)" in shares.inner_text()
    assert hub.request("GET", contents, token=hub.user_token(carol)).status_code == 200
    panel.get_by_role("button", name=f"Revoke access of group {team}").click()
    panel.locator(".jp-SessionsPanel-noShares").wait_for(timeout=30_000)
    assert hub.request("GET", contents, token=hub.user_token(carol)).status_code == 403

    # The link itself stays valid until revoked; revoking ends every outstanding link.
    links = panel.locator(".jp-SessionsPanel-links")
    assert "1 share link is still valid" in links.inner_text()
    links.get_by_role("button", name="Revoke share links").click()
    links.wait_for(state="detached", timeout=30_000)
    r = hub.api("GET", f"share-codes/{alice}/")
    assert r.status_code == 200 and r.json()["items"] == [], r.text

    assert errors == [], errors
    ctx.close()
    hub.stop_session(alice)


def test_session_panel_says_which_timeout_applies_while_ssh_is_connected(quick_hub, browser, tmp_path):
    """The Timeout row: idle from the last activity; from the start while an SSH connection is
    open (a real OpenSSH client through the hub's gateway); idle from the disconnect after."""
    import subprocess

    from tests.ssh.conftest import CLIENT_OPTS, SSH, keygen, register

    hub = quick_hub
    user = hub.new_user("sshpanel")
    r = hub.start_session(user, options={"timeout": 900}, timeout=180)
    assert r.status_code in (201, 202), r.text
    device = keygen(tmp_path, "panel-key")
    register(hub, user, device, "laptop")
    port = hub.request("GET", "services/ssh/api/info", token=hub.user_token(user)).json()["port"]

    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        hub.login(page, user)
        page.goto(hub.session_url(user) + "lab", timeout=120_000)
        page.locator(".jp-SessionsStatus-text").wait_for(state="visible", timeout=90_000)
        row = open_panel(page).locator(".jp-SessionsPanel-timeout")
        wait_for(lambda: "Counted from the last activity" in row.inner_text(), timeout=30, what="idle row")
        assert row.inner_text().startswith("15 min 00 s idle")

        held = subprocess.Popen(
            [
                SSH,
                "-p",
                str(port),
                *CLIENT_OPTS,
                "-i",
                str(device.key),
                f"{user}@127.0.0.1",
                "echo in; sleep 120",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert held.stdout.readline() == b"in\n"
            page.reload()
            row = open_panel(page).locator(".jp-SessionsPanel-timeout")
            wait_for(lambda: "1 SSH connection is open" in row.inner_text(), timeout=60, what="absolute row")
            assert row.inner_text().startswith("15 min 00 s from the start")
            page.screenshot(path=str(tmp_path / "panel-ssh.png"))
        finally:
            held.kill()
            held.wait()
        page.reload()
        row = open_panel(page).locator(".jp-SessionsPanel-timeout")
        wait_for(lambda: "last SSH connection closed" in row.inner_text(), timeout=60, what="idle again")
    finally:
        ctx.close()
