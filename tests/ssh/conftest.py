"""A real hub (embedded backend) with the ssh service, and OpenSSH client helpers."""

from __future__ import annotations

import os
import socket
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from traitlets.config import Config

from jupyterhub_sessions.hub.services import configure_ssh_for_cluster
from tests.hubtools import free_port, start_hub, wait_for

SSH = "/usr/bin/ssh"
PUBLIC_PORT = 2022  # what the cluster-mode service shows (a LoadBalancer's port)
SFTP = "/usr/bin/sftp"
CLIENT_OPTS = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=30",
    "-F",
    "/dev/null",
]


@dataclass
class Device:
    """An ssh-keygen key pair on disk."""

    key: Path

    @property
    def pub(self) -> Path:
        return self.key.parent / (self.key.name + ".pub")


def keygen(directory: Path, name: str, kind: str = "ed25519") -> Device:
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"{name}@test", "-f", str(path)], check=True
    )
    return Device(path)


@dataclass
class SSHTarget:
    port: int
    host: str = "127.0.0.1"

    def ssh(self, device: Device | None, login: str, *command: str, input=None, timeout=180, extra=()):
        args = [SSH, "-p", str(self.port), *CLIENT_OPTS, *extra]
        if device is not None:
            args += ["-i", str(device.key)]
        args += [f"{login}@{self.host}", *command]
        return subprocess.run(
            args,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )

    def sftp(self, device: Device, login: str, batch: str, timeout=120):
        args = [
            SFTP,
            "-P",
            str(self.port),
            *CLIENT_OPTS,
            "-i",
            str(device.key),
            "-b",
            "-",
            f"{login}@{self.host}",
        ]
        return subprocess.run(args, input=batch.encode(), capture_output=True, timeout=timeout)


