"""pytest fixtures for the fake Kubernetes API (loaded from tests/conftest.py).

`kube_api` is one server for the whole run (session scope, its own thread);
`kube` hands each test an empty small cluster (`cluster.small_cluster()`: nodes
with taints and capacity, image pulls, claims bound on first use) whose
scheduler and kubelets act on their own, and at the end stops KubeSpawner's
shared reflectors, which belong to the test's loop. A test that needs another
cluster calls `kubelet.use_cluster(kube, ...)` or `kubelet.use_kind_cluster(kube)`.
"""

from __future__ import annotations

import json

import pytest

from .kubelet import Kubelet
from .server import FakeKubernetes


@pytest.fixture(scope="session")
def kube_api(tmp_path_factory):
    """The fake API server, with a kubeconfig naming it (as a real cluster has)."""
    import kubernetes_asyncio.config.kube_config as kube_config

    fake = FakeKubernetes().start()
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(json.dumps(fake.kubeconfig()))
    mp = pytest.MonkeyPatch()
    mp.setenv("KUBECONFIG", str(path))
    mp.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    try:
        yield fake
    finally:
        mp.undo()
        fake.stop()


@pytest.fixture
async def kube(kube_api):
    """An empty small fake cluster for one test; pods are scheduled and started on their own."""
    kube_api.reset()
    kube_api.kubelet = Kubelet(kube_api, auto=True)
    try:
        yield kube_api
    finally:
        from kubespawner import KubeSpawner

        await KubeSpawner._stop_all_reflectors()
        kube_api.kubelet.close()
        kube_api.reset()


@pytest.fixture
async def kube_client(kube):
    """A kubernetes_asyncio CoreV1Api talking to the fake over HTTP."""
    from kubernetes_asyncio import client

    cfg = client.Configuration(host=kube.url)
    async with client.ApiClient(cfg) as api:
        yield client.CoreV1Api(api)
