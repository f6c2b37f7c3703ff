"""Label and name injection into Kubernetes objects (kubespawner GHSA-v7m9-9497-p9gr class):
hostile user names become valid, distinct, slugged labels and names; selectors built from
them never match another user's drives or pods; the raw names live only in annotations."""

from __future__ import annotations

import pytest

from jupyterhub_sessions.drives import pvc_name
from jupyterhub_sessions.spawner.kube import SessionKubeSpawner
from tests.kube_fake.hub import FakeHub, spawn, spawner_config, stop
from tests.kube_fake.validation import LABEL_VALUE

VICTIM = "bob"
ATTACKERS = [
    "bob,app.kubernetes.io/component=session-drive",
    "bob,sessions.jupyterhub.org/owner=bob",
    "x,sessions.jupyterhub.org/owner in (bob)",
    "bob=",
    "bob!",
    "BOB",
    "bob\nsessions.jupyterhub.org/owner=bob",
    "!bob",
    "bob--",
    "sessions.jupyterhub.org/owner",
]


@pytest.fixture
def fhub(kube):
    return FakeHub(spawner_config(kube), SessionKubeSpawner)


async def test_hostile_user_names_cannot_reach_another_users_drives(kube, fhub):
    bob = fhub.user(VICTIM).spawner()
    await spawn(bob, {"new_drive": "private"})  # bob keeps running on 'private'

    for name in ATTACKERS:
        sp = fhub.user(name).spawner()
        # same drive name as bob's, while bob's pod mounts it: not "in use" for someone else
        await spawn(sp, {"new_drive": "private"})
        drives = await sp.drive_backend.list_drives(name)
        assert [(d.name, d.owner, d.ref) for d in drives] == [("private", name, pvc_name(name, "private"))]
        pod = kube.get("pods", sp.pod_name)
        meta = pod["metadata"]
        for key, value in meta["labels"].items():
            assert LABEL_VALUE.match(value), (key, value)
            assert "," not in value and "=" not in value and "\n" not in value
        assert meta["annotations"]["hub.jupyter.org/username"] == name
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["session-drive"]["persistentVolumeClaim"]["claimName"] == pvc_name(name, "private")
        await stop(sp)

    # bob's view is untouched: one drive, his own, still mounted by his running pod
    drives = await bob.drive_backend.list_drives(VICTIM)
    assert [(d.name, d.owner) for d in drives] == [("private", VICTIM)]
    assert kube.get("pods", bob.pod_name)["status"]["phase"] == "Running"
    claims = {p["metadata"]["name"] for p in kube.objects("persistentvolumeclaims")}
    assert len(claims) == len(ATTACKERS) + 1
    await stop(bob)


async def test_a_pvc_with_forged_labels_is_not_handed_to_the_user(kube, fhub, kube_client):
    """Someone labels a claim as 'mallory's drive' (or names it like one): mallory still cannot mount it."""
    from jupyterhub_sessions.drives import drive_labels

    body = {
        "metadata": {
            "name": pvc_name("mallory", "loot"),
            "labels": drive_labels("mallory", "loot"),
            "annotations": {
                "sessions.jupyterhub.org/username": "bob",
                "sessions.jupyterhub.org/drive-name": "loot",
            },
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await kube_client.create_namespaced_persistent_volume_claim("default", body)
    sp = fhub.user("mallory").spawner()
    assert await sp.drive_backend.list_drives("mallory") == []
    with pytest.raises(Exception) as e:
        await spawn(sp, {"drive": "loot"})
    assert getattr(e.value, "status_code", None) == 400
    assert kube.objects("pods") == []
