"""Who gets in over SSH (issue 17 items 1, 3, 7), with the real OpenSSH client against a real hub.

- a token as password needs its own scopes on the session (and on starting it),
  and OAuth tokens issued to browser logins are refused;
- a user deleted and created again under the same name does not inherit keys;
- device invites register exactly one key, once, for the user who made them.
"""

from __future__ import annotations

import base64
import re
import subprocess
from urllib.parse import quote

import pytest

from .conftest import CLIENT_OPTS, SSH, keygen, ssh_password, user_with_key
from .test_web import browser_login

pytestmark = pytest.mark.hub


def oauth_token_of_browser_login(hub, user) -> str:
    """The OAuth token the hub issued to the ssh service for a browser login (its cookie)."""
    s = browser_login(hub, user)
    assert s.get(hub.url + "services/ssh/", timeout=30).status_code == 200
    cookie = next(c for c in s.cookies if c.name.endswith("service-ssh"))
    # a tornado secure cookie: signed, not encrypted: "2|1:0|10:<ts>|<n>:<name>|<n>:<base64 value>|<sig>"
    value = cookie.value.strip('"').split("|")[4].split(":", 1)[1]
    return base64.b64decode(value).decode()


def test_only_tokens_whose_own_scopes_allow_the_session_log_in(ssh_hub, gateway, tmp_path):
    user = ssh_hub.new_user("tok")
    ssh_hub.start_session(user, timeout=180)
    ok = ssh_password(gateway, user, ssh_hub.user_token(user), "echo in", tmp_path)
    assert ok.returncode == 0 and ok.stdout == b"in\n", ok.stderr
    for scopes in (["read:users:name"], [f"access:servers!server={user}/other"], ["read:servers!user"]):
        token = ssh_hub.user_token(user, scopes=scopes)
        r = ssh_password(gateway, user, token, "echo in", tmp_path)
        assert r.returncode == 255 and b"in\n" not in r.stdout, (scopes, r.stdout)
        assert b"Permission denied" in r.stderr
    narrow = ssh_hub.user_token(user, scopes=[f"access:servers!server={user}/"])
    r = ssh_password(gateway, user, narrow, "echo in", tmp_path)
    assert r.returncode == 0 and r.stdout == b"in\n", r.stderr


def test_an_oauth_token_of_a_browser_login_is_refused(ssh_hub, gateway, tmp_path):
    user = ssh_hub.new_user("oauth")
    ssh_hub.start_session(user, timeout=180)
    token = oauth_token_of_browser_login(ssh_hub, user)
    whoami = ssh_hub.api("GET", "user", token=token).json()
    assert whoami["name"] == user and whoami["session_id"]  # really the hub's OAuth token of that login
    r = ssh_password(gateway, user, token, "echo in", tmp_path)
    assert r.returncode == 255 and b"in\n" not in r.stdout


def test_a_token_that_may_not_start_the_session_does_not_start_it(ssh_hub, gateway, tmp_path):
    user = ssh_hub.new_user("nostart")
    token = ssh_hub.user_token(user, scopes=[f"access:servers!server={user}/"])
    r = ssh_password(gateway, user, token, "echo in", tmp_path)
    assert r.returncode == 1 and b"may not start it" in r.stderr, r.stderr
    assert ssh_hub.user_model(user)["servers"] == {}  # nothing was started


def test_keys_of_a_deleted_user_do_not_log_in_a_new_user_of_that_name(ssh_hub, gateway, keydir):
    user, device = user_with_key(ssh_hub, keydir, "reborn")
    assert gateway.ssh(device, user, "true", timeout=360).returncode == 0
    ssh_hub.stop_session(user)
    assert ssh_hub.api("DELETE", f"users/{quote(user)}").status_code == 204
    assert ssh_hub.api("POST", f"users/{quote(user)}", json={}).status_code == 201
    r = gateway.ssh(device, user, "echo in")
    assert r.returncode == 255 and b"Permission denied" in r.stderr
    keys = ssh_hub.request("GET", "services/ssh/api/keys", token=ssh_hub.user_token(user) + "")
    assert keys.status_code in (200, 403)


def invite(hub, user, name=None) -> dict:
    r = hub.request("POST", "services/ssh/api/invites", token=hub.user_token(user), json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()


def run_invite(target, device, login, timeout=120):
    args = [SSH, "-p", str(target.port), *CLIENT_OPTS, "-i", str(device.key), f"{login}@127.0.0.1"]
    return subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def keys_of(hub, user) -> list[dict]:
    return hub.request("GET", "services/ssh/api/keys", token=hub.user_token(user)).json()["keys"]


def test_an_invite_registers_the_devices_key_once(ssh_hub, gateway, keydir):
    user = ssh_hub.new_user("inv")
    device = keygen(keydir, f"{user}-phone")
    inv = invite(ssh_hub, user, "phone")
    r = run_invite(gateway, device, inv["login"])
    assert r.returncode == 0, r.stderr
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(device.pub)], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    out = r.stdout.decode()
    assert f"Registered this device's ED25519 key {fingerprint}" in out and f"for hub user {user}" in out
    assert f"ssh -p {gateway.port} {user}@127.0.0.1" in out
    assert [(k["name"], k["fingerprint"]) for k in keys_of(ssh_hub, user)] == [("phone", fingerprint)]
    assert gateway.ssh(device, user, "echo in", timeout=360).stdout == b"in\n"

    # used up: another device running the same command registers nothing
    other = keygen(keydir, f"{user}-thief")
    r = run_invite(gateway, other, inv["login"])
    assert r.returncode == 255 and b"Permission denied" in r.stderr
    assert len(keys_of(ssh_hub, user)) == 1
    assert gateway.ssh(other, user, "echo in").returncode == 255


@pytest.mark.parametrize(
    "login", ["invite-" + "a" * 22, "invite-x", "invite-" + "2" * 21 + "Z", "invite-" + "2" * 23]
)
def test_guessed_invite_codes_register_nothing(ssh_hub, gateway, keydir, login):
    device = keygen(keydir, f"guess{abs(hash(login))}")
    r = run_invite(gateway, device, login)
    assert r.returncode == 255 and b"Permission denied" in r.stderr


def test_an_invite_login_gives_no_shell_sftp_or_forward(ssh_hub, gateway, keydir):
    user, device = user_with_key(ssh_hub, keydir, "invfwd")
    inv = invite(ssh_hub, user)
    fresh = keygen(keydir, f"{user}-new")
    args = [
        SSH,
        "-p",
        str(gateway.port),
        *CLIENT_OPTS,
        "-i",
        str(fresh.key),
        f"{inv['login']}@127.0.0.1",
        "id",
    ]
    r = subprocess.run(args, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and b"uid=" not in r.stdout and b"Registered" in r.stdout
    assert re.search(rb"as 'device [0-9-]+'", r.stdout)  # no name given: a dated one
