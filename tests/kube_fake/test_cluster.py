"""The fake cluster schedules, pulls, binds, crashes and loses nodes the way a real one does."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from tests.kube_fake.kubelet import deletion_age

NS = "default"
IMAGE = "quay.io/jupyter/base-notebook:2025-10-20"


def pod(name, cpu="1", memory="1Gi", gpu=0, image=IMAGE, claim=None, **spec):
    res = {"cpu": cpu, "memory": memory}
    if gpu:
        res["nvidia.com/gpu"] = str(gpu)
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "OnFailure",
            "containers": [
                {"name": "notebook", "image": image, "resources": {"limits": res, "requests": res}}
            ],
            **spec,
        },
    }
    if claim:
        body["spec"]["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]
        body["spec"]["containers"][0]["volumeMounts"] = [{"name": "d", "mountPath": "/d"}]
    return body


def claim(name):
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


async def until(predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def events(kube, name, reason=None):
    return [
        e
        for e in kube.objects("events")
        if e["involvedObject"]["name"] == name and (reason is None or e["reason"] == reason)
    ]


def phase(kube, name):
    p = kube.get("pods", name)
    return p and p["status"].get("phase")


def waiting_reason(kube, name):
    p = kube.get("pods", name)
    for cs in (p or {}).get("status", {}).get("containerStatuses") or []:
        return (cs.get("state") or {}).get("waiting", {}).get("reason")
    return None


async def test_a_gpu_pod_that_fits_nowhere_stays_pending_with_the_schedulers_reason(kube, kube_client):
    tol = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    await kube_client.create_namespaced_pod(NS, pod("g1", gpu=2, tolerations=tol))
    await until(lambda: phase(kube, "g1") == "Running")
    assert kube.get("pods", "g1")["spec"]["nodeName"] == "gpu-1"
    await kube_client.create_namespaced_pod(NS, pod("g2", gpu=1, tolerations=tol))
    (failed,) = await until(lambda: events(kube, "g2", "FailedScheduling"))
    assert failed["type"] == "Warning" and failed["source"]["component"] == "default-scheduler"
    assert failed["message"] == (
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: "
        "3 No preemption victims found for incoming pod.."
    )
    assert phase(kube, "g2") == "Pending"
    cond = kube.get("pods", "g2")["status"]["conditions"][0]
    assert cond["reason"] == "Unschedulable" and "Insufficient nvidia.com/gpu" in cond["message"]
    # room appears: the scheduler retries on its own
    await kube_client.delete_namespaced_pod("g1", NS, grace_period_seconds=0)
    await until(lambda: phase(kube, "g2") == "Running")


async def test_taints_selectors_and_capacity_each_have_their_reason(kube, kube_client):
    await kube_client.create_namespaced_pod(NS, pod("big", cpu="20"))
    await kube_client.create_namespaced_pod(NS, pod("p"))
    body = pod("sel")
    body["spec"]["nodeSelector"] = {"sessions.jupyterhub.org/pool": "general"}
    await kube_client.create_namespaced_pod(NS, body)
    (big,) = await until(lambda: events(kube, "big", "FailedScheduling"))
    assert big["message"].startswith(
        "0/3 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}, 2 Insufficient cpu."
    )
    (sel,) = await until(lambda: events(kube, "sel", "FailedScheduling"))
    assert (
        "1 node(s) had untolerated taint {nvidia.com/gpu: present}, 2 node(s) didn't match Pod's node affinity/selector."
        in sel["message"]
    )
    assert "3 Preemption is not helpful for scheduling" in sel["message"]
    await until(lambda: phase(kube, "p") == "Running")
    assert kube.get("pods", "p")["spec"]["nodeName"].startswith("cpu-")


async def test_claims_wait_for_their_first_consumer_then_bind_to_its_node(kube, kube_client):
    await kube_client.create_namespaced_persistent_volume_claim(NS, claim("data"))
    await asyncio.sleep(0.1)
    assert kube.get("persistentvolumeclaims", "data")["status"]["phase"] == "Pending"
    (waiting,) = await until(lambda: events(kube, "data", "WaitForFirstConsumer"))
    assert waiting["involvedObject"]["kind"] == "PersistentVolumeClaim"
    await kube_client.create_namespaced_pod(NS, pod("user", claim="data"))
    await until(lambda: phase(kube, "user") == "Running")
    pvc = kube.get("persistentvolumeclaims", "data")
    assert pvc["status"]["phase"] == "Bound"
    assert (
        pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"]
        == kube.get("pods", "user")["spec"]["nodeName"]
    )
    # a pod naming a claim that does not exist is not scheduled
    await kube_client.create_namespaced_pod(NS, pod("orphan", claim="nothere"))
    (ev,) = await until(lambda: events(kube, "orphan", "FailedScheduling"))
    assert 'persistentvolumeclaim "nothere" not found' in ev["message"]


async def test_image_pulls_take_time_or_fail_and_back_off(kube, kube_client):
    kube.kubelet.pull_seconds = 0.3
    kube.kubelet.fail_pulls("quay.io/nope/missing:1")
    await kube_client.create_namespaced_pod(NS, pod("slow"))
    await until(lambda: events(kube, "slow", "Pulling"))
    assert phase(kube, "slow") == "Pending" and waiting_reason(kube, "slow") == "ContainerCreating"
    await until(lambda: phase(kube, "slow") == "Running")
    (pulled,) = events(kube, "slow", "Pulled")
    assert pulled["message"].startswith(f'Successfully pulled image "{IMAGE}" in 300ms')

    await kube_client.create_namespaced_pod(NS, pod("bad", image="quay.io/nope/missing:1"))
    await until(lambda: waiting_reason(kube, "bad") == "ErrImagePull")
    messages = [e["message"] for e in events(kube, "bad", "Failed")]
    assert any("failed to resolve reference" in m and "not found" in m for m in messages)
    assert "Error: ErrImagePull" in messages
    await until(lambda: waiting_reason(kube, "bad") == "ImagePullBackOff")
    assert any(
        e["message"] == 'Back-off pulling image "quay.io/nope/missing:1"'
        for e in events(kube, "bad", "BackOff")
    )
    assert phase(kube, "bad") == "Pending"


async def test_a_container_that_crashes_after_running_loops_in_back_off(kube, kube_client):
    await kube_client.create_namespaced_pod(NS, pod("c"))
    await until(lambda: phase(kube, "c") == "Running")
    kube.kubelet.crash(NS, "c", exit_code=137, reason="OOMKilled")
    p = kube.get("pods", "c")
    (cs,) = p["status"]["containerStatuses"]
    assert p["status"]["phase"] == "Running" and cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"] == {
        **cs["lastState"]["terminated"],
        "exitCode": 137,
        "reason": "OOMKilled",
    }
    assert cs["restartCount"] == 1
    assert events(kube, "c", "BackOff")[0]["message"].startswith(
        "Back-off restarting failed container notebook"
    )


async def test_pods_of_a_lost_node_stay_terminating_until_it_returns(kube, kube_client):
    await kube_client.create_namespaced_pod(NS, pod("victim"))
    await until(lambda: phase(kube, "victim") == "Running")
    node = kube.get("pods", "victim")["spec"]["nodeName"]
    kube.kubelet.lose_node(node)
    ready = {c["type"]: c["status"] for c in kube.get("pods", "victim")["status"]["conditions"]}
    assert ready["Ready"] == "False"
    assert events(kube, "victim", "NodeNotReady")
    assert kube.kubelet.evict(node) == ["victim"]
    await kube_client.delete_namespaced_pod("victim", NS, grace_period_seconds=1)
    await asyncio.sleep(1.3)
    stuck = kube.get("pods", "victim")
    assert stuck is not None and deletion_age(stuck) > 0
    # nothing new lands on the lost node
    await kube_client.create_namespaced_pod(NS, pod("next", cpu="15"))
    await until(lambda: phase(kube, "next") == "Running")
    assert kube.get("pods", "next")["spec"]["nodeName"] != node
    kube.kubelet.restore_node(node)
    await until(lambda: kube.get("pods", "victim") is None)


async def test_an_unknown_priority_class_is_refused_at_admission(kube, kube_client):
    body = pod("prio")
    body["spec"]["priorityClassName"] = "gpu-sessions"
    with pytest.raises(ApiException) as e:
        await kube_client.create_namespaced_pod(NS, body)
    assert e.value.status == 403
    assert "no PriorityClass with name gpu-sessions was found" in e.value.body
    body["spec"]["priorityClassName"] = "system-cluster-critical"
    await kube_client.create_namespaced_pod(NS, body)
