"""Path traversal: drive names, the session's file APIs and jupyter-server-proxy paths
(jupyter-server-proxy GHSA-gcv9-6737-pjqw / GHSA-w3vc-fx9p-wp4v classes) never reach
another user's files or an arbitrary host."""

from __future__ import annotations

import json
import socket
import sys
from urllib.parse import urlsplit

import psutil
import pytest
import requests

from jupyterhub_sessions.drives import user_slug
from tests.hubtools import free_port, wait_for
from tests.serverext.exectools import connect

pytestmark = pytest.mark.hub

HOSTILE_DRIVES = [
    "..",
    "../x",
    "../../etc",
    "a/../../b",
    "/etc/passwd",
    "..%2f..%2fetc",
    "%2e%2e",
    "home/..",
    "x\x00y",
    ".hidden",
    "a\\..\\b",
    "\u2024\u2024",
    "home/../../../",
    "~root",
]


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("field", ["drive", "new_drive"])
def test_hostile_drive_names_are_400_and_create_nothing(hub, field):
    user = hub.new_user("trav")
    before = tree(hub.data_dir / "drives") if (hub.data_dir / "drives").exists() else []
    for name in HOSTILE_DRIVES:
        r = hub.start_session(user, "t", {field: name}, wait=False)
        assert r.status_code == 400, (name, r.status_code, r.text)
        assert field in r.json()["message"] or "drive" in r.json()["message"]
    after = tree(hub.data_dir / "drives") if (hub.data_dir / "drives").exists() else []
    assert after == before
    assert not hub.user_model(user)["servers"].get("t", {}).get("ready")


def leaks(r, secret) -> bool:
    return r.status_code == 200 and secret in r.text


@pytest.fixture
def alice_app(hub, alice):
    """A web app in alice's session (started through its exec endpoint) serving her drive: the
    positive control of the proxy probes (the proxy does serve her files from it)."""
    port = free_port()
    ws = connect(hub.url + alice.base, alice.token)
    try:
        command = f"exec {sys.executable} -m http.server {port} --bind 127.0.0.1"
        ws.send(json.dumps({"command": command, "pty": None}))
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True,
            timeout=60,
            what="web app in alice's session",
        )
        yield port
    finally:
        try:
            ws.send(json.dumps({"signal": "TERM"}))
        finally:
            ws.close()


def test_session_file_apis_stay_inside_the_drive(hub, alice, bob):
    bob_rel = f"{user_slug(bob.name)}/home/secret.txt"
    probes = [
        f"api/contents/../{bob_rel}",
        f"api/contents/..%2f{bob_rel.replace('/', '%2f')}",
        f"api/contents/%2e%2e/{bob_rel}",
        "api/contents/..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        f"files/..%2f{bob_rel.replace('/', '%2f')}",
        f"files/../{bob_rel}",
        f"api/contents/{hub.data_dir / 'drives' / bob_rel}",
        f"api/contents//{hub.data_dir / 'drives' / bob_rel}",
        "files//etc/passwd",
    ]
    for p in probes:
        r = hub.request("GET", alice.base + p, token=alice.token)
        assert not leaks(r, bob.secret), p
        assert "root:x:0:0" not in r.text, p
    # positive controls: the same API serves alice's own file, and bob's file is where the probes
    # aim (to bob), so a uniform 404/500 or a wrong path cannot pass for "no leak"
    assert leaks(hub.request("GET", alice.base + "api/contents/secret.txt", token=alice.token), alice.secret)
    assert leaks(hub.request("GET", alice.base + "files/secret.txt", token=alice.token), alice.secret)
    assert leaks(hub.request("GET", bob.base + "api/contents/secret.txt", token=bob.token), bob.secret)
    assert (hub.data_dir / "drives" / bob_rel).read_text() == bob.secret


def test_proxy_paths_do_not_escape_the_session(hub, alice, bob, alice_app):
    # positive controls: the proxy serves alice's file from her app; bob's file is there for bob
    assert leaks(
        hub.request("GET", alice.base + f"proxy/{alice_app}/secret.txt", token=alice.token), alice.secret
    )
    assert leaks(hub.request("GET", bob.base + "api/contents/secret.txt", token=bob.token), bob.secret)
    enc = f"user%2f{bob.name}%2f{bob.server}%2fapi%2fcontents%2fsecret.txt"
    probes = [
        f"proxy/{alice_app}/..%2f..%2f..%2f..%2f{enc}",
        f"proxy/{alice_app}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/{bob.name}/{bob.server}/api/contents/secret.txt",
        f"proxy/..%2f..%2f..%2f{enc}",
        f"proxy/8888/..%2f..%2f..%2f..%2f{enc}",
        f"proxy/absolute/8888/..%2f..%2f..%2f{enc}",
        f"..%2f..%2f{bob.name}%2f{bob.server}%2fapi%2fcontents%2fsecret.txt",
        f"proxy/%2e%2e/%2e%2e/%2e%2e/user/{bob.name}/{bob.server}/api/contents/secret.txt",
    ]
    for p in probes:
        for token in (alice.token, None):
            r = hub.request("GET", alice.base + p, token=token or "")
            assert not leaks(r, bob.secret), (p, r.status_code)


def test_proxy_refuses_other_hosts(hub, alice, alice_app):
    # positive control: a port of the session is served
    r = hub.request("GET", alice.base + f"proxy/{alice_app}/", token=alice.token)
    assert r.status_code == 200 and "Directory listing" in r.text
    for host in ("evil.example:80", "169.254.169.254:80", "10.0.0.1:80", "[::1]:1"):
        r = hub.request("GET", alice.base + f"proxy/{host}/", token=alice.token, timeout=30)
        assert r.status_code in (301, 302, 403, 404), (host, r.status_code, r.text[:200])
        location = r.headers.get("Location", "")
        assert urlsplit(location).hostname in (None, "127.0.0.1"), location


def session_port(hub, victim) -> int:
    for p, env in hub.session_processes():
        if env.get("JUPYTERHUB_USER") == victim.name and env.get("JUPYTERHUB_SERVER_NAME") == victim.server:
            for c in p.net_connections(kind="tcp"):
                if c.status == psutil.CONN_LISTEN:
                    return c.laddr.port
    raise AssertionError(f"no listening port for {victim.name}/{victim.server}")


def test_a_session_is_no_stepping_stone_into_another(hub, alice, bob, alice_app):
    """Through alice's port proxy straight at bob's server port: bob's server still wants bob."""
    port = session_port(hub, bob)
    # positive controls: alice's proxy reaches a port of her session; bob's port serves bob
    assert leaks(
        hub.request("GET", alice.base + f"proxy/{alice_app}/secret.txt", token=alice.token), alice.secret
    )
    direct = f"http://127.0.0.1:{port}/user/{bob.name}/{bob.server}/api/contents/secret.txt"
    assert leaks(
        requests.get(direct, headers={"Authorization": f"token {bob.token}"}, timeout=30), bob.secret
    )
    for path in (
        f"proxy/{port}/user/{bob.name}/{bob.server}/api/contents/secret.txt",
        f"proxy/localhost:{port}/user/{bob.name}/{bob.server}/api/contents/secret.txt",
        f"proxy/absolute/{port}/user/{bob.name}/{bob.server}/api/contents/secret.txt",
    ):
        r = hub.request("GET", alice.base + path, token=alice.token)
        assert not leaks(r, bob.secret), (path, r.status_code)
