"""The ssh service as the Kubernetes config runs it (`configure_hub_for_cluster`).

The command and environment come from the same function the hub config calls;
the process runs against the package's real hub, like the hub would run it in
its pod: key pages on a bind address the service URL does not name, a public
port that differs from the listening one (a LoadBalancer's mapping), shells,
commands, sftp and forwarded ports through the hub's URL (the session's bridges).
"""

from __future__ import annotations

import os
import socket

import pytest

from jupyterhub_sessions.drives import user_slug
from tests.hubtools import wait_for

from .conftest import PUBLIC_PORT, forwards_to_app_and_hub, user_with_key

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def erin(ssh_hub, keydir):
    return user_with_key(ssh_hub, keydir, "erin")


@pytest.mark.timeout(600)
def test_commands_run_in_the_session_through_the_hub(ssh_hub, cluster_gateway, erin):
    target, _ = cluster_gateway
    user, device = erin
    r = target.ssh(device, user, "echo from-$((40+2)); pwd", timeout=360)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "from-42" and lines[1].endswith("/home")
    assert ssh_hub.user_model(user)["servers"][""]["ready"]


def test_key_page_shows_the_public_host_and_port(ssh_hub, cluster_gateway, erin):
    import requests

    _, pages_port = cluster_gateway
    user, _ = erin
    # straight to the bind address, as the proxy reaches the hub pod
    r = requests.get(
        f"http://127.0.0.1:{pages_port}/services/ssh/api/info",
        headers={"Authorization": f"token {ssh_hub.user_token(user)}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    info = r.json()
    assert (info["host"], info["port"]) == ("ssh.example.org", PUBLIC_PORT)
    assert info["sessions"][0]["ssh_command"] == f"ssh -p {PUBLIC_PORT} {user}@ssh.example.org"


def test_sftp_round_trip_through_the_session(ssh_hub, cluster_gateway, erin, tmp_path):
    """sftp is OpenSSH's sftp-server inside the session, reached through its SFTP bridge."""
    target, _ = cluster_gateway
    user, device = erin
    payload = os.urandom(300_000)
    (tmp_path / "up.bin").write_bytes(payload)
    r = target.sftp(
        device, user, f"put {tmp_path}/up.bin up.bin\nget up.bin {tmp_path}/down.bin\nls -1\n", timeout=180
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "down.bin").read_bytes() == payload
    assert "up.bin" in r.stdout.decode()
    # the file is in the session's drive (the server's root directory), written by the session
    drive = ssh_hub.data_dir / "drives" / user_slug(user) / "home"
    assert (drive / "up.bin").read_bytes() == payload
    # the session's output reaches the hub's log through its log file, within a second
    wait_for(
        lambda: (
            "SFTP bridge open for user=test-admin session=" + user
            in ssh_hub.log_path.read_text(errors="replace")
        ),
        timeout=15,
        what="the session's log line in the hub log",
    )


def test_port_forwarding_goes_through_the_session(ssh_hub, cluster_gateway, erin):
    """`ssh -L` to a web app in the session works through the session's TCP bridge;
    a port that is not the session's is refused."""
    import requests

    target, _ = cluster_gateway
    user, device = erin
    with forwards_to_app_and_hub(target.port, device, user, ssh_hub.url) as (port, local, local2):
        r = wait_for(
            lambda: requests.get(f"http://127.0.0.1:{local}/", timeout=5),
            timeout=120,
            interval=0.5,
            what="forwarded web app",
        )
        assert r.status_code == 200 and "Directory listing" in r.text
        # a bigger answer, byte-exact, through ssh -> gateway -> proxy -> session -> app
        blob = os.urandom(3 * 1024 * 1024)
        drive = ssh_hub.data_dir / "drives" / user_slug(user) / "home"
        (drive / "blob.bin").write_bytes(blob)
        assert requests.get(f"http://127.0.0.1:{local}/blob.bin", timeout=60).content == blob
        # carried by the session's TCP bridge (the session logs it), not a local connection
        wait_for(
            lambda: (
                f"TCP bridge open for user=test-admin session={user}/(default) to port {port}"
                in ssh_hub.log_path.read_text(errors="replace")
            ),
            timeout=15,
            what="the session's log line in the hub log",
        )
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", local2), timeout=1).close() or True,
            timeout=60,
            what="second forward listening",
        )
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{local2}/hub/api/", timeout=10)
