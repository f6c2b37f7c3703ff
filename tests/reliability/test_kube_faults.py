"""Kubernetes API faults during spawn, stop and drive creation (fake cluster, fault injection).

Every scenario ends with the same invariants, checked by the autouse fixture:
no pod exists that no running session owns, every PVC is a complete drive
(labelled, annotated, bound), and no request ever deleted a PVC. Failures the
user sees are HTTP errors with a message saying what happened and that
trying again is safe; trying again succeeds once the fault is gone.
"""

from __future__ import annotations

import re

import pytest
from tornado import web

from jupyterhub_sessions.drives import pvc_name
from jupyterhub_sessions.spawner.kube import SessionKubeSpawner
from tests.kube_fake.hub import FakeHub, spawn, spawner_config, stop

PODS = r"/namespaces/default/pods$"
POD = r"/namespaces/default/pods/[^/]+$"
PVCS = r"/namespaces/default/persistentvolumeclaims$"
PVC = r"/namespaces/default/persistentvolumeclaims/[^/]+$"


@pytest.fixture
def kcfg(kube):
    return spawner_config(kube, k8s_api_request_timeout=1, k8s_api_request_retry_timeout=6)


@pytest.fixture
def fhub(kcfg):
    return FakeHub(kcfg, SessionKubeSpawner)


@pytest.fixture(autouse=True)
def invariants(kube):
    """After every scenario: complete drives only, and not one PVC DELETE."""
    yield
    for pvc in kube.objects("persistentvolumeclaims"):
        meta = pvc["metadata"]
        assert meta["labels"]["app.kubernetes.io/component"] == "session-drive", meta
        assert meta["annotations"]["sessions.jupyterhub.org/drive-name"], meta
        # a drive no pod has used yet waits for its first consumer (WaitForFirstConsumer)
        assert pvc["status"]["phase"] in ("Bound", "Pending"), pvc
    deletes = [r.path for r in kube.requests if r.method == "DELETE" and "persistentvolumeclaims" in r.path]
    assert deletes == [], f"a PVC was deleted: {deletes}"


def pods(kube) -> list[str]:
    return sorted(p["metadata"]["name"] for p in kube.objects("pods"))


def pvcs(kube) -> list[str]:
    return sorted(p["metadata"]["name"] for p in kube.objects("persistentvolumeclaims"))


async def spawn_error(sp, options, expected=web.HTTPError) -> BaseException:
    """The error a failed spawn raises; anything but `expected` (a TypeError, say) fails the test."""
    with pytest.raises(expected) as e:
        await spawn(sp, options)
    return e.value


def requests_to(kube, method: str, pattern: str) -> int:
    return len([r for r in kube.requests if r.method == method and re.search(pattern, r.path)])


# ---- drive creation --------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 429, 504])
async def test_transient_pvc_create_errors_are_retried(kube, kcfg, fhub, status):
    sp = fhub.user("ana").spawner()
    kube.faults.add("POST", PVCS, status=status, times=2)
    await spawn(sp, {"new_drive": "data"})
    assert pvcs(kube) == [pvc_name("ana", "data")]
    assert pods(kube) == [sp.pod_name]
    await stop(sp)
    assert pods(kube) == [] and pvcs(kube) == [pvc_name("ana", "data")]


@pytest.mark.parametrize("lost_reply", [False, True], ids=["request-hangs", "reply-lost"])
async def test_pvc_create_timeout_is_retried_and_makes_one_drive(kube, kcfg, fhub, lost_reply):
    sp = fhub.user("ben").spawner()
    kube.faults.add("POST", PVCS, status=None, hang=2.5, after=lost_reply)
    await spawn(sp, {"new_drive": "data"})
    assert pvcs(kube) == [pvc_name("ben", "data")]
    assert (
        len([r for r in kube.requests if r.method == "POST" and r.path.endswith("persistentvolumeclaims")])
        >= 2
    )
    assert pods(kube) == [sp.pod_name]


