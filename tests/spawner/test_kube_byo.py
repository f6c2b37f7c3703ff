"""Your own image and your own session types on Kubernetes (SessionKubeSpawner on the fake cluster).

The pod is what counts here: a custom image and a personal type's image reach the pod
spec, a shared type changed after a member started it leaves the running pod alone and
the restart builds the new one, and nothing a user type could say adds pod settings.
"""

from __future__ import annotations

import asyncio

import pytest

from jupyterhub_sessions.spawner.kube import SessionKubeSpawner
from jupyterhub_sessions.usertypes import DirectoryStore, UserTypeRecord
from jupyterhub_sessions.usertypes.kube_store import ConfigMapStore
from jupyterhub_sessions.usertypes.model import new_id
from tests.kube_fake.hub import FakeHub, spawn, spawner_config, stop

GOOD = {"name": "Team R", "image": "quay.io/jupyter/r-notebook:2025-10-20"}


def container(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")


@pytest.fixture(params=["directory", "configmap"])
def store_kind(request):
    return request.param


@pytest.fixture
def setup(kube, tmp_path, store_kind):
    """(hub, store): spawners reading personal types from `store_kind`, as the sessions service writes them."""
    config = spawner_config(kube)
    if store_kind == "directory":
        location = str(tmp_path / "user-types")
        store = DirectoryStore(location)
    else:
        location = "configmap"
        store = ConfigMapStore("default", ttl=0)
    config.SessionSpawnerMixin.user_types_store = location
    return FakeHub(config, SessionKubeSpawner), store


async def put(store, record: UserTypeRecord, expected: int | None = None):
    if expected is None:
        return await store.create(record)
    return await store.replace(record, expected)


async def test_a_custom_image_reaches_the_pod_and_a_refused_one_makes_nothing(kube, setup):
    hub, _ = setup
    sp = hub.user("alice").spawner("mine")
    image = "registry.example.org/team-a/notebook@sha256:" + "ab" * 32
    await spawn(sp, {"session_type": "notebook", "image": image})
    assert container(kube.get("pods", sp.pod_name))["image"] == image
    assert sp.user_options["image"] == image
    await stop(sp)
    other = hub.user("alice").spawner("other")
    with pytest.raises(Exception) as e:
        await spawn(other, {"session_type": "notebook", "image": "registry.example.org/x:1 --privileged"})
    assert getattr(e.value, "status_code", None) == 400
    assert kube.get("pods", other.pod_name) is None


async def test_a_shared_type_changed_after_a_member_started_it_keeps_the_running_pod(kube, setup):
    hub, store = setup
    record = UserTypeRecord(id=new_id(), owner="alice", spec={**GOOD, "share_with_groups": ["physics"]})
    await put(store, record)
    bob = hub.user("bob", groups=["physics"])
    sp = bob.spawner("r")
    await spawn(sp, {"session_type": record.slug})
    pod = kube.get("pods", sp.pod_name)
    assert container(pod)["image"] == GOOD["image"]
    assert pod["metadata"]["labels"]["sessions.jupyterhub.org/session-type"] == record.slug
    # alice changes the image and the resources of her shared type
    changed = UserTypeRecord(
        id=record.id,
        owner="alice",
        spec={
            **GOOD,
            "image": "quay.io/jupyter/r-notebook:2025-11-01",
            "resources": {"cpu": 2},
            "share_with_groups": ["physics"],
        },
        revision=2,
    )
    await put(store, changed, expected=1)

    async def seen_by_the_hub():  # the hub process lists ConfigMaps at most every second
        for _ in range(100):
            reg = await sp.refresh_user_types()
            if reg.get(record.slug).record.revision == 2:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the hub never saw the edit")

    await seen_by_the_hub()
    assert await sp.poll() is None
    same = kube.get("pods", sp.pod_name)
    assert same["metadata"]["uid"] == pod["metadata"]["uid"] and container(same)["image"] == GOOD["image"]
    assert sp.session_type_record["revision"] == 1
    # a restart re-posts the recorded options: the type as it is now
    options = dict(sp.user_options)
    assert "image" not in options
    await stop(sp)
    await spawn(sp, options)
    new = container(kube.get("pods", sp.pod_name))
    assert new["image"] == "quay.io/jupyter/r-notebook:2025-11-01"
    # the member's recorded choices (CPU 1, within the type's range) are re-sent; the new default is not forced
    assert new["resources"]["limits"]["cpu"] == 1.0 and sp.session_type_obj.resources.cpu.default == 2
    assert sp.session_type_record["revision"] == 2
    await stop(sp)


async def test_a_personal_type_adds_no_pod_settings_and_only_admin_placements(kube, tmp_path):
    """Pods of a personal type carry the admin's base config and the chosen placement, nothing more."""
    import shutil

    from tests.conftest import PROFILES

    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles)
    policy = (
        (profiles / "_policy.yaml")
        .read_text()
        .replace(
            "  # placements:\n",
            "  placements:\n    - {name: highmem, node_selector: {pool: highmem}, tolerations: [{key: highmem, operator: Exists}]}\n",
        )
    )
    (profiles / "_policy.yaml").write_text(policy)
    config = spawner_config(kube)
    config.SessionKubeSpawner.session_types_dir = str(profiles)
    config.SessionSpawnerMixin.user_types_store = str(tmp_path / "user-types")
    config.KubeSpawner.extra_pod_config = {"priorityClassName": ""}
    store = DirectoryStore(tmp_path / "user-types")
    record = UserTypeRecord(id=new_id(), owner="alice", spec={**GOOD, "placement": "highmem"})
    await store.create(record)
    from tests.kube_fake.cluster import kind_cluster
    from tests.kube_fake.kubelet import use_kind_cluster

    nodes = kind_cluster()
    nodes[0].labels["pool"] = "highmem"  # the placement's nodes exist (otherwise the pod stays Pending)
    nodes[0].taints.append({"key": "highmem", "value": "yes", "effect": "NoSchedule"})
    use_kind_cluster(kube, nodes=nodes)
    hub = FakeHub(config, SessionKubeSpawner)
    sp = hub.user("alice").spawner("p")
    reg = await sp.refresh_user_types()
    assert reg.get(record.slug).error is None, reg.get(record.slug).error
    await spawn(sp, {"session_type": record.slug})
    pod = kube.get("pods", sp.pod_name)
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"pool": "highmem"}
    assert {"key": "highmem", "operator": "Exists"} in spec["tolerations"]
    assert (
        not spec.get("hostNetwork")
        and not spec.get("hostPID")
        and spec["automountServiceAccountToken"] is False
    )
    assert [v["name"] for v in spec["volumes"]] == ["session-drive", "session-scratch"]
    c = container(pod)
    assert c["securityContext"] == {"allowPrivilegeEscalation": False}
    assert not any(e["name"] in ("LD_PRELOAD",) for e in c["env"])
    await stop(sp)
