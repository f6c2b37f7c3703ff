"""A real JupyterHub process with the Kubernetes config, talking HTTP to the fake cluster.

The hub runs hub_config/kubernetes/jupyterhub_config.py unchanged (plus test
ports, database and a test admin token); it finds the cluster through the
kubeconfig like any hub outside a cluster. The kubelet gives every pod the
address of a small HTTP server in this process, so the hub sees sessions come
up. What is checked is what a user of the REST API and the spawn progress page sees.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from pathlib import Path

import pytest

from jupyterhub_sessions.drives import pvc_name
from tests.conftest import PROFILES, REPO
from tests.hubtools import Hub, free_port, wait_for
from tests.kube_fake.kubelet import use_cluster

pytestmark = pytest.mark.hub

KUBE_CONFIG = REPO / "hub_config" / "kubernetes" / "jupyterhub_config.py"


@pytest.fixture
def hub_start_timeout():
    """The hub's start_timeout (a test may parametrize it)."""
    return 30


@pytest.fixture
def kube_hub(kube, pod_server, tmp_path, hub_start_timeout):
    use_cluster(kube, pod_ip="127.0.0.1")  # the small cluster; every pod answers on pod_server
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
        f"c.KubeSpawner.start_timeout = {hub_start_timeout}\nc.KubeSpawner.http_timeout = 15\n"
        "c.KubeSpawner.poll_interval = 2\n"
        "c.JupyterHub.services.append({'name': 'test-admin', 'api_token': "
        f"{admin_token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-admin', 'scopes': ['admin:users', "
        "'admin:servers', 'admin:groups', 'list:users', 'read:users', 'tokens'], 'services': ['test-admin']})\n"
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


GPU_HOG = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "training-job"},
    "spec": {
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [
            {
                "name": "train",
                "image": "nvcr.io/nvidia/pytorch:25.01-py3",
                "resources": {"limits": {"nvidia.com/gpu": "2"}},
            }
        ],
    },
}


def progress_events(hub, user: str, server: str, timeout: float = 60) -> list[dict]:
    """The spawn progress page's event stream, read to its end (ready or failed)."""
    import json

    import requests

    events = []
    url = hub.api_url + f"/users/{user}/servers/{server}/progress"
    with requests.get(
        url, headers={"Authorization": f"token {hub.admin_token}"}, stream=True, timeout=timeout
    ) as r:
        assert r.status_code == 200, r.text
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1].get("failed") or events[-1].get("ready"):
                    break
    return events


@pytest.mark.parametrize("hub_start_timeout", [12])
async def test_the_progress_page_shows_why_the_cluster_cannot_place_a_session(kube, kube_hub):
    hub = kube_hub
    user = hub.ensure_user("gus")
    r = await asyncio.to_thread(hub.api, "POST", "groups/gpu-users", json={"users": [user]})
    assert r.status_code in (201, 409), r.text
    kube.store.create("pods", "default", GPU_HOG)  # someone's job holds both GPUs of gpu-1
    for _ in range(100):
        if (kube.get("pods", "training-job") or {}).get("spec", {}).get("nodeName"):
            break
        await asyncio.sleep(0.05)

    r = await asyncio.to_thread(hub.api, "POST", f"users/{user}/servers/g", json={"session_type": "gpu"})
    assert r.status_code == 202, r.text
    events = await asyncio.to_thread(progress_events, hub, user, "g")
    messages = [e.get("message", "") for e in events]
    reason = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    shown = [i for i, m in enumerate(messages) if reason in m and "[Warning]" in m]
    assert shown and shown[0] < len(messages) - 1, messages  # on the page before the end
    final = events[-1]
    assert final.get("failed") and final["message"].startswith(
        "Spawn failed: The session did not start within"
    )
    assert reason in final["message"] and "Pick fewer resources" in final["message"]
    # the hub is consistent: no server running or pending, no pod, the drive kept
    model = (await asyncio.to_thread(hub.api, "GET", f"users/{user}")).json()
    server = model["servers"].get("g")
    assert server is None or (not server["ready"] and not server["pending"]), server
    assert pods_of(kube, "g") == []
    assert kube.get("persistentvolumeclaims", pvc_name(user, "home")) is not None


async def test_the_hub_notices_a_session_whose_server_crashes_and_tidies_up(kube, kube_hub):
    hub = kube_hub
    user = hub.ensure_user("hedy")
    r = await asyncio.to_thread(hub.api, "POST", f"users/{user}/servers/n", json={"session_type": "notebook"})
    assert r.status_code in (201, 202), r.text
    await asyncio.to_thread(hub.wait_ready, user, "n", 60)
    (pod,) = pods_of(kube, "n")
    kube.kubelet.crash("default", pod["metadata"]["name"], exit_code=137, reason="OOMKilled")

    def gone():
        server = hub.api("GET", f"users/{user}").json()["servers"].get("n")
        return server is None or not (server["ready"] or server["pending"])

    await asyncio.to_thread(wait_for, gone, 30, 0.2, "the hub to see the crash")
    assert pods_of(kube, "n") == []  # no crash-looping pod left behind
    assert kube.get("persistentvolumeclaims", pvc_name(user, "home")) is not None
