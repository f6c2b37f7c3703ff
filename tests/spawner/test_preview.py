"""Session-type details: what a start runs, from the code that starts it.

The details view shows the pod spec (Kubernetes) or the command line (embedded) of a
session of the type. These tests start a real session of the type and hold the
preview against what was really created: the pod the fake cluster received, the
argv the embedded backend passed to Popen.
"""

from __future__ import annotations

import shlex

import jupyterhub.spawner
import pytest
import yaml

from jupyterhub_sessions.profiles import load_session_types
from jupyterhub_sessions.spawner.kube import SessionKubeSpawner
from jupyterhub_sessions.spawner.local import LocalSessionSpawner
from jupyterhub_sessions.spawner.preview import SET_AT_START
from tests.conftest import PROFILES
from tests.kube_fake.hub import FakeHub, spawn, spawner_config

TYPES = load_session_types(PROFILES)


def comparable(pod: dict) -> dict:
    """What the user is shown (spec, labels, annotations), without what the cluster or a start fills in."""
    spec = dict(pod["spec"])
    spec.pop("serviceAccountName", None)  # the cluster's ServiceAccount admission fills it in
    for key in (
        "nodeName",
        "schedulerName",
        "restartPolicy",
        "dnsPolicy",
        "terminationGracePeriodSeconds",
        "securityContext",
        "enableServiceLinks",
        "preemptionPolicy",
        "priority",
        "tolerations",
    ):
        spec.pop(key, None)
    containers = []
    for c in spec.pop("containers"):
        c = dict(c)
        c["env"] = sorted(
            ({**e, "value": SET_AT_START} if "TOKEN" in e["name"] else e for e in c.get("env", [])),
            key=lambda e: e["name"],
        )
        for key in ("terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy"):
            c.pop(key, None)
        containers.append(c)
    meta = pod["metadata"]
    return {
        "spec": spec,
        "containers": containers,
        "labels": meta["labels"],
        "annotations": meta.get("annotations"),
    }


@pytest.mark.parametrize("slug", ["notebook", "carta", "gpu"])
async def test_the_pod_spec_shown_is_the_pod_a_start_creates(kube, slug):
    hub = FakeHub(spawner_config(kube), SessionKubeSpawner)
    user = hub.user("alice", groups=["gpu-users"])
    sp = user.spawner("work")
    details = await sp.type_details({slug: TYPES[slug]})
    launch = details[slug]["launch"]
    assert launch["kind"] == "pod" and "get_pod_manifest" in launch["note"]
    shown = yaml.safe_load(launch["text"])
    assert kube.objects("pods") == []  # the preview created nothing
    await spawn(sp, {"session_type": slug})
    created = kube.get("pods", sp.pod_name)
    assert comparable(shown) == comparable(created)
    volumes = {v["name"]: v for v in launch["volumes"]}
    assert (
        volumes["session-drive"]["where"] == "/home/jovyan"
        and "claimName" in volumes["session-drive"]["what"]
    )
    assert (
        volumes["session-scratch"]["where"] == "/scratch"
        and "sizeLimit=20Gi" in volumes["session-scratch"]["what"]
    )


async def test_the_pod_spec_shows_no_token_and_names_its_facts(kube):
    hub = FakeHub(spawner_config(kube), SessionKubeSpawner)
    sp = hub.user("alice").spawner("work")
    sp.api_token = "super-secret-token-of-a-running-session"
    details = (await sp.type_details({"notebook": TYPES["notebook"]}))["notebook"]
    assert "super-secret" not in details["launch"]["text"]
    env = {
        e["name"]: e.get("value")
        for e in yaml.safe_load(details["launch"]["text"])["spec"]["containers"][0]["env"]
    }
    assert env["JUPYTERHUB_API_TOKEN"] == SET_AT_START
    assert details["image"] == TYPES["notebook"].image.default
    assert details["custom_images"].startswith("repositories registry.example.org/**")
    assert details["custom_rule"] == "_policy.yaml: custom_images"
    assert dict(details["resources"])["CPU"] == "1 (one of 0.5, 1, 2, 4)"
    assert details["lifetime"].startswith("at most 4 days")
    # the spawner that asked is untouched (the preview is another instance)
    assert sp.session is None and sp.api_token == "super-secret-token-of-a-running-session"


async def test_the_command_line_shown_is_the_one_a_start_runs(tmp_path, monkeypatch):
    from traitlets.config import Config

    c = Config()
    c.LocalSessionSpawner.data_dir = str(tmp_path)
    c.SessionSpawnerMixin.session_types_dir = str(PROFILES)
    hub = FakeHub(c, LocalSessionSpawner)
    sp = hub.user("alice").spawner("work")
    launch = (await sp.type_details({"notebook": TYPES["notebook"]}))["notebook"]["launch"]
    assert launch["kind"] == "command"
    shown = launch["text"].replace(" \\\n  ", " ")

    ran = {}

    class Started(Exception):
        pass

    def popen(cmd, **kwargs):
        ran["cmd"] = cmd
        raise Started

    monkeypatch.setattr(jupyterhub.spawner, "Popen", popen)
    await sp._run_apply_user_options({"session_type": "notebook"})
    sp.prepare_scratch()
    with pytest.raises(Started):
        await sp.start_process()
    assert shown == shlex.join(ran["cmd"])
    assert any(v["where"] == str(sp.scratch_dir()) for v in launch["volumes"])
