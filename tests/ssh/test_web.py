"""The ssh service pages and API: devices (signed or by invite), how to connect, in the hub's look."""

from __future__ import annotations

import re
import subprocess

import pytest
import requests

from .conftest import keygen, register_request, sign

pytestmark = pytest.mark.hub


def browser_login(hub, user) -> requests.Session:
    """A cookie session logged in through the hub's login form, like a browser."""
    s = requests.Session()
    r = s.get(hub.url + "hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', r.text).group(1)
    r = s.post(
        hub.url + "hub/login",
        data={
            "username": user,
            "_xsrf": xsrf,
            "password": hub.env.get("JUPYTERHUB_SESSIONS_DEMO_PASSWORD", ""),
        },
        timeout=30,
    )
    assert r.status_code == 200, r.status_code
    return s


def field(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


@pytest.fixture
def carol(ssh_hub):
    return ssh_hub.new_user("carol")


def test_form_adds_a_signed_key_lists_and_removes_it(ssh_hub, keydir, carol):
    device = keygen(keydir, f"{carol}-laptop")
    s = browser_login(ssh_hub, carol)
    page = s.get(ssh_hub.url + "services/ssh/", timeout=30)  # OAuth round trip to the service
    assert page.status_code == 200 and "No keys registered yet" in page.text
    xsrf, challenge = field(page.text, "_xsrf"), field(page.text, "challenge")
    assert f"printf %s &#39;{challenge}&#39; | ssh-keygen -Y sign -n jupyterhub-sessions-ssh" in page.text
    good = {
        "name": "laptop",
        "key": device.pub.read_text(),
        "challenge": challenge,
        "signature": sign(device, challenge),
    }

    # without the XSRF token, a cookie-authenticated form post is refused and nothing is stored
    r = s.post(ssh_hub.url + "services/ssh/keys", data=good, timeout=30, allow_redirects=False)
    assert r.status_code == 403
    assert "No keys registered yet" in s.get(ssh_hub.url + "services/ssh/", timeout=30).text

    # a key without a matching signature is refused with the reason, the input kept
    other = keygen(keydir, f"{carol}-other")
    r = s.post(
        ssh_hub.url + "services/ssh/keys",
        data={**good, "signature": sign(other, challenge), "_xsrf": xsrf},
        timeout=30,
    )
    assert r.status_code == 400 and "different key" in r.text and 'value="laptop"' in r.text

    r = s.post(ssh_hub.url + "services/ssh/keys", data={**good, "_xsrf": xsrf}, timeout=30)
    assert r.status_code == 200 and "Key added." in r.text
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(device.pub)], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert f"<code>{fingerprint}</code>" in r.text and "ED25519 (256 bits)" in r.text
    keys = ssh_hub.request("GET", "services/ssh/api/keys", token=ssh_hub.user_token(carol)).json()["keys"]
    assert [k["name"] for k in keys] == ["laptop"]

    r = s.post(ssh_hub.url + f"services/ssh/keys/{keys[0]['id']}/delete", data={"_xsrf": xsrf}, timeout=30)
    assert r.status_code == 200 and "Key removed." in r.text and "No keys registered yet" in r.text


def test_page_is_a_hub_page_with_ready_commands(ssh_hub, carol):
    s = browser_login(ssh_hub, carol)
    html = s.get(ssh_hub.url + "services/ssh/", timeout=30).text
    # the hub's own page.html: its stylesheet, logo, navbar and the user's logout button
    assert 'href="/hub/static/css/style.min.css' in html and 'id="jupyterhub-logo"' in html
    assert 'href="/hub/home">Home</a>' in html and 'href="/hub/logout"' in html
    port = ssh_hub.ssh_port
    assert f'data-copy="ssh -p {port} {carol}@127.0.0.1"' in html
    assert f"HostName 127.0.0.1\n    Port {port}\n    User {carol}\n" in html
    info = ssh_hub.request("GET", "services/ssh/api/info", token=ssh_hub.user_token(carol)).json()
    assert info["port"] == port and info["user"] == carol
    # the host key is kept under the data dir (0600), so clients keep trusting it across restarts
    key_file = ssh_hub.data_dir / "ssh" / "ssh_host_ed25519_key"
    assert key_file.stat().st_mode & 0o077 == 0
    listed = subprocess.run(["ssh-keygen", "-lf", str(key_file)], capture_output=True, text=True, check=True)
    assert info["host_key_fingerprint"] == listed.stdout.split()[1]
    assert info["sessions"][0]["ssh_command"] == f"ssh -p {port} {carol}@127.0.0.1"


def test_api_errors_are_clear(ssh_hub, keydir, carol):
    device = keygen(keydir, f"{carol}-shared")
    tok = ssh_hub.user_token(carol)
    challenge = ssh_hub.request("GET", "services/ssh/api/challenge", token=tok).json()["challenge"]
    signature = sign(device, challenge)

    def add(body):
        return ssh_hub.request("POST", "services/ssh/api/keys", token=tok, json=body)

    base = {"key": device.pub.read_text(), "challenge": challenge, "signature": signature}
    for body, status, why in [
        ({**base, "key": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n"}, 400, "PRIVATE key"),
        ({**base, "name": "<b>"}, 400, "Invalid key name"),
        ({**base, "signature": ""}, 400, "Paste the signature"),
        ({**base, "signature": "hello"}, 400, "not an SSH signature"),
        ({**base, "challenge": "1.2.3"}, 400, "not made for you"),
        ({**base, "challenge": challenge + "x"}, 400, "not made for you"),
    ]:
        r = add(body)
        assert r.status_code == status and why in r.json()["message"], (body, r.text)
    r = add(base)
    assert r.status_code == 201 and r.json()["name"] == f"{carol}-shared@test"  # the key's comment
    r = add(base)
    assert r.status_code == 409 and "already registered this key" in r.json()["message"]
    assert ssh_hub.request("DELETE", "services/ssh/api/keys/999999", token=tok).status_code == 404
    assert ssh_hub.request("GET", "services/ssh/api/keys", token="").status_code in (401, 403)
    r = ssh_hub.request(
        "POST",
        "services/ssh/api/keys",
        token=tok,
        data=b"not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["message"] == "Request body is not valid JSON"


def test_a_challenge_signed_for_another_user_does_not_register(ssh_hub, keydir, carol):
    dave = ssh_hub.new_user("dave")
    device = keygen(keydir, f"{dave}-k")
    challenge = ssh_hub.request("GET", "services/ssh/api/challenge", token=ssh_hub.user_token(carol)).json()
    r = ssh_hub.request(
        "POST",
        "services/ssh/api/keys",
        token=ssh_hub.user_token(dave),
        json={
            "key": device.pub.read_text(),
            "challenge": challenge["challenge"],
            "signature": sign(device, challenge["challenge"]),
        },
    )
    assert r.status_code == 400 and "not made for you" in r.json()["message"]
    assert (
        ssh_hub.request("GET", "services/ssh/api/keys", token=ssh_hub.user_token(dave)).json()["keys"] == []
    )


def test_a_key_someone_else_registered_neither_locks_out_nor_reveals(ssh_hub, keydir, carol):
    """17.7: the owner of a key can register it after someone else did, and learns nothing."""
    squatter = ssh_hub.new_user("squat")
    device = keygen(keydir, f"{carol}-victim")
    # the squatter cannot even register it without the private key...
    other = keygen(keydir, f"{squatter}-own")
    challenge = ssh_hub.request(
        "GET", "services/ssh/api/challenge", token=ssh_hub.user_token(squatter)
    ).json()
    r = ssh_hub.request(
        "POST",
        "services/ssh/api/keys",
        token=ssh_hub.user_token(squatter),
        json={
            "key": device.pub.read_text(),
            "challenge": challenge["challenge"],
            "signature": sign(other, challenge["challenge"]),
        },
    )
    assert r.status_code == 400
    # ...and a second holder of the key (two accounts, one device) does not block the first
    assert register_request(ssh_hub, squatter, device, "shared").status_code == 201
    r = register_request(ssh_hub, carol, device, "mine")
    assert r.status_code == 201, r.text


def test_invites_api_gives_a_single_use_command(ssh_hub, carol):
    tok = ssh_hub.user_token(carol)
    r = ssh_hub.request("POST", "services/ssh/api/invites", token=tok, json={"name": "work laptop"})
    assert r.status_code == 201, r.text
    invite = r.json()
    assert re.fullmatch(rf"ssh -p {ssh_hub.ssh_port} invite-[a-z2-9]{{22}}@127\.0\.0\.1", invite["command"])
    assert invite["login"] == invite["command"].split()[-1].split("@")[0]
    assert invite["key_name"] == "work laptop" and 0 < invite["expires_in"] <= 3600
    r = ssh_hub.request("POST", "services/ssh/api/invites", token=tok, json={"name": "<script>"})
    assert r.status_code == 400 and "Invalid key name" in r.json()["message"]
    assert ssh_hub.request("POST", "services/ssh/api/invites", token="", json={}).status_code in (401, 403)


@pytest.mark.browser
def test_the_hub_home_page_can_fetch_commands_and_make_invites(ssh_hub, browser, carol, tmp_path):
    """What the dashboard does from /hub/home: a short-lived token of the user for this service
    (hub API, the hub page's own XSRF token), then the ssh API with it."""
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        ssh_hub.login(page, carol)
        page.goto(ssh_hub.url + "hub/home")
        result = page.evaluate(
            """async (user) => {
                const hubApi = (path, init) => fetch('/hub/api/' + path, {...init,
                    headers: {'X-XSRFToken': window.jhdata.xsrf_token, 'Content-Type': 'application/json'}});
                const made = await hubApi('users/' + encodeURIComponent(user) + '/tokens', {method: 'POST',
                    body: JSON.stringify({expires_in: 300, scopes: ['access:services!service=ssh'], note: 'ssh'})});
                const token = (await made.json()).token;
                const auth = {'Authorization': 'token ' + token, 'Content-Type': 'application/json'};
                const info = await (await fetch('/services/ssh/api/info', {headers: auth})).json();
                const r = await fetch('/services/ssh/api/invites', {method: 'POST', headers: auth,
                    body: JSON.stringify({name: 'from-home'})});
                const cookieOnly = await fetch('/services/ssh/api/info');
                return {made: made.status, info, status: r.status, invite: await r.json(), cookieOnly: cookieOnly.status};
            }""",
            carol,
        )
        assert result["made"] == 201
        assert result["info"]["sessions"][0]["ssh_command"] == f"ssh -p {ssh_hub.ssh_port} {carol}@127.0.0.1"
        assert result["status"] == 201 and result["invite"]["command"].startswith("ssh -p ")
        assert result["cookieOnly"] == 401  # a clear refusal, never a redirect loop

        # the page itself, in the hub's look, with working copy buttons
        ctx.grant_permissions(["clipboard-read", "clipboard-write"])
        page.goto(ssh_hub.url + "services/ssh/")
        page.click("#invite-form button[type=submit]")
        command = page.text_content("pre.invite-command")
        assert command.startswith(f"ssh -p {ssh_hub.ssh_port} invite-")
        page.click("#invite button.jhs-copy")
        assert page.evaluate("navigator.clipboard.readText()") == command
        page.screenshot(path=str(tmp_path / "ssh-page.png"), full_page=True)
    finally:
        ctx.close()
