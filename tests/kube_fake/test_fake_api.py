"""The fake API server behaves like a real one for what our code relies on."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from tests.kube_fake.kubelet import use_kind_cluster

NS = "default"


def pod(name, labels=None, **container):
    c = {"name": "notebook", "image": "quay.io/jupyter/base-notebook:2025-10-20", **container}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [c]},
    }


def status_of(e: ApiException) -> dict:
    return json.loads(e.body)


async def test_create_get_list_and_status_errors(kube, kube_client):
    kube.kubelet.auto = False
    created = await kube_client.create_namespaced_pod(NS, pod("a", {"app": "x"}))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.status.phase == "Pending"
    await kube_client.create_namespaced_pod(NS, pod("b", {"app": "y"}))

    got = await kube_client.read_namespaced_pod("a", NS)
    assert got.metadata.labels == {"app": "x"}
    listed = await kube_client.list_namespaced_pod(NS, label_selector="app in (x,z)")
    assert [p.metadata.name for p in listed.items] == ["a"]
    listed = await kube_client.list_namespaced_pod(NS, field_selector="metadata.name!=a")
    assert [p.metadata.name for p in listed.items] == ["b"]

    with pytest.raises(ApiException) as e:
        await kube_client.read_namespaced_pod("missing", NS)
    assert e.value.status == 404
    assert status_of(e.value)["reason"] == "NotFound" and status_of(e.value)["kind"] == "Status"

    with pytest.raises(ApiException) as e:
        await kube_client.create_namespaced_pod(NS, pod("a"))
    assert e.value.status == 409 and status_of(e.value)["reason"] == "AlreadyExists"

    with pytest.raises(ApiException) as e:
        await kube_client.create_namespaced_pod("nowhere", pod("c"))
    assert e.value.status == 404 and "namespaces" in status_of(e.value)["message"]

    with pytest.raises(ApiException) as e:
        await kube_client.list_namespaced_pod(NS, field_selector="spec.image=x")
    assert e.value.status == 400


@pytest.mark.parametrize(
    "body, field",
    [
        (pod("Upper"), "metadata.name"),
        (pod("ok", {"bad key!": "v"}), "metadata.labels"),
        (pod("ok", {"k": "x" * 64}), "metadata.labels"),
        (pod("ok", resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}), "resources.requests[cpu]"),
        (pod("ok", resources={"limits": {"nvidia.com/gpu": "0.5"}}), "nvidia.com/gpu"),
        (pod("ok", volumeMounts=[{"name": "nope", "mountPath": "/x"}]), "volumeMounts[0].name"),
        (pod("ok", colour="blue"), "spec.containers[0]"),
    ],
)
async def test_invalid_objects_get_422_naming_the_field(kube, kube_client, body, field):
    with pytest.raises(ApiException) as e:
        await kube_client.create_namespaced_pod(NS, body)  # a dict is sent as it is
    assert e.value.status == 422
    st = status_of(e.value)
    assert st["reason"] == "Invalid"
    assert field in st["message"], st["message"]
    assert kube.objects("pods") == []


async def test_watch_resumes_from_resource_version(kube, kube_client):
    kube.kubelet.auto = False
    listed = await kube_client.list_namespaced_pod(NS)
    rv = listed.metadata.resource_version
    await kube_client.create_namespaced_pod(NS, pod("w", {"app": "x"}))
    await kube_client.patch_namespaced_pod("w", NS, {"metadata": {"labels": {"extra": "1"}}})
    await kube_client.delete_namespaced_pod("w", NS)

    w = watch.Watch()
    seen = []
    async with w.stream(
        kube_client.list_namespaced_pod, NS, resource_version=rv, label_selector="app=x", timeout_seconds=1
    ) as stream:
        async for ev in stream:
            seen.append((ev["type"], ev["raw_object"]["metadata"]["name"]))
            if len(seen) == 3:
                break
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


async def test_watch_sees_objects_leaving_the_selector_and_times_out(kube, kube_client):
    kube.kubelet.auto = False
    await kube_client.create_namespaced_pod(NS, pod("s", {"app": "x"}))
    rv = (await kube_client.list_namespaced_pod(NS)).metadata.resource_version
    await kube_client.patch_namespaced_pod("s", NS, {"metadata": {"labels": {"app": "other"}}})
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    w = watch.Watch()
    types = []
    async with w.stream(
        kube_client.list_namespaced_pod, NS, resource_version=rv, label_selector="app=x", timeout_seconds=1
    ) as stream:
        async for ev in stream:
            types.append(ev["type"])
    assert types == ["DELETED"]
    assert 0.8 < loop.time() - t0 < 10  # the server closed the stream at timeoutSeconds


async def test_watch_from_compacted_version_is_gone(kube, kube_client):
    await kube_client.create_namespaced_pod(NS, pod("old"))
    rv = (await kube_client.list_namespaced_pod(NS)).metadata.resource_version
    await kube_client.delete_namespaced_pod("old", NS, grace_period_seconds=0)
    kube.store.compact()
    w = watch.Watch()
    with pytest.raises(ApiException) as e:
        async with w.stream(
            kube_client.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=1
        ) as stream:
            async for _ in stream:
                pass
    assert e.value.status == 410


async def test_replace_with_stale_version_conflicts(kube, kube_client):
    use_kind_cluster(kube)  # claims bind at once
    created = await kube_client.create_namespaced_persistent_volume_claim(
        NS,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    current = await kube_client.read_namespaced_persistent_volume_claim("data", NS)
    assert current.status.phase == "Bound"
    stale = created.to_dict()
    stale["metadata"]["labels"] = {"a": "b"}
    body = kube_client.api_client.sanitize_for_serialization(created)
    body["metadata"]["labels"] = {"a": "b"}
    with pytest.raises(ApiException) as e:
        await kube_client.replace_namespaced_persistent_volume_claim("data", NS, body)
    assert e.value.status == 409 and status_of(e.value)["reason"] == "Conflict"
    shrink = kube_client.api_client.sanitize_for_serialization(current)
    shrink["spec"]["resources"]["requests"]["storage"] = "512Mi"
    with pytest.raises(ApiException) as e:
        await kube_client.replace_namespaced_persistent_volume_claim("data", NS, shrink)
    assert e.value.status == 422


async def test_graceful_pod_deletion_and_kubelet(kube, kube_client):
    kube.kubelet.shutdown_seconds = 0.2
    await kube_client.create_namespaced_pod(NS, pod("k"))
    for _ in range(500):
        p = await kube_client.read_namespaced_pod("k", NS)
        if p.status.phase == "Running":
            break
        await asyncio.sleep(0.02)
    assert p.status.pod_ip and p.spec.node_name in kube.kubelet.nodes
    assert any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)
    events = await kube_client.list_namespaced_event(NS, field_selector="involvedObject.kind=Pod")
    assert {"Scheduled", "Started"} <= {e.reason for e in events.items}

    deleted = await kube_client.delete_namespaced_pod("k", NS, grace_period_seconds=30)
    assert deleted.metadata.deletion_timestamp is not None
    assert (await kube_client.read_namespaced_pod("k", NS)).metadata.deletion_timestamp
    for _ in range(500):
        if kube.get("pods", "k") is None:
            break
        await asyncio.sleep(0.02)
    assert kube.get("pods", "k") is None


async def test_fault_injection(kube, kube_client):
    fault = kube.faults.add("POST", r"/namespaces/default/pods$", status=500, times=1)
    with pytest.raises(ApiException) as e:
        await kube_client.create_namespaced_pod(NS, pod("f"))
    assert e.value.status == 500 and fault.hits == 1
    assert kube.objects("pods") == []
    await kube_client.create_namespaced_pod(NS, pod("f"))  # the next one goes through

    kube.faults.add("GET", r"/pods/f$", hang=2)
    with pytest.raises(asyncio.TimeoutError):
        await kube_client.read_namespaced_pod("f", NS, _request_timeout=0.3)


async def test_owner_references_are_garbage_collected(kube, kube_client):
    p = await kube_client.create_namespaced_pod(NS, pod("owner"))
    await kube_client.create_namespaced_secret(
        NS,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="owned",
                owner_references=[
                    client.V1OwnerReference(api_version="v1", kind="Pod", name="owner", uid=p.metadata.uid)
                ],
            ),
            string_data={"k": "v"},
        ),
    )
    assert kube.get("secrets", "owned")["data"] == {"k": "dg=="}
    await kube_client.delete_namespaced_pod("owner", NS, grace_period_seconds=0)
    assert kube.get("secrets", "owned") is None


async def test_a_request_held_across_a_reset_is_dropped(kube, kube_client):
    held = kube.faults.add("POST", r"/namespaces/default/pods$", status=None, hang=1.0)
    with pytest.raises(asyncio.TimeoutError):
        await kube_client.create_namespaced_pod(NS, pod("zombie"), _request_timeout=0.1)
    # the reset comes while the API server holds the request: on a busy machine the request
    # can reach it after the client has given up (then, reset first, it was a new test's request)
    for _ in range(250):
        if held.hits:
            break
        await asyncio.sleep(0.02)
    assert held.hits == 1
    kube.reset()  # the next test's cluster
    await asyncio.sleep(1.3)
    assert kube.get("pods", "zombie") is None


async def test_rbac_refuses_what_no_rule_allows_in_the_api_servers_words(kube, kube_client):
    kube.rbac = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create"]}]
    await kube_client.create_namespaced_pod(NS, pod("allowed"))
    assert [p.metadata.name for p in (await kube_client.list_namespaced_pod(NS)).items] == ["allowed"]
    with pytest.raises(ApiException) as e:
        await kube_client.delete_namespaced_pod("allowed", NS)
    assert e.value.status == 403
    assert status_of(e.value)["message"] == (
        'pods is forbidden: User "system:serviceaccount:default:hub" cannot delete resource "pods" '
        'in API group "" in the namespace "default"'
    )
    with pytest.raises(ApiException) as e:
        await kube_client.list_namespaced_config_map(NS)
    assert e.value.status == 403 and 'cannot list resource "configmaps"' in status_of(e.value)["message"]
    with pytest.raises(ApiException) as e:
        await kube_client.read_namespaced_pod_status("allowed", NS)
    assert 'resource "pods/status"' in status_of(e.value)["message"]
    kube.rbac = None  # off (the default): everything is allowed again
    await kube_client.delete_namespaced_pod("allowed", NS)
