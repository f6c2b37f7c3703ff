"""Tools that speak binary protocols over ssh exec, through the gateway, on both backends.

Debian's OpenSSH client, rsync, git and tar against a real hub: the embedded
gateway, and the service as the Kubernetes config runs it
(`configure_hub_for_cluster`: everything through the hub's proxy and the
session's endpoints). What is checked is what the user sees: files
byte-exact, stderr apart, exit statuses, a forward to a server started in the
background.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time

import pytest
import requests

from jupyterhub_sessions.drives import user_slug
from tests.hubtools import free_port, wait_for

from .conftest import CLIENT_OPTS, SSH, user_with_key

pytestmark = [pytest.mark.hub, pytest.mark.timeout(600)]


@pytest.fixture(scope="module", params=["embedded", "kubernetes"])
def backend(request, ssh_hub, keydir):
    """(ssh target, user, device, drive) with the user's session started over ssh once."""
    target = request.getfixturevalue("gateway" if request.param == "embedded" else "cluster_gateway")
    if request.param == "kubernetes":
        target = target[0]
    user, device = user_with_key(ssh_hub, keydir, f"tools{request.param[:4]}")
    r = target.ssh(device, user, "true", timeout=360)  # auto-starts the session
    assert r.returncode == 0, r.stderr
    return target, user, device, ssh_hub.data_dir / "drives" / user_slug(user) / "home"


def ssh_cmd(target, device) -> list[str]:
    return [SSH, "-p", str(target.port), *CLIENT_OPTS, "-i", str(device.key)]


def make_tree(root, seed: int) -> dict[str, str]:
    """A tree with binary files (every byte value, random data, empty, nested); name -> sha256."""
    rnd = __import__("random").Random(seed)
    files = {
        "all-bytes.bin": bytes(range(256)) * 64,
        "random.bin": rnd.randbytes(300_000),
        "empty": b"",
        "nested/deeper/crlf.txt": b"line\r\nnext\r\n\x00\xff",
        "name with spaces.dat": rnd.randbytes(5000),
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def digests(root) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def rsync(target, device, *args):
    rsh = " ".join(shlex.quote(a) for a in ssh_cmd(target, device))
    return subprocess.run(["rsync", "-a", "--stats", "-e", rsh, *args], capture_output=True, timeout=300)


def transferred(stats: bytes) -> int:
    line = next(
        ln for ln in stats.decode().splitlines() if ln.startswith("Number of regular files transferred")
    )
    return int(line.split(":")[1].replace(",", ""))


def test_rsync_both_ways_then_a_resync_moves_nothing(backend, tmp_path):
    target, user, device, drive = backend
    src = tmp_path / "src"
    want = make_tree(src, 1)
    r = rsync(target, device, f"{src}/", f"{user}@127.0.0.1:synced/")
    assert r.returncode == 0, r.stderr
    assert transferred(r.stdout) == len(want)
    assert digests(drive / "synced") == want
    r = rsync(target, device, f"{src}/", f"{user}@127.0.0.1:synced/")
    assert r.returncode == 0 and transferred(r.stdout) == 0, r.stdout  # nothing changed: nothing sent
    back = tmp_path / "back"
    r = rsync(target, device, f"{user}@127.0.0.1:synced/", f"{back}/")
    assert r.returncode == 0, r.stderr
    assert digests(back) == want


def test_git_clone_and_push_into_a_bare_repo_on_the_drive(backend, tmp_path):
    target, user, device, drive = backend
    r = target.ssh(device, user, "rm -rf project.git && git init -q --bare project.git && echo made")
    assert r.returncode == 0 and r.stdout == b"made\n", r.stderr
    env = {
        **os.environ,
        "GIT_SSH_COMMAND": " ".join(shlex.quote(a) for a in ssh_cmd(target, device)),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }

    def git(*args, cwd=tmp_path):
        r = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, timeout=120)
        assert r.returncode == 0, (args, r.stderr)
        return r

    git("clone", "-q", f"{user}@127.0.0.1:project.git", "work")
    work = tmp_path / "work"
    (work / "data.bin").write_bytes(os.urandom(200_000))
    git("add", ".", cwd=work)
    git("commit", "-qm", "binary", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    stored = subprocess.run(
        ["git", "--git-dir", str(drive / "project.git"), "rev-parse", "main"], capture_output=True, check=True
    )
    assert stored.stdout.strip() == head
    git("clone", "-q", "-b", "main", f"{user}@127.0.0.1:project.git", "again")
    assert (tmp_path / "again" / "data.bin").read_bytes() == (work / "data.bin").read_bytes()


def test_tar_through_ssh_is_byte_exact(backend, tmp_path):
    target, user, device, drive = backend
    src = tmp_path / "tree"
    want = make_tree(src, 2)
    pack = subprocess.Popen(["tar", "c", "-C", str(src), "."], stdout=subprocess.PIPE)
    r = subprocess.run(
        [
            *ssh_cmd(target, device),
            f"{user}@127.0.0.1",
            "rm -rf untarred && mkdir untarred && tar x -C untarred",
        ],
        stdin=pack.stdout,
        capture_output=True,
        timeout=180,
    )
    pack.wait(30)
    assert r.returncode == 0, r.stderr
    assert digests(drive / "untarred") == want
    # and back: a remote tar to a local one
    r = target.ssh(device, user, "tar c -C untarred .")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "x", "-C", str(out)], input=r.stdout, check=True)
    assert digests(out) == want


