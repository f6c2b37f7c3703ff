"""An in-process Kubernetes core/v1 API server for tests, plus a kubelet stand-in.

    with FakeKubernetes() as kube:
        kubelet = Kubelet(kube, auto=True)
        # point kubernetes_asyncio / KubeSpawner at kube.url
        kube.faults.add("POST", r"/pods$", status=500)   # next pod create fails

Fixtures built on it live in `tests.kube_fake.fixtures` (loaded by tests/conftest.py).
"""

from .errors import ApiError
from .faults import Fault, Faults
from .kubelet import Kubelet
from .server import FakeKubernetes, Request
from .store import RESOURCES, Store

__all__ = ["ApiError", "FakeKubernetes", "Fault", "Faults", "Kubelet", "RESOURCES", "Request", "Store"]
