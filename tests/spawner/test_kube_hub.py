"""A real JupyterHub process with the Kubernetes config, talking HTTP to the fake cluster.

The hub runs hub_config/kubernetes/jupyterhub_config.py unchanged (plus test
ports, database and a test admin token); it finds the cluster through the
kubeconfig like any hub outside a cluster. The kubelet gives every pod the
address of a small HTTP server in this process, so the hub sees sessions come
up. What is checked is what a user of the REST API sees.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jupyterhub_sessions.drives import pvc_name
from tests.conftest import PROFILES, REPO
from tests.hubtools import Hub, free_port, wait_for
from tests.kube_fake import Kubelet

pytestmark = pytest.mark.hub

KUBE_CONFIG = REPO / "hub_config" / "kubernetes" / "jupyterhub_config.py"


class _Pod(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"session")

    def log_message(self, *args):
        pass


@pytest.fixture
def pod_server():
    """What every fake pod serves: any HTTP answer tells the hub the server is up."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pod)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def kube_hub(kube, pod_server, tmp_path):
    kube.kubelet.close()
    kube.kubelet = Kubelet(kube, auto=True, pod_ip="127.0.0.1")
    data_dir = Path(tmp_path).resolve()
    port, hub_port, api_port, service_port = free_port(), free_port(), free_port(), free_port()
    admin_token = secrets.token_hex(32)
    config = data_dir / "test_config.py"
    config.write_text(
        f"load_subconfig({str(KUBE_CONFIG)!r})\n"
        "c = get_config()\n"
        f"c.JupyterHub.ip = '127.0.0.1'\nc.JupyterHub.port = {port}\n"
        f"c.JupyterHub.hub_ip = '127.0.0.1'\nc.JupyterHub.hub_port = {hub_port}\n"
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{api_port}'\n"
        f"c.ConfigurableHTTPProxy.pid_file = {str(data_dir / 'proxy.pid')!r}\n"
        f"c.JupyterHub.db_url = 'sqlite:///{data_dir / 'hub.sqlite'}'\n"
        f"c.JupyterHub.cookie_secret_file = {str(data_dir / 'cookie_secret')!r}\n"
        "c.JupyterHub.authenticator_class = 'dummy'\nc.Authenticator.allow_all = True\n"
        f"c.KubeSpawner.port = {pod_server}\n"
        "c.KubeSpawner.namespace = 'default'\n"
        "c.KubeSpawner.start_timeout = 30\nc.KubeSpawner.http_timeout = 15\n"
        "c.JupyterHub.services.append({'name': 'test-admin', 'api_token': "
        f"{admin_token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-admin', 'scopes': ['admin:users', "
        "'admin:servers', 'list:users', 'read:users', 'tokens'], 'services': ['test-admin']})\n"
    )
    import os
    import sys

    env = {
        **os.environ,
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "JUPYTERHUB_SESSIONS_PROFILES": str(PROFILES),
        "JUPYTERHUB_SESSIONS_DATA_DIR": str(data_dir / "sessions"),
        "JUPYTERHUB_SESSIONS_SERVICE_HOST": "127.0.0.1",
        "JUPYTERHUB_SESSIONS_SERVICE_BIND": "127.0.0.1",
        "JUPYTERHUB_SESSIONS_SERVICE_PORT": str(service_port),
        "JUPYTERHUB_SESSIONS_SSH_PORT": str(free_port()),
        "JUPYTERHUB_SESSIONS_SSH_SERVICE_PORT": str(free_port()),
        "JUPYTERHUB_SESSIONS_PUBLIC_URL": f"http://127.0.0.1:{port}/",
        "JUPYTERHUB_SESSIONS_TEST_HUB": str(data_dir),
    }
    for k in (
        "JUPYTERHUB_API_TOKEN",
        "JUPYTERHUB_SERVICE_NAME",
        "JUPYTERHUB_API_URL",
        "KUBERNETES_SERVICE_HOST",
    ):
        env.pop(k, None)
    hub = Hub(
        url=f"http://127.0.0.1:{port}/",
        data_dir=data_dir,
        admin_token=admin_token,
        config_file=config,
        env=env,
        log_path=data_dir / "hub.log",
    )
    hub.launch(timeout=90)
    try:
        yield hub
    finally:
        hub.stop()