async def test_pvc_conflict_without_a_drive_is_a_clear_retryable_error(kube, kcfg, fhub):
    """409 on create, yet no claim to read back (deleted meanwhile): refuse, change nothing."""
    sp = fhub.user("cal").spawner()
    kube.faults.add("POST", PVCS, status=409)
    err = await spawn_error(sp, {"new_drive": "data"})
    assert isinstance(err, web.HTTPError) and err.status_code == 503, err
    assert "try again" in err.log_message
    assert pods(kube) == [] and pvcs(kube) == []
    assert sp.session is None
    await spawn(sp, {"new_drive": "data"})
    assert pvcs(kube) == [pvc_name("cal", "data")] and pods(kube) == [sp.pod_name]


async def test_cluster_outage_on_drive_creation_is_a_503_and_a_retry_succeeds(kube, kcfg, fhub):
    kcfg.KubeSpawner.k8s_api_request_retry_timeout = 2
    sp = fhub.user("dee").spawner()
    kube.faults.add("POST", PVCS, status=503, times=-1)
    err = await spawn_error(sp, {"new_drive": "data"})
    assert isinstance(err, web.HTTPError) and err.status_code == 503, err
    assert "Nothing was changed" in err.log_message and "try again" in err.log_message
    assert pods(kube) == [] and pvcs(kube) == []
    kube.faults.clear()
    await spawn(sp, {"new_drive": "data"})
    assert pvcs(kube) == [pvc_name("dee", "data")] and pods(kube) == [sp.pod_name]


async def test_rejected_pvc_is_a_400_naming_the_drive(kube, kcfg, fhub):
    sp = fhub.user("eve").spawner()
    kube.faults.add("POST", PVCS, status=422, message="storage class not allowed")
    err = await spawn_error(sp, {"new_drive": "data"})
    assert isinstance(err, web.HTTPError) and err.status_code == 400, err
    assert "'data'" in err.log_message and "could not be created" in err.log_message
    assert pods(kube) == [] and pvcs(kube) == []


async def test_drive_read_hanging_then_answering_is_retried(kube, kcfg, fhub):
    sp = fhub.user("fay").spawner()
    kube.faults.add("GET", PVC, status=None, hang=2.5)
    await spawn(sp, {})
    assert pvcs(kube) == [pvc_name("fay", "home")] and pods(kube) == [sp.pod_name]


# ---- pod creation and start-up ---------------------------------------------------------


async def test_pod_conflict_on_create_replaces_the_stale_pod(kube, kcfg, fhub):
    sp = fhub.user("gus").spawner()
    kube.faults.add("POST", PODS, status=409)
    await spawn(sp, {})
    assert pods(kube) == [sp.pod_name]
    assert kube.get("pods", sp.pod_name)["status"]["phase"] == "Running"


@pytest.mark.parametrize("lost_reply", [False, True], ids=["request-hangs", "reply-lost"])
async def test_pod_create_timeout_ends_with_exactly_one_pod(kube, kcfg, fhub, lost_reply):
    sp = fhub.user("hal").spawner()
    kube.faults.add("POST", PODS, status=None, hang=2.5, after=lost_reply)
    await spawn(sp, {})
    assert pods(kube) == [sp.pod_name]
    await stop(sp)
    assert pods(kube) == []


@pytest.mark.parametrize(
    "status, shown, words",
    [(500, 503, "please try again"), (403, 500, "Ask an administrator")],
    ids=["cluster-error", "refused"],
)
async def test_failed_pod_create_leaves_no_pod_and_a_retry_succeeds(kube, kcfg, fhub, status, shown, words):
    sp = fhub.user("ida").spawner()
    kube.faults.add("POST", PODS, status=status, times=-1)
    err = await spawn_error(sp, {"new_drive": "work"})
    assert err.status_code == shown, err
    assert f"({status} " in err.log_message and words in err.log_message
    assert err.jupyterhub_message == err.log_message  # what the spawn page shows
    assert pods(kube) == [] and pvcs(kube) == [pvc_name("ida", "work")]
    kube.faults.clear()
    await spawn(sp, {"drive": "work"})
    assert pods(kube) == [sp.pod_name]