@pytest.mark.parametrize("protocol", [[], ["-O"]], ids=["sftp", "legacy"])
def test_scp_both_protocols(backend, tmp_path, protocol):
    """scp (the sftp protocol) and `scp -O` (the legacy protocol: `scp -t` run as a command)."""
    target, user, device, drive = backend
    blob = os.urandom(500_000)
    (tmp_path / "up.bin").write_bytes(blob)
    base = ["scp", *protocol, "-P", str(target.port), *CLIENT_OPTS, "-i", str(device.key)]
    r = subprocess.run(
        [*base, str(tmp_path / "up.bin"), f"{user}@127.0.0.1:scp.bin"], capture_output=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert (drive / "scp.bin").read_bytes() == blob
    r = subprocess.run(
        [*base, f"{user}@127.0.0.1:scp.bin", str(tmp_path / "down.bin")], capture_output=True, timeout=120
    )
    assert r.returncode == 0 and (tmp_path / "down.bin").read_bytes() == blob, r.stderr


def test_stderr_apart_and_exit_statuses(backend):
    target, user, device, _ = backend
    r = target.ssh(device, user, "printf 'o\\0ut'; printf 'e\\377rr' >&2; exit 0")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"o\0ut", b"e\xffrr")
    assert target.ssh(device, user, "false").returncode == 1
    r = target.ssh(device, user, "sleep 30 & kill -9 $!; wait $!")
    assert r.returncode == 137
    # a command killed by a signal: OpenSSH reports it as sshd's exit-signal makes it do
    r = target.ssh(device, user, "kill -9 $$")
    assert r.returncode == 255 and b"killed by signal" not in r.stdout


def test_vs_code_remote_ssh_sequence(backend, tmp_path):
    """Remote-SSH: bash fed a script on stdin starts a server in the background and says where
    it listens, the connection ends, then a direct-tcpip forward reaches that server."""
    target, user, device, drive = backend
    port = free_port()
    (drive / "vscode-www").mkdir(exist_ok=True)
    (drive / "vscode-www" / "hello.txt").write_text("from the session\n")
    script = (
        "set -e\n"
        f"cd vscode-www\n"
        f"nohup python3 -m http.server {port} --bind 127.0.0.1 > ../vscode-server.log 2>&1 &\n"
        f"for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done\n"
        f"echo listeningOn=={port}==\n"
    ).encode()
    r = subprocess.run(
        [*ssh_cmd(target, device), "-T", f"{user}@127.0.0.1", "bash"],
        input=script,
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert f"listeningOn=={port}==".encode() in r.stdout
    local = free_port()
    forward = subprocess.Popen(
        [
            *ssh_cmd(target, device),
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            f"{local}:127.0.0.1:{port}",
            f"{user}@127.0.0.1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        got = wait_for(
            lambda: requests.get(f"http://127.0.0.1:{local}/hello.txt", timeout=5),
            timeout=60,
            interval=0.5,
            what="the forwarded server",
        )
        assert got.status_code == 200 and got.text == "from the session\n"
    finally:
        forward.kill()
        forward.wait()
        target.ssh(device, user, f"pkill -f 'http.server {port}' || true")


def test_the_session_is_on_the_absolute_timeout_only_while_connected(backend, ssh_hub):
    target, user, device, _ = backend
    token = ssh_hub.user_token(user)

    def timing():
        r = ssh_hub.request("GET", f"services/sessions/api/sessions/{user}/", token=token)
        assert r.status_code == 200, r.text
        return r.json()

    held = subprocess.Popen(
        [*ssh_cmd(target, device), f"{user}@127.0.0.1", "echo in; sleep 120"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert held.stdout.readline() == b"in\n"
        s = wait_for(
            lambda: (t := timing())["ssh_connections"] > 0 and t, timeout=30, what="connection counted"
        )
        assert (s["mode"], s["timeout_applies"], s["timeout_basis"]) == ("ssh", "absolute", "ssh_connected")
    finally:
        held.kill()
        held.wait()
    closed_after = time.time() - 1
    s = wait_for(lambda: (t := timing())["ssh_connections"] == 0 and t, timeout=30, what="connection closed")
    assert (s["mode"], s["timeout_applies"], s["timeout_basis"]) == ("browser", "idle", "ssh_closed")
    from jupyterhub_sessions.service.policy import parse_time

    assert parse_time(s["idle_from"]).timestamp() >= closed_after