@pytest.fixture(scope="package")
def ssh_hub(tmp_path_factory):
    ssh_port = free_port()
    # the cluster-mode gateway of these tests runs with the test admin's token: it reports connections too
    env = {
        "JUPYTERHUB_SESSIONS_SSH_PORT": str(ssh_port),
        "JUPYTERHUB_SESSIONS_SSH_SERVICES": "ssh,test-admin",
    }
    hub = start_hub(tmp_path_factory.mktemp("sshhub"), env=env, timeout=120)
    hub.ssh_port = ssh_port
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="package")
def cluster_gateway(ssh_hub, keydir):
    """The ssh service as `configure_hub_for_cluster` runs it (Kubernetes): (SSHTarget, pages port)."""
    pages_port, ssh_port = free_port(), free_port()
    c = Config()
    c.JupyterHub.services = []
    c.JupyterHub.load_roles = []
    configure_ssh_for_cluster(
        c,
        ssh_hub.data_dir,
        service_host="localhost",
        pages_port=pages_port,
        ssh_port=ssh_port,
        public_url=ssh_hub.url,
        public_host="ssh.example.org",
        public_port=PUBLIC_PORT,
        bind="127.0.0.1",
    )
    (service,) = c.JupyterHub.services
    assert service["url"] == f"http://localhost:{pages_port}"
    # what the hub adds when it runs a managed service
    env = {
        **service["environment"],
        "JUPYTERHUB_API_TOKEN": ssh_hub.admin_token,
        "JUPYTERHUB_API_URL": ssh_hub.api_url,
        "JUPYTERHUB_SERVICE_NAME": "ssh",
        "JUPYTERHUB_SERVICE_URL": service["url"],
        "JUPYTERHUB_SERVICE_PREFIX": "/services/ssh/",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_CLIENT_ID": "service-ssh",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": "/services/ssh/oauth_callback",
        "JUPYTERHUB_SESSIONS_TEST_HUB": str(ssh_hub.data_dir),
    }
    log = open(keydir / "cluster-gw.log", "wb")
    proc = subprocess.Popen(service["command"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for port in (ssh_port, pages_port):
            wait_for(
                lambda p=port: (
                    proc.poll() is None
                    and socket.create_connection(("127.0.0.1", p), timeout=1).close()
                    or True
                ),
                timeout=60,
                what=f"cluster-mode ssh service on {port}",
            )
        yield SSHTarget(ssh_port), pages_port
    finally:
        proc.kill()
        proc.wait()
        log.close()


@pytest.fixture(scope="package")
def gateway(ssh_hub):
    return SSHTarget(ssh_hub.ssh_port)


@pytest.fixture(scope="package")
def keydir(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    os.chmod(d, 0o700)
    return d


def ssh_password(target, login: str, password: str, command: str, tmp_path, timeout=180):
    """`ssh` that answers the password prompt with `password` (SSH_ASKPASS), no keys."""
    askpass = tmp_path / f"askpass-{abs(hash(password))}.sh"
    askpass.write_text(f"#!/bin/sh\nprintf '%s\\n' '{password}'\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    args = [
        SSH,
        "-p",
        str(target.port),
        *" ".join(CLIENT_OPTS).replace("BatchMode=yes", "BatchMode=no").split(),
        "-o",
        "PreferredAuthentications=password",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "NumberOfPasswordPrompts=1",
        f"{login}@127.0.0.1",
        command,
    ]
    return subprocess.run(args, env=env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def sign(device: Device, text: str) -> str:
    """What the page asks the user to run: `ssh-keygen -Y sign` of the challenge with the key."""
    return subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-n", "jupyterhub-sessions-ssh", "-f", str(device.key)],
        input=text.encode(),
        capture_output=True,
        check=True,
    ).stdout.decode()


def register_request(hub, user, device, name, token=None):
    """POST api/keys with a signed challenge, as a user pasting a key does; the response."""
    token = token or hub.user_token(user)
    challenge = hub.request("GET", "services/ssh/api/challenge", token=token).json()["challenge"]
    body = {
        "name": name,
        "key": device.pub.read_text(),
        "challenge": challenge,
        "signature": sign(device, challenge),
    }
    return hub.request("POST", "services/ssh/api/keys", token=token, json=body)


def register(hub, user, device, name):
    """Register `device`'s public key for `user` through the ssh service's API."""
    r = register_request(hub, user, device, name)
    assert r.status_code == 201, r.text
    return r.json()


def user_with_key(hub, keydir, prefix: str, key_name: str = "laptop") -> tuple[str, Device]:
    """A new hub user with a fresh registered ed25519 key: (name, device)."""
    name = hub.new_user(prefix)
    device = keygen(keydir, name)  # unique per user: modules of the package share keydir
    register(hub, name, device, key_name)
    return name, device


@contextmanager
def forwards_to_app_and_hub(gateway_port: int, device: Device, user: str, hub_url: str):
    """Two `ssh -L` clients: one starts `python -m http.server` in the session and forwards to it,
    the other forwards to the hub's own port. Yields (app port, local app port, local hub port)."""
    port, local, local2 = free_port(), free_port(), free_port()
    hub_port = int(hub_url.rsplit(":", 1)[1].strip("/"))
    base = [
        SSH,
        "-p",
        str(gateway_port),
        *CLIENT_OPTS,
        "-i",
        str(device.key),
        "-o",
        "ExitOnForwardFailure=yes",
    ]
    quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [
        subprocess.Popen(
            base
            + [
                "-L",
                f"{local}:127.0.0.1:{port}",
                f"{user}@127.0.0.1",
                f"exec python3 -m http.server {port} --bind 127.0.0.1",
            ],
            **quiet,
        ),
        subprocess.Popen(base + ["-N", "-L", f"{local2}:127.0.0.1:{hub_port}", f"{user}@127.0.0.1"], **quiet),
    ]
    try:
        yield port, local, local2
    finally:
        for p in procs:
            p.kill()
            p.wait()