async def test_pod_that_never_starts_times_out_and_is_removed(kube, kcfg, fhub):
    kcfg.KubeSpawner.start_timeout = 3
    kube.kubelet.auto = False
    sp = fhub.user("jon").spawner()
    err = await spawn_error(sp, {})
    assert isinstance(err, web.HTTPError) and "did not start within" in err.log_message, repr(err)
    assert pods(kube) == [] and pvcs(kube) == [pvc_name("jon", "home")]
    kube.kubelet.auto = True
    await spawn(sp, {})
    assert pods(kube) == [sp.pod_name]


async def test_drive_check_api_error_is_retried(kube, kcfg, fhub):
    """The 'is this drive mounted by another pod' listing fails once: asked again, the spawn succeeds."""
    sp = fhub.user("kai").spawner()
    kube.faults.add("GET", PODS, status=500)
    await spawn(sp, {})
    assert requests_to(kube, "GET", PODS) >= 2
    assert pods(kube) == [sp.pod_name]


# ---- stopping ---------------------------------------------------------------------------


async def test_stop_whose_delete_hangs_is_retried(kube, kcfg, fhub):
    sp = fhub.user("lea").spawner()
    await spawn(sp, {})
    kube.faults.add("DELETE", POD, status=None, hang=2.5)
    await stop(sp)
    assert pods(kube) == []
    assert pvcs(kube) == [pvc_name("lea", "home")]


async def test_stop_of_a_pod_already_gone_is_fine(kube, kcfg, fhub):
    sp = fhub.user("max").spawner()
    await spawn(sp, {})
    kube.store.delete("pods", "default", sp.pod_name, immediate=True)
    await stop(sp)
    assert pods(kube) == []
    await spawn(sp, {})
    assert pods(kube) == [sp.pod_name]


@pytest.mark.parametrize("status", [500, 503, 409])
async def test_transient_error_on_stop_leaves_no_running_pod(kube, kcfg, fhub, status):
    sp = fhub.user("ned").spawner()
    await spawn(sp, {})
    kube.faults.add("DELETE", POD, status=status)
    await stop(sp)  # the failed DELETE is retried: the stop succeeds
    assert requests_to(kube, "DELETE", POD) >= 2
    left = pods(kube)
    assert left == [], f"pod {left} still running after the hub considers the session stopped"


async def test_retried_spawn_after_a_failed_stop_replaces_the_leftover_pod(kube, kcfg, fhub):
    """Whatever a failed stop left behind, the next start of that server cleans it up."""
    sp = fhub.user("oli").spawner()
    await spawn(sp, {})
    first_uid = kube.get("pods", sp.pod_name)["metadata"]["uid"]
    kube.faults.add("DELETE", POD, status=500, times=-1)  # the cluster never lets it go
    with pytest.raises(TimeoutError, match=f"Could not delete pod default/{sp.pod_name}"):
        await stop(sp)
    assert pods(kube) == [sp.pod_name]  # the leftover
    kube.faults.clear()
    await spawn(sp, {})
    assert pods(kube) == [sp.pod_name]
    assert kube.get("pods", sp.pod_name)["metadata"]["uid"] != first_uid


async def test_no_fault_scenario_ever_deletes_a_pvc(kube, kcfg, fhub):
    """Many sessions over several drives, with faults sprinkled in, then delete_forever."""
    user = fhub.user("pat")
    a = user.spawner("a")
    b = user.spawner("b")
    kube.faults.add("POST", PVCS, status=500)
    kube.faults.add("DELETE", POD, status=None, hang=2.5)
    await spawn(a, {"new_drive": "one"})
    await spawn(b, {"new_drive": "two"})
    await stop(a)
    with pytest.raises(web.HTTPError) as e:
        await spawn(a, {"drive": "two"})
    assert e.value.status_code == 409
    await stop(b)
    await a.delete_forever()
    await b.delete_forever()
    assert pods(kube) == []
    assert pvcs(kube) == sorted([pvc_name("pat", "one"), pvc_name("pat", "two")])