def pods_of(kube, server: str) -> list:
    return [
        p
        for p in kube.objects("pods")
        if p["metadata"].get("annotations", {}).get("hub.jupyter.org/servername", "") == server
    ]


async def test_rest_api_sessions_on_kubernetes(kube, kube_hub):
    hub = kube_hub
    user = hub.ensure_user("ada")

    def call(*args, **kw):
        return asyncio.to_thread(hub.api, *args, **kw)

    # bad options: 400 naming the field, and nothing is created in the cluster
    r = await call("POST", f"users/{user}/servers/big", json={"session_type": "notebook", "cpu": 99})
    assert r.status_code == 400, r.text
    assert "'cpu'" in r.json()["message"]
    assert kube.objects("pods") == [] and kube.objects("persistentvolumeclaims") == []

    # a session on the default drive: pod running, PVC created, options recorded by the hub
    r = await call("POST", f"users/{user}/servers/a", json={"session_type": "carta", "cpu": 4})
    assert r.status_code in (201, 202), r.text
    await asyncio.to_thread(hub.wait_ready, user, "a", 60)
    (pod,) = pods_of(kube, "a")
    assert pod["metadata"]["labels"]["sessions.jupyterhub.org/session-type"] == "carta"
    assert kube.get("persistentvolumeclaims", pvc_name(user, "home")) is not None
    model = (await call("GET", f"users/{user}")).json()
    assert model["servers"]["a"]["user_options"]["session_type"] == "carta"
    assert model["servers"]["a"]["user_options"]["cpu"] == 4.0

    # the same drive from a second server: 409, and no second pod
    r = await call("POST", f"users/{user}/servers/b", json={"drive": "home"})
    assert r.status_code == 409, r.text
    assert "in use" in r.json()["message"]
    assert pods_of(kube, "b") == []

    # stopping keeps the drive; then the drive is free for another server
    r = await call("DELETE", f"users/{user}/servers/a")
    assert r.status_code in (202, 204), r.text
    await asyncio.to_thread(wait_for, lambda: not pods_of(kube, "a"), 30, 0.1, "pod a deleted")
    assert kube.get("persistentvolumeclaims", pvc_name(user, "home")) is not None
    r = await call("POST", f"users/{user}/servers/b", json={"drive": "home"})
    assert r.status_code in (201, 202), r.text
    await asyncio.to_thread(hub.wait_ready, user, "b", 60)
    assert len(pods_of(kube, "b")) == 1
    assert len(kube.objects("persistentvolumeclaims")) == 1


async def test_ssh_service_runs_beside_the_kube_spawner(kube_hub):
    """The Kubernetes config's ssh service is up behind the proxy: it refuses strangers, answers a
    user with the connection facts, and its gateway speaks SSH on the configured port."""
    hub = kube_hub
    r = await asyncio.to_thread(hub.request, "GET", "services/ssh/api/info", token="")
    assert r.status_code in (401, 403), r.text
    user = hub.ensure_user("sam")
    token = await asyncio.to_thread(hub.user_token, user)
    r = await asyncio.to_thread(hub.request, "GET", "services/ssh/api/info", token=token)
    assert r.status_code == 200, r.text
    info = r.json()
    # the port users ssh to: the LoadBalancer's (ssh-service.yaml maps 22 to the gateway's port)
    assert info["user"] == user and info["port"] == 22
    assert info["host_key_fingerprint"].startswith("SHA256:")

    def banner() -> bytes:
        with socket.create_connection(("127.0.0.1", int(hub.env["JUPYTERHUB_SESSIONS_SSH_PORT"])), 10) as s:
            return s.recv(64)

    first = await asyncio.to_thread(wait_for, banner, 30, 0.2, "ssh gateway banner")
    assert first.startswith(b"SSH-2.0-")
