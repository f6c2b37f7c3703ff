"""Sessions on a cluster that schedules as a real one does (the fake's default small cluster).

For each way a real cluster delays or refuses a session, the user reads the
cluster's own reason on the spawn progress page before the start gives up,
the hub ends consistent (no active server, no pod left behind) and the drive
is intact. Timings are the fake cluster's, not a real cluster's.
"""

from __future__ import annotations

import asyncio
import datetime

import pytest
import yaml
from tornado import web

from jupyterhub_sessions.drives import pvc_name
from jupyterhub_sessions.spawner import kube_status
from jupyterhub_sessions.spawner.kube import SessionKubeSpawner
from tests.conftest import PROFILES, REPO
from tests.kube_fake.cluster import NodeSpec, small_cluster
from tests.kube_fake.hub import FakeHub, spawn, spawner_config, stop
from tests.kube_fake.kubelet import use_cluster

GPU_IMAGE = "registry.example.org/jupyterhub-sessions/pytorch-notebook:0.1.0"
LAB_IMAGE = "registry.example.org/jupyterhub-sessions/scipy-notebook:0.1.0"


@pytest.fixture
def kcfg(kube):
    return spawner_config(kube, start_timeout=8)


@pytest.fixture
def fhub(kcfg):
    return FakeHub(kcfg, SessionKubeSpawner)


class Progress:
    """What the spawn progress page shows: the hub's progress events, with when they came."""

    def __init__(self, spawner):
        self.spawner = spawner
        self.events: list[tuple[float, str]] = []
        self.previous = spawner._start_future  # a former start's, if any
        self.task = asyncio.ensure_future(self._follow())

    async def _follow(self):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while self.spawner._start_future is self.previous:
            await asyncio.sleep(0.01)
        # the page is opened once the start is under way (the hub redirects there after the POST)
        await asyncio.sleep(0)
        async for event in self.spawner._generate_progress():
            self.events.append((loop.time() - t0, event.get("message", "")))

    async def done(self):
        await asyncio.wait_for(self.task, 15)

    def first(self, text: str) -> float | None:
        return next((t for t, m in self.events if text in m), None)


async def spawn_watched(sp, options):
    """Spawn like the hub; returns (url or the error, progress, seconds it took)."""
    progress = Progress(sp)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    try:
        result = await spawn(sp, options)
    except Exception as e:  # noqa: BLE001 - the error is what the user sees
        result = e
    took = loop.time() - t0
    await progress.done()
    return result, progress, took


def consistent(kube, sp, drive="home"):
    """No active server, no pod of it left, its drive there and untouched."""
    assert not sp.active and sp.server is None
    assert kube.get("pods", sp.pod_name) is None
    pvc = kube.get("persistentvolumeclaims", pvc_name(sp.user.name, drive))
    assert pvc is not None and pvc["metadata"]["annotations"]["sessions.jupyterhub.org/drive-name"] == drive
    assert not [r for r in kube.requests if r.method == "DELETE" and "persistentvolumeclaims" in r.path]


async def test_no_gpu_left_the_user_reads_the_schedulers_reason_then_a_clear_error(kube, kcfg, fhub):
    first = fhub.user("ann", groups=["gpu-users"]).spawner()
    await spawn(first, {"session_type": "gpu", "gpu": 2})  # takes both GPUs of gpu-1
    sp = fhub.user("ben", groups=["gpu-users"]).spawner()
    err, progress, took = await spawn_watched(sp, {"session_type": "gpu"})

    reason = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    seen = progress.first(reason)
    assert seen is not None and seen < took - 1, progress.events  # on the page, well before the end
    assert isinstance(err, web.HTTPError) and err.status_code == 503
    assert reason in err.log_message and "Pick fewer resources, or try again later" in err.log_message
    assert took < kcfg.KubeSpawner.start_timeout  # the spawner said why, before the hub's timeout
    consistent(kube, sp)
    # once the GPUs are free, the same start works
    await stop(first)
    await spawn(sp, {"session_type": "gpu"})
    assert kube.get("pods", sp.pod_name)["spec"]["nodeName"] == "gpu-1"


async def test_a_slow_image_pull_is_shown_and_the_session_starts(kube, fhub):
    kube.kubelet.pull_seconds = 1.5
    sp = fhub.user("cas").spawner()
    url, progress, _ = await spawn_watched(sp, {})
    assert isinstance(url, str)
    pulling = progress.first(f'Pulling image "{LAB_IMAGE}"')
    pulled = progress.first(f'Successfully pulled image "{LAB_IMAGE}"')
    assert pulling is not None and pulled is not None and pulling < pulled, progress.events
    # the node has it now: the next session there starts without pulling
    await stop(sp)
    await spawn(sp, {})
    uid = kube.get("pods", sp.pod_name)["metadata"]["uid"]
    second = [e["reason"] for e in kube.objects("events") if e["involvedObject"]["uid"] == uid]
    assert "Pulled" in second and "Pulling" not in second  # already present on that node


