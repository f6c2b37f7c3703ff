"""The ssh service pages and API: register, list and remove device keys; how to connect."""

from __future__ import annotations

import re
import subprocess

import pytest
import requests

from .conftest import keygen

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


def page_xsrf(html: str) -> str:
    return re.search(r'name="_xsrf" value="([^"]+)"', html).group(1)


@pytest.fixture(scope="module")
def carol(ssh_hub):
    return ssh_hub.new_user("carol")


def test_form_add_list_remove_with_xsrf(ssh_hub, keydir, carol):
    device = keygen(keydir, "carol-laptop")
    s = browser_login(ssh_hub, carol)
    page = s.get(ssh_hub.url + "services/ssh/", timeout=30)  # OAuth round trip to the service
    assert page.status_code == 200 and "No keys registered yet" in page.text
    xsrf = page_xsrf(page.text)

    # without the XSRF token, a cookie-authenticated form post is refused and nothing is stored
    r = s.post(
        ssh_hub.url + "services/ssh/keys",
        data={"name": "evil", "key": device.pub.read_text()},
        timeout=30,
        allow_redirects=False,
    )
    assert r.status_code == 403
    assert "No keys registered yet" in s.get(ssh_hub.url + "services/ssh/", timeout=30).text

    r = s.post(
        ssh_hub.url + "services/ssh/keys",
        data={"name": "laptop", "key": device.pub.read_text(), "_xsrf": xsrf},
        timeout=30,
    )
    assert r.status_code == 200 and "Key added." in r.text
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(device.pub)], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert f"<code>{fingerprint}</code>" in r.text and "ED25519 (256 bits)" in r.text

    # a bad key re-renders the form with the reason and the user's input; nothing is added
    r = s.post(
        ssh_hub.url + "services/ssh/keys",
        data={"name": "junk", "key": "ssh-rsa AAAA", "_xsrf": xsrf},
        timeout=30,
    )
    assert r.status_code == 400
    assert "damaged" in r.text and 'value="junk"' in r.text
    keys = ssh_hub.request("GET", "services/ssh/api/keys", token=ssh_hub.user_token(carol)).json()["keys"]
    assert [k["name"] for k in keys] == ["laptop"]

    key_id = keys[0]["id"]
    r = s.post(ssh_hub.url + f"services/ssh/keys/{key_id}/delete", data={"_xsrf": xsrf}, timeout=30)
    assert r.status_code == 200 and "Key removed." in r.text
    assert "No keys registered yet" in r.text


def test_page_shows_ssh_command_and_config(ssh_hub, carol):
    s = browser_login(ssh_hub, carol)
    html = s.get(ssh_hub.url + "services/ssh/", timeout=30).text
    port = ssh_hub.ssh_port
    assert f"ssh -p {port} {carol}@127.0.0.1" in html
    assert f"HostName 127.0.0.1\n    Port {port}\n    User {carol}\n" in html
    info = ssh_hub.request("GET", "services/ssh/api/info", token=ssh_hub.user_token(carol)).json()
    assert info["port"] == port
    # the host key is kept under the data dir (0600), so clients keep trusting it across restarts
    key_file = ssh_hub.data_dir / "ssh" / "ssh_host_ed25519_key"
    assert key_file.stat().st_mode & 0o077 == 0
    listed = subprocess.run(["ssh-keygen", "-lf", str(key_file)], capture_output=True, text=True, check=True)
    assert info["host_key_fingerprint"] == listed.stdout.split()[1]
    assert info["sessions"][0]["ssh_command"] == f"ssh -p {port} {carol}@127.0.0.1"


def test_api_errors_are_clear(ssh_hub, keydir, carol):
    dave = ssh_hub.new_user("dave")
    device = keygen(keydir, "shared")
    tok_c, tok_d = ssh_hub.user_token(carol), ssh_hub.user_token(dave)
    add = lambda tok, body: ssh_hub.request("POST", "services/ssh/api/keys", token=tok, json=body)  # noqa: E731

    r = add(tok_c, {"name": "x", "key": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n"})
    assert r.status_code == 400 and "PRIVATE key" in r.json()["message"]
    r = add(tok_c, {"name": "<b>", "key": device.pub.read_text()})
    assert r.status_code == 400 and "Invalid key name" in r.json()["message"]
    r = add(tok_c, {"key": device.pub.read_text()})
    assert r.status_code == 201 and r.json()["name"] == "shared@test"  # the key's comment
    r = add(tok_d, {"name": "mine", "key": device.pub.read_text()})
    assert r.status_code == 409 and "another user" in r.json()["message"]
    assert ssh_hub.request("DELETE", "services/ssh/api/keys/999999", token=tok_c).status_code == 404
    # dave cannot see or delete carol's key
    key_id = ssh_hub.request("GET", "services/ssh/api/keys", token=tok_c).json()["keys"][0]["id"]
    assert ssh_hub.request("GET", "services/ssh/api/keys", token=tok_d).json()["keys"] == []
    assert ssh_hub.request("DELETE", f"services/ssh/api/keys/{key_id}", token=tok_d).status_code == 404
    assert ssh_hub.request("GET", "services/ssh/api/keys", token="").status_code in (401, 403)
    r = ssh_hub.request(
        "POST",
        "services/ssh/api/keys",
        token=tok_c,
        data=b"not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["message"] == "Body must be JSON."
