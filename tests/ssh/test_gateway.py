"""End to end: the real OpenSSH client through the gateway into a running session."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from jupyterhub_sessions.drives import user_slug
from tests.hubtools import free_port, wait_for

from .conftest import CLIENT_OPTS, SSHTarget, forwards_to_app_and_hub, keygen, register, user_with_key

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def alice(ssh_hub, keydir):
    """alice with a registered key and her default session running (so her drive exists)."""
    name, device = user_with_key(ssh_hub, keydir, "alice")
    wait_for(
        lambda: socket.create_connection(("127.0.0.1", ssh_hub.ssh_port), timeout=1).close() or True,
        timeout=60,
        what="ssh gateway",
    )
    r = ssh_hub.start_session(name, timeout=180)
    assert r.status_code in (201, 202), r.text
    return name, device


@pytest.fixture(scope="module")
def bob(ssh_hub, keydir):
    return user_with_key(ssh_hub, keydir, "bob", "desk")


@pytest.fixture(scope="module")
def alice_drive(ssh_hub, alice):
    return ssh_hub.data_dir / "drives" / user_slug(alice[0]) / "home"


@pytest.mark.timeout(600)  # includes booting the hub and a session on a busy machine
def test_key_login_auto_starts_and_runs_in_drive(ssh_hub, gateway, keydir):
    user, device = user_with_key(ssh_hub, keydir, "auto")
    drive = ssh_hub.data_dir / "drives" / user_slug(user) / "home"
    assert ssh_hub.user_model(user)["servers"] == {}  # nothing running yet
    r = gateway.ssh(device, user, "pwd; echo hi > f; cat f", timeout=360)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == [str(drive), "hi"]
    assert (drive / "f").read_text() == "hi\n"
    assert ssh_hub.user_model(user)["servers"][""]["ready"]


def test_exit_status_stderr_and_quoting(gateway, alice):
    user, device = alice
    r = gateway.ssh(device, user, """echo "a'b \\"c\\"" $((6*7)); echo oops >&2; exit 7""")
    assert r.returncode == 7
    assert r.stdout == b'a\'b "c" 42\n'
    assert r.stderr == b"oops\n"


def test_stdin_reaches_the_command_byte_exact(gateway, alice, alice_drive):
    user, device = alice
    data = os.urandom(20000)
    r = gateway.ssh(device, user, "cat > blob; wc -c < blob", input=data)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "20000"
    assert (alice_drive / "blob").read_bytes() == data


def test_script_on_stdin_without_command(gateway, alice):
    """`ssh -T host < script` runs the script in the login shell (as VS Code's installer does)."""
    user, device = alice
    r = gateway.ssh(device, user, input=b"x=from-script\necho $x\nexit 5\n", extra=["-T"])
    assert r.returncode == 5, r.stderr
    assert r.stdout == b"from-script\n"


def test_pty_shell(gateway, alice):
    user, device = alice
    r = gateway.ssh(device, user, input=b"echo $((6*7))\nexit\n", extra=["-tt"])
    assert r.returncode == 0, r.stderr
    assert "42" in r.stdout.decode()


def test_unregistered_key_refused(gateway, alice, keydir):
    user, _ = alice
    stranger = keygen(keydir, f"{user}-stranger")
    r = gateway.ssh(stranger, user, "echo in")
    assert r.returncode == 255
    assert b"Permission denied" in r.stderr and b"in\n" not in r.stdout


def test_other_users_session_refused(gateway, alice, bob):
    r = gateway.ssh(bob[1], alice[0], "echo in")
    assert r.returncode == 255
    assert b"Permission denied" in r.stderr


def test_removed_key_no_longer_works(ssh_hub, gateway, alice, keydir):
    user, _ = alice
    temp = keygen(keydir, f"{user}-temp")
    key = register(ssh_hub, user, temp, "temp")
    assert gateway.ssh(temp, user, "true").returncode == 0
    r = ssh_hub.request("DELETE", f"services/ssh/api/keys/{key['id']}", token=ssh_hub.user_token(user))
    assert r.status_code == 204
    assert gateway.ssh(temp, user, "true").returncode == 255


def test_unknown_named_session_refused_clearly(gateway, alice):
    user, device = alice
    r = gateway.ssh(device, f"{user}+nosuch", "echo in")
    assert r.returncode == 1
    assert b"has no session named 'nosuch'" in r.stderr


def test_token_as_password(ssh_hub, gateway, alice, keydir):
    user, _ = alice
    askpass = keydir / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho '{ssh_hub.user_token(user)}'\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    args = [
        "/usr/bin/ssh",
        "-p",
        str(gateway.port),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "PreferredAuthentications=password",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "LogLevel=ERROR",
        "-F",
        "/dev/null",
        f"{user}@127.0.0.1",
        "echo token-ok",
    ]
    r = subprocess.run(args, env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"token-ok\n"
    bad = keydir / "badpass.sh"
    bad.write_text("#!/bin/sh\necho not-a-token\n")
    bad.chmod(0o700)
    r = subprocess.run(
        args + ["-o", "NumberOfPasswordPrompts=1"],
        env={**env, "SSH_ASKPASS": str(bad)},
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 255


def test_sftp_round_trip_in_the_drive(gateway, alice, alice_drive, tmp_path):
    """sftp is OpenSSH's sftp-server in the session (its SFTP bridge), starting in the drive;
    it reaches what the session reaches, like a terminal in it."""
    user, device = alice
    payload = os.urandom(100_000)
    (tmp_path / "up.bin").write_bytes(payload)
    r = gateway.sftp(device, user, f"put {tmp_path}/up.bin sub.bin\nget sub.bin {tmp_path}/down.bin\npwd\n")
    assert r.returncode == 0, r.stderr
    assert (alice_drive / "sub.bin").read_bytes() == payload
    assert (tmp_path / "down.bin").read_bytes() == payload
    assert f"Remote working directory: {alice_drive}".encode() in r.stdout


@pytest.mark.timeout(600)
def test_auto_start_off_refuses_stopped_session(ssh_hub, alice, keydir):
    """A second gateway process with auto-start off, on the same hub and key store."""
    user, device = alice
    # a named session that exists but is stopped
    ssh_hub.start_session(user, "idle", options={"new_drive": "idle"}, timeout=180)
    ssh_hub.stop_session(user, "idle")
    port = free_port()
    env = {
        **ssh_hub.env,
        "JUPYTERHUB_API_TOKEN": ssh_hub.admin_token,
        "JUPYTERHUB_API_URL": ssh_hub.api_url,
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
        "JUPYTERHUB_SESSIONS_PUBLIC_URL": ssh_hub.url,
    }
    log = open(keydir / "gw2.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterhub_sessions.ssh",
            "--SSHGateway.auto_start=False",
            f"--SSHGateway.port={port}",
            "--SSHGateway.port_fallback=False",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: (
                proc.poll() is None
                and socket.create_connection(("127.0.0.1", port), timeout=1).close()
                or True
            ),
            timeout=60,
            what="second gateway",
        )
        # same data dir, same host key: a restarted gateway is the same host to clients
        scans = [
            subprocess.run(
                ["/usr/bin/ssh-keyscan", "-t", "ed25519", "-p", str(p), "127.0.0.1"],
                capture_output=True,
                timeout=30,
            ).stdout.split()[-1]
            for p in (port, ssh_hub.ssh_port)
        ]
        assert scans[0] == scans[1]
        r = SSHTarget(port).ssh(device, f"{user}+idle", "echo in")
        assert r.returncode == 1
        assert b"session " + f"{user}/idle".encode() + b" is not running" in r.stderr
        idle = ssh_hub.user_model(user)["servers"].get("idle") or {}
        assert not idle.get("ready") and not idle.get("pending")
    finally:
        proc.kill()
        proc.wait()
        log.close()


def test_pty_window_size_follows_the_client(gateway, alice):
    """The client's terminal size reaches the session's terminal, also after a resize."""
    import fcntl
    import pty
    import select
    import signal
    import struct
    import termios
    import time

    user, device = alice
    master, slave = pty.openpty()

    def set_size(rows, cols):
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    set_size(40, 100)
    args = [
        "/usr/bin/ssh",
        "-tt",
        "-p",
        str(gateway.port),
        *CLIENT_OPTS,
        "-i",
        str(device.key),
        f"{user}@127.0.0.1",
    ]
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    seen = b""

    def expect(pattern: bytes, timeout=60):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while pattern not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"did not see {pattern!r} in {seen[-500:]!r}"
            if select.select([master], [], [], min(left, 0.5))[0]:
                seen += os.read(master, 65536)

    try:
        os.write(master, b"stty size | sed 's/ /x/'\r")
        expect(b"40x100")
        set_size(50, 132)
        proc.send_signal(signal.SIGWINCH)
        # the client sends the window change asynchronously: ask until the new size shows
        for attempt in range(30):
            os.write(master, b"stty size | sed 's/ /x/'\r")
            try:
                expect(b"50x132", timeout=2)
                break
            except AssertionError:
                if attempt == 29:
                    raise
        os.write(master, b"exit\r")
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)


def test_port_forwarding_only_to_ports_of_the_session(ssh_hub, gateway, alice):
    """`ssh -L` reaches a web app running in the session, but nothing else on the machine."""
    import requests

    user, device = alice
    with forwards_to_app_and_hub(gateway.port, device, user, ssh_hub.url) as (port, local, local2):
        r = wait_for(
            lambda: requests.get(f"http://127.0.0.1:{local}/", timeout=5),
            timeout=120,
            interval=0.5,
            what="forwarded web app",
        )
        assert r.status_code == 200 and "Directory listing" in r.text
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", local2), timeout=1).close() or True,
            timeout=60,
            what="second forward listening",
        )
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{local2}/hub/api/", timeout=10)