async def test_an_image_that_does_not_exist_fails_at_once_with_the_registrys_answer(kube, kcfg, fhub):
    kube.kubelet.fail_pulls(LAB_IMAGE)
    sp = fhub.user("dee").spawner()
    err, progress, took = await spawn_watched(sp, {})
    assert progress.first(f'Failed to pull image "{LAB_IMAGE}"') is not None, progress.events
    assert isinstance(err, web.HTTPError), err
    assert LAB_IMAGE in err.log_message and "not found" in err.log_message
    assert "Ask an administrator" in err.log_message
    assert took < kcfg.KubeSpawner.start_timeout / 2  # no waiting for a timeout that cannot help
    # the dashboard and the spawn form show the cluster's reason, not the inner start's cancellation
    assert sp.launch_failure["message"] == err.log_message
    consistent(kube, sp)


async def test_a_registry_hiccup_is_waited_out(kube, fhub):
    kube.kubelet.pull_backoff_seconds = 0.3
    kube.kubelet.fail_pulls(LAB_IMAGE, "rpc error: code = Unknown desc = 429 Too Many Requests")
    sp = fhub.user("eli").spawner()
    task = asyncio.ensure_future(spawn(sp, {}))
    for _ in range(200):
        if any(e["reason"] == "BackOff" for e in kube.objects("events")):
            break
        await asyncio.sleep(0.05)
    assert not task.done()  # a rate limit is not a reason to give up
    kube.kubelet.pull_failures.clear()
    assert isinstance(await asyncio.wait_for(task, 10), str)
    assert kube.get("pods", sp.pod_name)["status"]["phase"] == "Running"


async def test_a_new_drive_binds_when_its_first_session_is_scheduled(kube, fhub):
    sp = fhub.user("fay").spawner()
    kube.kubelet.auto = False  # hold the scheduler: the claim waits for its consumer
    task = asyncio.ensure_future(spawn(sp, {"new_drive": "data"}))
    claim = pvc_name("fay", "data")
    for _ in range(200):
        if kube.get("pods", sp.pod_name):
            break
        await asyncio.sleep(0.02)
    assert kube.get("persistentvolumeclaims", claim)["status"]["phase"] == "Pending"
    kube.kubelet.auto = True
    kube.kubelet.run_pod("default", sp.pod_name)
    await asyncio.wait_for(task, 10)
    pvc = kube.get("persistentvolumeclaims", claim)
    node = kube.get("pods", sp.pod_name)["spec"]["nodeName"]
    assert pvc["status"]["phase"] == "Bound"
    assert pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node


async def test_a_drive_follows_its_zone_and_a_full_zone_is_explained(kube, kcfg, fhub):
    use_cluster(
        kube,
        nodes=[
            *small_cluster(),
            NodeSpec(
                "cpu-b1",
                {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "50Gi", "pods": "110"},
                zone="zone-b",
            ),
        ],
    )
    # the drive is provisioned in zone-a by its first session
    sp = fhub.user("gil").spawner()
    await spawn(sp, {})
    assert kube.kubelet.claim_zone("default", pvc_name("gil", "home")) == "zone-a"
    await stop(sp)
    # zone-a loses its CPU nodes: the drive cannot follow the session to zone-b
    for node in ("cpu-1", "cpu-2"):
        kube.kubelet.lose_node(node)
    err, progress, _ = await spawn_watched(sp, {"cpu": 1})
    assert progress.first("node(s) had volume node affinity conflict") is not None, progress.events
    assert isinstance(err, web.HTTPError) and "volume node affinity conflict" in err.log_message
    consistent(kube, sp)


@pytest.mark.parametrize(
    "code, reason, says", [(1, "Error", "exit code 1"), (137, "OOMKilled", "more memory")]
)
async def test_a_server_that_crashes_on_start_fails_at_once(kube, kcfg, fhub, code, reason, says):
    kube.kubelet.crash_image(LAB_IMAGE, after=0, exit_code=code, reason=reason)
    sp = fhub.user("hal").spawner()
    err, progress, took = await spawn_watched(sp, {})
    assert isinstance(err, web.HTTPError), err
    assert says in err.log_message
    assert progress.first("Back-off restarting failed container notebook") is not None, progress.events
    assert took < kcfg.KubeSpawner.start_timeout / 2
    consistent(kube, sp)


