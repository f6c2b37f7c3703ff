"""SessionKubeSpawner against the fake Kubernetes API, over HTTP, as the hub drives it."""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado import web

from jupyterhub_sessions.drives import pvc_name
from jupyterhub_sessions.profiles import load_session_types, memory_bytes
from jupyterhub_sessions.session_info import ENV_SESSION
from jupyterhub_sessions.spawner.kube import SessionKubeSpawner
from tests.conftest import PROFILES
from tests.kube_fake.hub import FakeHub, spawn, spawner_config, stop
from tests.kube_fake.podrun import run_notebook_container
from tests.kube_fake.validation import parse_quantity
from tests.serverext.servertools import BIN

TYPES = load_session_types(PROFILES)


@pytest.fixture
def kube_config(kube):
    return spawner_config(kube)


@pytest.fixture
def hub(kube_config):
    return FakeHub(kube_config, SessionKubeSpawner)


def container(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")


def env_of(pod: dict) -> dict:
    return {e["name"]: e.get("value") for e in container(pod).get("env", [])}


def writes(kube, resource: str) -> list:
    """Requests that would change objects of `resource`."""
    return [r for r in kube.requests if r.method != "GET" and f"/{resource}" in r.path]


@pytest.mark.parametrize("slug", sorted(TYPES))
async def test_each_shipped_profile_spawns_its_pod(kube, hub, kube_config, slug):
    st = TYPES[slug]
    user = hub.user("alice", groups=["gpu-users"])
    sp = user.spawner()
    url = await spawn(sp, {"session_type": slug})

    pod = kube.get("pods", sp.pod_name)
    assert pod["status"]["phase"] == "Running"
    assert url == f"http://{pod['status']['podIP']}:8888"
    c = container(pod)
    assert c["image"] == st.image.default
    limits, requests = c["resources"]["limits"], c["resources"]["requests"]
    assert parse_quantity(limits["cpu"]) == parse_quantity(st.resources.cpu.default)
    assert parse_quantity(requests["cpu"]) == parse_quantity(st.resources.cpu.default)
    assert parse_quantity(limits["memory"]) == memory_bytes(st.resources.memory.default)
    gpu = st.resources.gpu
    if gpu.default:
        assert limits[gpu.resource_name] == str(int(gpu.default))
        assert requests[gpu.resource_name] == str(int(gpu.default))
    else:
        assert not any("gpu" in k for k in limits)
    assert pod["spec"].get("nodeSelector", {}) == st.node_selector
    for t in st.tolerations:
        assert t in pod["spec"]["tolerations"]
    for k, v in st.extra_pod_config.items():
        assert pod["spec"][k] == v

    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    claim = pvc_name("alice", "home")
    assert volumes["session-drive"]["persistentVolumeClaim"]["claimName"] == claim
    assert volumes["session-scratch"]["emptyDir"] == {"sizeLimit": "20Gi"}
    # scratch is requested as it is limited: the scheduler finds a node with that much disk
    assert limits["ephemeral-storage"] == requests["ephemeral-storage"] == "20Gi"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["session-drive"] == "/home/jovyan"
    assert mounts["session-scratch"] == "/scratch"

    labels = pod["metadata"]["labels"]
    assert labels["sessions.jupyterhub.org/session-type"] == slug
    assert (
        labels["sessions.jupyterhub.org/drive"]
        == kube.get("persistentvolumeclaims", claim)["metadata"]["labels"]["sessions.jupyterhub.org/drive"]
    )
    assert pod["metadata"]["annotations"]["sessions.jupyterhub.org/drive-name"] == "home"

    env = env_of(pod)
    info = json.loads(env[ENV_SESSION])
    assert info["session_type"] == slug and info["drive"] == "home"
    for k, v in st.environment.items():
        assert env[k] == v
    if st.interface.kind == "lab":
        assert env["JUPYTERHUB_DEFAULT_URL"] == "/lab"
    else:
        assert env["JUPYTERHUB_DEFAULT_URL"] == f"/{st.interface.name}/" + st.interface.url_path.lstrip("/")
    assert c["args"][0] == "jupyterhub-singleuser"
    assert "--YDocExtension.disable_rtc=True" in c["args"]  # the session's server args reach the pod

    await stop(sp)
    assert kube.get("pods", sp.pod_name) is None
    assert kube.get("persistentvolumeclaims", claim) is not None


async def test_files_saved_in_a_session_land_on_the_drive(kube, hub, kube_config, tmp_path):
    """The server's root, working directory and $HOME are the drive mount; /scratch is not."""
    sp = hub.user("nora").spawner()
    await spawn(sp, {})
    pod = kube.get("pods", sp.pod_name)
    c = container(pod)
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    drive = mounts["session-drive"]
    assert c["workingDir"] == drive and env_of(pod)["HOME"] == drive
    assert env_of(pod)["JUPYTERHUB_ROOT_DIR"] == drive  # jupyterhub-singleuser's root
    assert env_of(pod)["SCRATCH"] == mounts["session-scratch"] == "/scratch"
    assert pod["spec"]["securityContext"]["fsGroup"] == 100  # a new drive is writable by jovyan

    server, fs = await asyncio.to_thread(run_notebook_container, pod, tmp_path, BIN)
    try:
        notebook = {
            "type": "notebook",
            "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
        }
        r = await asyncio.to_thread(server.request, "PUT", "api/contents/analysis.ipynb", json=notebook)
        assert r.status_code == 201, r.text
        r = await asyncio.to_thread(server.request, "PUT", "api/contents/results", json={"type": "directory"})
        assert r.status_code == 201, r.text
        r = await asyncio.to_thread(
            server.request,
            "PUT",
            "api/contents/results/t.csv",
            json={"type": "file", "format": "text", "content": "a,b\n"},
        )
        assert r.status_code == 201, r.text
        info = (await asyncio.to_thread(server.get, "sessions-api/session")).json()
        assert info["session"]["drive"] == "home"
    finally:
        server.stop()
    on_drive = fs.volume("session-drive")
    assert (on_drive / "analysis.ipynb").is_file() and (on_drive / "results" / "t.csv").read_text() == "a,b\n"
    assert not list((tmp_path / "rootfs").rglob("analysis.ipynb"))  # nothing left in the container


async def test_user_choices_reach_the_pod(kube, hub, kube_config):
    user = hub.user("bob", groups=["gpu-users"])
    sp = user.spawner(name="train")
    await spawn(sp, {"session_type": "gpu", "cpu": 8, "memory": "32G", "gpu": 2, "new_drive": "datasets"})
    c = container(kube.get("pods", sp.pod_name))
    assert parse_quantity(c["resources"]["limits"]["cpu"]) == 8
    assert parse_quantity(c["resources"]["limits"]["memory"]) == 32 * 10**9
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "2"
    volumes = {v["name"]: v for v in kube.get("pods", sp.pod_name)["spec"]["volumes"]}
    assert volumes["session-drive"]["persistentVolumeClaim"]["claimName"] == pvc_name("bob", "datasets")


async def test_nothing_from_a_previous_session_leaks_into_the_next(kube, hub, kube_config):
    user = hub.user("carol", groups=["gpu-users"])
    sp = user.spawner()
    await spawn(sp, {"session_type": "gpu"})
    await stop(sp)
    await spawn(sp, {"session_type": "notebook"})
    pod = kube.get("pods", sp.pod_name)
    limits = container(pod)["resources"]["limits"]
    assert "nvidia.com/gpu" not in limits
    assert not pod["spec"].get("tolerations")
    assert "priorityClassName" not in pod["spec"]
    assert not pod["spec"].get("nodeSelector")
    assert [v["name"] for v in pod["spec"]["volumes"]].count("session-drive") == 1


async def test_admin_config_is_the_base_of_every_session(kube, hub, kube_config):
    # the admin labelled the user nodes and keeps sessions there
    for node in ("cpu-1", "cpu-2", "gpu-1"):
        kube.store.mutate("nodes", "", node, lambda n: n["metadata"]["labels"].update(pool="users"))
    kube_config.KubeSpawner.node_selector = {"pool": "users"}
    kube_config.KubeSpawner.tolerations = [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]
    kube_config.KubeSpawner.extra_labels = {"team": "astro"}
    kube_config.SessionKubeSpawner.drive_mount_path = "/data"
    kube_config.SessionKubeSpawner.scratch_mount_path = "/tmp/scratch"
    kube_config.SessionKubeSpawner.scratch_size_limit = "5Gi"
    user = hub.user("dan", groups=["gpu-users"])
    sp = user.spawner()
    await spawn(sp, {"session_type": "carta"})
    pod = kube.get("pods", sp.pod_name)
    assert pod["spec"]["nodeSelector"] == {"pool": "users"}
    assert pod["spec"]["nodeName"] in ("cpu-1", "cpu-2")  # not the tainted GPU node
    assert pod["metadata"]["labels"]["team"] == "astro"
    c = container(pod)
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts == {**mounts, "session-drive": "/data", "session-scratch": "/tmp/scratch"}
    assert c["workingDir"] == "/data" and env_of(pod)["JUPYTERHUB_ROOT_DIR"] == "/data"
    assert c["resources"]["requests"]["ephemeral-storage"] == "5Gi"
    await stop(sp)
    # a type's own tolerations add to the admin's
    await spawn(sp, {"session_type": "gpu"})
    tolerations = kube.get("pods", sp.pod_name)["spec"]["tolerations"]
    assert {"key": "spot", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations


async def test_drive_is_created_once_and_reused(kube, hub, kube_config):
    user = hub.user("erin")
    sp = user.spawner()
    await spawn(sp, {})
    pvcs = kube.objects("persistentvolumeclaims")
    assert len(pvcs) == 1
    uid = pvcs[0]["metadata"]["uid"]
    await stop(sp)
    assert kube.objects("persistentvolumeclaims")[0]["metadata"]["uid"] == uid
    before = len(writes(kube, "persistentvolumeclaims"))
    await spawn(sp, {"drive": "home"})
    assert len(writes(kube, "persistentvolumeclaims")) == before  # no create attempted
    assert [p["metadata"]["uid"] for p in kube.objects("persistentvolumeclaims")] == [uid]
    await stop(sp)
    await sp.delete_forever()
    assert kube.objects("persistentvolumeclaims")[0]["metadata"]["uid"] == uid
    assert not [r for r in kube.requests if r.method == "DELETE" and "persistentvolumeclaims" in r.path]


async def test_drive_listing_shows_only_my_drives_by_name(kube, hub, kube_config):
    me, other = hub.user("frank"), hub.user("grace")
    sp = me.spawner()
    for drive in ("zeta", "Alpha_1"):
        await spawn(sp, {"new_drive": drive})
        await stop(sp)
    await spawn(other.spawner(), {"new_drive": "secret"})
    drives = await sp.drive_backend.list_drives("frank")
    assert [d.name for d in drives] == ["Alpha_1", "zeta"]
    assert all(d.owner == "frank" and d.size == "10Gi" and d.ref.startswith("drive-") for d in drives)
    form = await sp._render_options_form()
    assert "Alpha_1" in form and "zeta" in form and "secret" not in form


async def test_missing_drive_is_refused_without_creating_it(kube, hub, kube_config):
    sp = hub.user("hank").spawner()
    with pytest.raises(web.HTTPError) as e:
        await spawn(sp, {"drive": "nothere"})
    assert e.value.status_code == 400 and "nothere" in e.value.log_message
    assert kube.objects("persistentvolumeclaims") == [] and kube.objects("pods") == []


async def test_a_drive_is_mounted_by_one_server_at_a_time(kube, hub, kube_config):
    user = hub.user("ivy")
    a = user.spawner(name="a")
    b = user.spawner(name="b")
    await spawn(a, {"drive": "home"})
    pod_posts = len(writes(kube, "pods"))
    with pytest.raises(web.HTTPError) as e:
        await spawn(b, {"drive": "home"})
    assert e.value.status_code == 409 and "in use" in e.value.log_message
    assert len(writes(kube, "pods")) == pod_posts
    assert [p["metadata"]["name"] for p in kube.objects("pods")] == [a.pod_name]
    # another drive is fine, and the drive is free again once a stops
    await spawn(b, {"new_drive": "other"})
    await stop(b)
    await stop(a)
    await spawn(b, {"drive": "home"})


async def test_a_pod_holding_the_drive_refuses_others_after_a_hub_restart(kube, hub, kube_config):
    a = hub.user("jack").spawner(name="a")
    await spawn(a, {})
    other_hub = FakeHub(kube_config, SessionKubeSpawner)  # a hub that lost its database
    b = other_hub.user("jack").spawner(name="b")
    with pytest.raises(web.HTTPError) as e:
        await spawn(b, {})
    assert e.value.status_code == 409
    assert len(kube.objects("pods")) == 1


def pod_lists(kube) -> list:
    """Requests that list pods (not watches): what a per-spawn check would cost."""
    return [
        r
        for r in kube.requests
        if r.method == "GET"
        and r.path.endswith("/pods")
        and r.query.get("watch") not in ("true", "True", "1")
    ]


async def test_the_drive_check_reads_the_watch_not_a_list_per_spawn(kube, hub, kube_config):
    user = hub.user("lou")
    a, b = user.spawner("a"), user.spawner("b")
    await spawn(a, {})
    with pytest.raises(web.HTTPError) as e:
        await spawn(b, {"drive": "home"})
    assert e.value.status_code == 409
    await spawn(b, {"new_drive": "two"})
    await stop(a)
    await spawn(a, {"drive": "home"})
    # only the shared reflector's own listings (at its start, before its watch): none per spawn
    lists = pod_lists(kube)
    assert {r.query.get("labelSelector") for r in lists} == {"component=singleuser-server"}
    assert len(lists) <= 2


async def test_pods_that_ended_do_not_hold_their_drive(kube, hub, kube_config):
    """A Failed or Succeeded pod (kept by an admin, or not yet garbage-collected) frees its drive."""
    a = hub.user("meg").spawner("a")
    await spawn(a, {})
    kube.kubelet.fail_pod("default", a.pod_name, exit_code=1)
    other = FakeHub(kube_config, SessionKubeSpawner)  # a hub that lost track of server a
    b = other.user("meg").spawner("b")
    await spawn(b, {"drive": "home"})
    assert kube.get("pods", b.pod_name)["status"]["phase"] == "Running"
    kube.kubelet.fail_pod("default", b.pod_name, exit_code=0)  # Succeeded
    c = FakeHub(kube_config, SessionKubeSpawner).user("meg").spawner("c")
    await spawn(c, {"drive": "home"})


@pytest.mark.parametrize(
    "options, field",
    [
        ({"session_type": "notebook", "cpu": 64}, "cpu"),
        ({"session_type": "notebook", "memory": "1T"}, "memory"),
        ({"session_type": "notebook", "gpu": 1}, "gpu"),
        ({"session_type": "gpu"}, "session_type"),  # not in gpu-users
        ({"session_type": "nope"}, "session_type"),
        ({"image": "evil/miner:latest"}, "image"),
        ({"timeout": 12345}, "timeout"),
        ({"drive": "../../etc"}, "drive"),
        ({"new_drive": "x" * 41}, "new_drive"),
        ({"command": ["sh"]}, "command"),
        ({"collaborative": True, "session_type": "carta"}, "collaborative"),
    ],
)
async def test_bad_options_are_400_and_create_nothing(kube, hub, kube_config, options, field):
    sp = hub.user("kim").spawner()
    with pytest.raises(web.HTTPError) as e:
        await spawn(sp, options)
    assert e.value.status_code == 400
    assert f"'{field}'" in e.value.log_message
    assert [r for r in kube.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")] == []
    assert kube.objects("pods") == [] and kube.objects("persistentvolumeclaims") == []


HOSTILE_USERS = [
    "Zoë Ünïcødé",
    "a-b",
    "a",
    "ALICE",
    "alice",
    "-x-",
    "user@example.com",
    "雪",
    "x" * 200,
    "{username}",
    "o'neil; rm -rf /",
    "a/../../b",
]


async def test_hostile_user_and_drive_names_give_valid_distinct_objects(kube, hub, kube_config):
    names = set()
    for i, username in enumerate(HOSTILE_USERS):
        user = hub.user(username)
        drive = ["home", "A_b-1", "x" * 40, "0"][i % 4]
        sp = user.spawner(name=f"srv-{i}" if i % 2 else "")
        await spawn(sp, {"new_drive": drive} if drive != "home" else {})
        pod = kube.get("pods", sp.pod_name)
        assert pod is not None, username
        assert pod["metadata"]["annotations"]["hub.jupyter.org/username"] == username
        names.add(pvc_name(username, drive))
        drives = await sp.drive_backend.list_drives(username)
        assert [d.name for d in drives] == [drive]
        await stop(sp)
    assert len(names) == len(HOSTILE_USERS)
    assert {p["metadata"]["name"] for p in kube.objects("persistentvolumeclaims")} == names
    # ("a-b", "c") and ("a", "b-c") must never share a drive
    assert pvc_name("a-b", "c") != pvc_name("a", "b-c")


async def test_pod_create_failure_leaves_no_pod_and_a_complete_drive(kube, hub, kube_config):
    sp = hub.user("liam").spawner()
    kube.faults.add("POST", r"/namespaces/default/pods$", status=500)
    with pytest.raises(web.HTTPError) as e:
        await spawn(sp, {"new_drive": "work"})
    assert e.value.status_code == 503 and "(500 Internal Server Error)" in e.value.log_message
    assert kube.objects("pods") == []
    (pvc,) = kube.objects("persistentvolumeclaims")
    assert pvc["metadata"]["annotations"]["sessions.jupyterhub.org/drive-name"] == "work"
    assert pvc["metadata"]["labels"]["app.kubernetes.io/component"] == "session-drive"
    assert pvc["status"]["phase"] == "Pending"  # WaitForFirstConsumer: no pod used it yet
    # the user can try again: the drive is there, nothing else to clean up
    await spawn(sp, {"drive": "work"})
    assert len(kube.objects("pods")) == 1
    assert kube.objects("persistentvolumeclaims")[0]["status"]["phase"] == "Bound"


async def test_lost_pod_create_response_leaves_no_orphan_pod(kube, hub, kube_config):
    kube.kubelet.auto = False  # the pod exists but has not started yet
    sp = hub.user("mia").spawner()
    kube.faults.add("POST", r"/namespaces/default/pods$", status=500, after=True)
    with pytest.raises(web.HTTPError, match="try again"):
        await spawn(sp, {})
    assert len(writes(kube, "pods")) >= 1
    assert kube.objects("pods") == []
    assert len(kube.objects("persistentvolumeclaims")) == 1


async def test_transient_api_errors_on_drives_are_retried(kube, hub, kube_config):
    sp = hub.user("noah").spawner()
    kube.faults.add("GET", r"/persistentvolumeclaims/", status=503)
    kube.faults.add("POST", r"/persistentvolumeclaims$", status=500, after=True)  # created, reply lost
    await spawn(sp, {})
    assert len(kube.objects("persistentvolumeclaims")) == 1
    assert len(kube.objects("pods")) == 1


async def test_cluster_outage_is_a_503_and_changes_nothing(kube, hub, kube_config):
    kube_config.KubeSpawner.k8s_api_request_retry_timeout = 1
    sp = hub.user("olga").spawner()
    kube.faults.add("GET", r"/persistentvolumeclaims/", status=503, times=-1)
    with pytest.raises(web.HTTPError) as e:
        await spawn(sp, {})
    assert e.value.status_code == 503
    assert kube.objects("persistentvolumeclaims") == [] and kube.objects("pods") == []
    assert sp.session is None


async def test_state_survives_a_hub_restart(kube, hub, kube_config):
    user = hub.user("pia")
    sp = user.spawner(name="x")
    await spawn(sp, {"session_type": "carta"})
    hub.restart()
    again = hub.user("pia").spawner(name="x")
    assert again.session.session_type == "carta" and again.pod_name == sp.pod_name
    assert await again.poll() is None
    await stop(again)
    assert kube.objects("pods") == []


async def test_concurrent_spawns_on_one_drive_start_one_pod(kube, hub, kube_config):
    user = hub.user("quinn")
    a, b = user.spawner(name="a"), user.spawner(name="b")
    results = await asyncio.gather(
        spawn(a, {"drive": "home"}), spawn(b, {"drive": "home"}), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], web.HTTPError) and errors[0].status_code == 409
    assert len(kube.objects("pods")) == 1
    assert len(kube.objects("persistentvolumeclaims")) == 1


async def test_a_foreign_claim_with_a_drive_name_is_not_mounted(kube, hub, kube_config):
    claim = pvc_name("rita", "home")
    kube.store.create(
        "persistentvolumeclaims",
        "default",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "annotations": {"sessions.jupyterhub.org/username": "mallory"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    sp = hub.user("rita").spawner()
    with pytest.raises(web.HTTPError) as e:
        await spawn(sp, {})
    assert e.value.status_code == 400 and "belongs to something else" in e.value.log_message
    assert kube.objects("pods") == []
    assert await sp.drive_backend.list_drives("rita") == []


async def test_spawn_progress_shows_the_cluster_events(kube, hub, kube_config):
    kube.kubelet.start_delay = 0.3
    sp = hub.user("sam").spawner()
    messages = []

    async def follow():
        while sp._start_future is None:
            await asyncio.sleep(0.01)
        async for event in sp.progress():
            messages.append(event.get("message", ""))

    follower = asyncio.ensure_future(follow())
    await spawn(sp, {})
    await asyncio.wait_for(follower, 10)
    assert any("Successfully assigned default/" in m for m in messages)
    assert any("Started container notebook" in m for m in messages)


async def test_pod_that_never_starts_times_out_and_is_removed(kube, hub, kube_config):
    kube.kubelet.auto = False
    kube_config.KubeSpawner.start_timeout = 2
    sp = hub.user("tara").spawner()
    with pytest.raises(web.HTTPError) as e:
        await spawn(sp, {})
    # the spawner gives up just before the hub would, saying so (not a bare timeout)
    assert e.value.status_code == 503 and "did not start within 1 seconds" in e.value.log_message
    assert kube.objects("pods") == []
    assert len(kube.objects("persistentvolumeclaims")) == 1


async def test_transient_errors_on_stop_are_retried(kube, hub, kube_config):
    sp = hub.user("uma").spawner()
    await spawn(sp, {})
    kube.faults.add("DELETE", r"/namespaces/default/pods/[^/]+$", status=503)
    await stop(sp)
    assert kube.objects("pods") == []
    assert len([r for r in kube.requests if r.method == "DELETE" and "/pods/" in r.path]) == 2


async def test_drive_in_use_check_survives_a_transient_error(kube, hub, kube_config):
    sp = hub.user("vic").spawner()
    kube.faults.add("GET", r"/namespaces/default/pods$", status=500)  # the watch's first listing
    await spawn(sp, {})
    assert len(kube.objects("pods")) == 1


async def test_forbidden_api_is_a_clear_error(kube, hub, kube_config):
    sp = hub.user("wes").spawner()
    kube.faults.add(
        "GET", r"/persistentvolumeclaims/", status=403, message="persistentvolumeclaims is forbidden"
    )
    with pytest.raises(web.HTTPError) as e:
        await spawn(sp, {})
    assert e.value.status_code == 500 and "refused" in e.value.log_message
    assert kube.objects("pods") == [] and kube.objects("persistentvolumeclaims") == []


async def test_user_namespaces_hold_the_drives_and_pods(kube, hub, kube_config):
    kube_config.KubeSpawner.enable_user_namespaces = True
    kube_config.KubeSpawner.user_namespace_template = "sessions-{username}"
    sp = hub.user("Xena").spawner()
    await spawn(sp, {"new_drive": "data"})
    ns = sp.namespace
    assert ns.startswith("sessions-") and kube.get("namespaces", ns, namespace="") is not None
    assert [p["metadata"]["name"] for p in kube.objects("persistentvolumeclaims", ns)] == [
        pvc_name("Xena", "data")
    ]
    assert [p["metadata"]["name"] for p in kube.objects("pods", ns)] == [sp.pod_name]
    assert [d.name for d in await sp.drive_backend.list_drives("Xena")] == ["data"]
    await stop(sp)
    assert kube.objects("pods", None) == []


async def test_per_session_service_is_owned_by_the_pod(kube, hub, kube_config):
    kube_config.KubeSpawner.services_enabled = True
    sp = hub.user("yara").spawner(name="web")
    url = await spawn(sp, {"session_type": "firefly"})
    (svc,) = kube.objects("services")
    assert svc["metadata"]["ownerReferences"][0]["uid"] == kube.get("pods", sp.pod_name)["metadata"]["uid"]
    assert svc["spec"]["selector"]["sessions.jupyterhub.org/session-type"] == "firefly"
    assert svc["metadata"]["name"] in url
    await stop(sp)
    assert kube.objects("services") == []  # garbage-collected with its pod
    assert len(kube.objects("persistentvolumeclaims")) == 1


def pre_02_claim(kube, user: str, drive: str, annotated_user: str | None = None) -> str:
    """A drive PVC as versions before 0.2 made it: old name and labels, exact names in annotations."""
    from jupyterhub_sessions.drives import legacy_drive_slug, legacy_pvc_name, legacy_user_slug

    claim = legacy_pvc_name(user, drive)
    kube.store.create(
        "persistentvolumeclaims",
        "default",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim,
                "labels": {
                    "app.kubernetes.io/component": "session-drive",
                    "sessions.jupyterhub.org/owner": legacy_user_slug(user),
                    "sessions.jupyterhub.org/drive": legacy_drive_slug(user, drive),
                },
                "annotations": {
                    "sessions.jupyterhub.org/username": annotated_user or user,
                    "sessions.jupyterhub.org/drive-name": drive,
                },
            },
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    return claim


def mounted_claim(kube, sp) -> str:
    volumes = {v["name"]: v for v in kube.get("pods", sp.pod_name)["spec"]["volumes"]}
    return volumes["session-drive"]["persistentVolumeClaim"]["claimName"]


async def test_a_pre_02_claim_keeps_being_used_where_it_is(kube, hub, kube_config):
    claim = pre_02_claim(kube, "Uma@Example.org", "thesis")
    sp = hub.user("Uma@Example.org").spawner()
    drives = await sp.drive_backend.list_drives("Uma@Example.org")
    assert [(d.name, d.ref) for d in drives] == [("thesis", claim)]
    await spawn(sp, {"drive": "thesis"})
    assert mounted_claim(kube, sp) == claim
    assert [p["metadata"]["name"] for p in kube.objects("persistentvolumeclaims")] == [claim]  # none made
    await stop(sp)
    # a drive the user makes now gets the new name, beside the old one
    await spawn(sp, {"new_drive": "fresh"})
    assert mounted_claim(kube, sp) == pvc_name("Uma@Example.org", "fresh")
    names = [d.name for d in await sp.drive_backend.list_drives("Uma@Example.org")]
    assert names == ["fresh", "thesis"]


async def test_names_that_collided_before_never_get_each_others_claim(kube, hub, kube_config):
    from ..drivetools import legacy_collision

    victim, attacker = legacy_collision()
    claim = pre_02_claim(kube, victim, "home")
    sp = hub.user(attacker).spawner()
    assert await sp.drive_backend.list_drives(attacker) == []  # same old owner label, other annotations
    await spawn(sp, {})
    assert mounted_claim(kube, sp) == pvc_name(attacker, "home") != claim
    await stop(sp)
    victim_sp = hub.user(victim).spawner()
    await spawn(victim_sp, {})
    assert mounted_claim(kube, victim_sp) == claim


async def test_a_claim_found_under_a_matching_name_must_name_the_exact_user(
    kube, hub, kube_config, monkeypatch
):
    # a collision of the new full-hash name (none is known; forced here) is refused, not mounted
    from jupyterhub_sessions.spawner import kube_drives

    victim_sp = hub.user("victim").spawner()
    await spawn(victim_sp, {})
    await stop(victim_sp)
    monkeypatch.setattr(kube_drives, "pvc_name", lambda user, drive: pvc_name("victim", drive))
    sp = hub.user("attacker").spawner()
    with pytest.raises(web.HTTPError) as e:
        await spawn(sp, {})
    assert e.value.status_code == 400 and "belongs to something else" in e.value.log_message
    assert kube.objects("pods") == []