async def test_a_session_that_crashes_after_running_is_seen_stopped_and_tidied(kube, fhub):
    sp = fhub.user("ida").spawner()
    await spawn(sp, {})
    assert await sp.poll() is None
    kube.kubelet.crash("default", sp.pod_name, exit_code=137, reason="OOMKilled")
    for _ in range(100):
        status = await sp.poll()
        if status is not None:
            break
        await asyncio.sleep(0.05)
    assert status == 137  # the hub's poll sees it stopped: the hub stops the server
    await stop(sp)
    consistent(kube, sp)
    await spawn(sp, {})  # and it can be started again on the same drive
    assert kube.get("pods", sp.pod_name)["status"]["phase"] == "Running"


async def test_a_lost_node_under_a_running_session(kube, kcfg, fhub):
    kcfg.SessionKubeSpawner.stuck_after = 0.5
    kcfg.KubeSpawner.start_timeout = 3  # how long stop() waits for the pod to go
    kcfg.KubeSpawner.extra_pod_config = {"terminationGracePeriodSeconds": 1}  # eviction's grace
    user = fhub.user("jay")
    a = user.spawner("a")
    await spawn(a, {})
    node = kube.get("pods", a.pod_name)["spec"]["nodeName"]
    kube.kubelet.lose_node(node)
    assert await a.poll() is None  # a node may come back: not given up yet
    kube.kubelet.evict(node)  # the taint manager, after the pods' tolerationSeconds
    for _ in range(100):
        if await a.poll() is not None:
            break
        await asyncio.sleep(0.05)
    assert await a.poll() == 1
    await stop(a)  # the hub stops it; the pod stays Terminating on the dead node
    assert not a.active
    stuck = kube.get("pods", a.pod_name)
    assert stuck is not None and stuck["metadata"]["deletionTimestamp"]
    # past its grace period by more than stuck_after (the timestamp is to the second, as the API
    # server writes it, so a fixed sleep was sometimes 0.1 s short)
    while kube_status.overdue_seconds(stuck, datetime.datetime.now(datetime.timezone.utc)) <= 0.6:
        await asyncio.sleep(0.05)

    # the drive is held: the user is told which pod, since when, and what an admin can do
    b = user.spawner("b")
    with pytest.raises(web.HTTPError) as e:
        await spawn(b, {"drive": "home"})
    msg = e.value.log_message
    assert e.value.status_code == 409
    assert a.pod_name in msg and node in msg and "since" in msg
    assert f"kubectl delete pod {a.pod_name} -n default --grace-period=0 --force" in msg
    assert kube.get("pods", b.pod_name) is None
    with pytest.raises(web.HTTPError) as e:  # the same server again: refused too, not force-deleted
        await spawn(a, {})
    assert e.value.status_code == 409 and a.pod_name in e.value.log_message
    await spawn(b, {"new_drive": "other"})  # other drives work meanwhile
    await stop(b)

    kube.kubelet.restore_node(node)  # the node returns and its kubelet finishes the deletion
    for _ in range(100):
        if kube.get("pods", a.pod_name) is None:
            break
        await asyncio.sleep(0.05)
    await spawn(a, {})
    assert kube.get("pods", a.pod_name)["status"]["phase"] == "Running"
    assert kube.get("persistentvolumeclaims", pvc_name("jay", "home")) is not None


async def test_the_optional_priority_class_needs_its_manifest(kube, kcfg, tmp_path):
    """gpu.yaml documents priorityClassName as optional: without the shipped manifest applied the
    user is told why the cluster refused the pod; with it, the session starts."""
    text = (PROFILES / "gpu.yaml").read_text()
    (tmp_path / "gpu.yaml").write_text(text + "extra_pod_config: {priorityClassName: gpu-sessions}\n")
    kcfg.SessionKubeSpawner.session_types_dir = str(tmp_path)
    sp = FakeHub(kcfg, SessionKubeSpawner).user("kim", groups=["gpu-users"]).spawner()
    with pytest.raises(web.HTTPError) as e:
        await spawn(sp, {"session_type": "gpu"})
    assert "no PriorityClass with name gpu-sessions was found" in e.value.log_message
    consistent(kube, sp)
    manifest = yaml.safe_load((REPO / "hub_config" / "kubernetes" / "priorityclass.yaml").read_text())
    assert manifest["kind"] == "PriorityClass" and manifest["apiVersion"] == "scheduling.k8s.io/v1"
    kube.store.priority_classes.add(manifest["metadata"]["name"])  # kubectl apply -f priorityclass.yaml
    await spawn(sp, {"session_type": "gpu"})
    assert kube.get("pods", sp.pod_name)["spec"]["priorityClassName"] == "gpu-sessions"
