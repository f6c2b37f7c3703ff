"""A personal session type: what a user may write, refused by name when it could escalate,
and the SessionType it becomes within the admin's policy (the model admin types use)."""

from __future__ import annotations

import json

import pytest

from jupyterhub_sessions.profiles import PlatformPolicy, SessionType
from jupyterhub_sessions.usertypes import UserTypeError, UserTypeRecord, parse_spec, to_session_type
from jupyterhub_sessions.usertypes.model import new_id

from .conftest import GOOD


def convert(spec: dict, policy, owner="alice") -> SessionType:
    return to_session_type(UserTypeRecord(id=new_id(), owner=owner, spec=spec), policy)


def test_a_user_type_becomes_a_session_type_within_the_admins_ranges(policy):
    st = convert(
        {
            **GOOD,
            "description": "R with tidyverse",
            "resources": {"cpu": 2, "memory": "4G"},
            "timeouts": [900, 3600],
            "timeout": 900,
            "placement": "gpu",
            "collaborative": True,
            "share_with_groups": ["physics"],
        },
        policy,
    )
    assert isinstance(st, SessionType) and st.slug.startswith("u.") and len(st.slug) == 14
    assert (st.display_name, st.author, st.revision) == ("My R", "alice", 1)
    assert st.image.default == "quay.io/jupyter/r-notebook:2025-10-20" and not st.image.accepts_custom
    # the user's defaults, the admin's ceilings
    assert (st.resources.cpu.default, st.resources.cpu.min, st.resources.cpu.max) == (2, 0.5, 4)
    assert (st.resources.memory.default, st.resources.memory.max) == ("4G", "8G")
    assert (st.timeouts.default, st.timeouts.choices, st.timeouts.allow_never) == (900, [900, 3600], False)
    assert st.lifetime.max_age == 86400 and st.lifetime.max_renewals == 2
    assert st.node_selector == {"pool": "gpu"} and st.tolerations == [{"key": "gpu", "operator": "Exists"}]
    assert st.access.users == ["alice"] and st.access.groups == ["physics"]
    # nothing an admin type could add is there
    assert st.extra_pod_config == {} and st.extra_container_config == {} and st.environment == {}


def test_defaults_are_the_admins(policy):
    st = convert(GOOD, policy)
    assert st.resources.cpu.default == 1 and st.resources.memory.default == "2G"
    assert st.timeouts.all_choices == [900, 3600, 14400, -1] and st.timeouts.default == 3600
    assert st.interface.kind == "lab" and st.node_selector == {}


def test_a_web_app_type_runs_its_command_at_app(policy):
    st = convert(
        {
            **GOOD,
            "interface": {
                "kind": "webapp",
                "command": ["streamlit", "run", "app.py", "--server.port", "{port}"],
            },
        },
        policy,
    )
    assert (st.interface.kind, st.interface.name, st.interface.title) == ("webapp", "app", "My R")
    assert st.interface.command[-1] == "{port}"
    fixed = convert({**GOOD, "interface": {"kind": "webapp", "command": ["myapp"], "port": 8050}}, policy)
    assert fixed.interface.port == 8050


ESCALATING = [
    ("privileged", True),
    ("extra_pod_config", {"hostNetwork": True}),
    ("extra_container_config", {"securityContext": {"privileged": True}}),
    ("hostNetwork", True),
    ("host_network", True),
    ("hostPID", True),
    ("volumes", [{"name": "root", "hostPath": {"path": "/"}}]),
    ("hostPath", "/"),
    ("volume_mounts", [{"name": "root", "mountPath": "/host"}]),
    ("serviceAccountName", "hub"),
    ("service_account", "hub"),
    ("automountServiceAccountToken", True),
    ("node_selector", {"kubernetes.io/hostname": "master"}),
    ("nodeName", "master"),
    ("tolerations", [{"operator": "Exists"}]),
    ("affinity", {}),
    ("environment", {"JUPYTERHUB_API_URL": "http://evil"}),
    ("env", {"LD_PRELOAD": "/tmp/x.so"}),
    ("security_context", {"runAsUser": 0}),
    ("capabilities", ["SYS_ADMIN"]),
    ("init_containers", [{"name": "x", "image": "evil"}]),
    ("extra_containers", [{"name": "x", "image": "evil"}]),
    ("image_pull_secrets", ["regcred"]),
    ("priority_class_name", "system-cluster-critical"),
    ("lifetime", {"max_age": -1}),
    ("access", {"groups": ["admins"]}),
    ("default", True),
    ("uid", 0),
]


@pytest.mark.parametrize("field, value", ESCALATING)
def test_fields_that_could_escalate_are_refused_by_name(policy, field, value):
    with pytest.raises(UserTypeError) as e:
        convert({**GOOD, field: value}, policy)
    assert e.value.field == field
    assert "not offered in personal session types" in e.value.reason


@pytest.mark.parametrize("field", ["privileged", "hostNetwork", "command_prefix"])
def test_nested_unknown_fields_are_refused(policy, field):
    with pytest.raises(UserTypeError) as e:
        convert({**GOOD, "interface": {"kind": "lab", field: True}}, policy)
    assert e.value.field == f"interface.{field}"


@pytest.mark.parametrize(
    "spec, field, words",
    [
        ({**GOOD, "image": "evil.io/miner:1"}, "image", "user_types.images.allow"),
        ({**GOOD, "image": "quay.io/jupyter/r-notebook"}, "image", "no tag means 'latest'"),
        ({**GOOD, "image": "quay.io/jupyter/r:1 --privileged"}, "image", "reference grammar"),
        ({**GOOD, "image": "quay.io/jupyter/r:1\n"}, None, None),  # stripped, then fine
        ({**GOOD, "resources": {"cpu": 64}}, "resources.cpu", "between 0.5 and 4"),
        ({**GOOD, "resources": {"cpu": 0.1}}, "resources.cpu", "between 0.5 and 4"),
        ({**GOOD, "resources": {"memory": "1T"}}, "resources.memory", "between 1G and 8G"),
        ({**GOOD, "resources": {"memory": "lots"}}, "resources.memory", "not a memory quantity"),
        ({**GOOD, "resources": {"gpu": 8}}, "resources.gpu", "one of 0, 1"),
        ({**GOOD, "resources": {"cpu": float("nan")}}, "resources.cpu", "finite"),
        ({**GOOD, "resources": {"cpu": "2"}}, "resources.cpu", "valid number"),
        ({**GOOD, "timeouts": [60]}, "timeouts", "not one of the admin's timeouts"),
        ({**GOOD, "timeout": 14400, "timeouts": [900]}, "timeout", "not one of the offered"),
        ({**GOOD, "timeouts": []}, "timeouts", "at least one"),
        ({**GOOD, "placement": "master"}, "placement", "highmem, gpu"),
        ({**GOOD, "interface": {"kind": "desktop"}}, "interface.kind", "Input should be"),
        ({**GOOD, "interface": {"kind": "webapp"}}, "interface", "needs the command"),
        ({**GOOD, "interface": {"kind": "webapp", "command": ["app"]}}, "interface", "{port}"),
        (
            {**GOOD, "interface": {"kind": "webapp", "command": ["a", "{port.__class__}"]}},
            "interface.command",
            "braces",
        ),
        (
            {**GOOD, "interface": {"kind": "webapp", "command": ["a\nb", "{port}"]}},
            "interface.command",
            "printable",
        ),
        (
            {**GOOD, "interface": {"kind": "webapp", "command": ["a", "{port}"], "port": 22}},
            "interface.port",
            "1024",
        ),
        (
            {**GOOD, "interface": {"kind": "webapp", "command": ["a", "{port}"], "url_path": "/../../x"}},
            "interface.url_path",
            "path",
        ),
        ({**GOOD, "interface": {"kind": "lab", "command": ["x"]}}, "interface", "for web apps"),
        ({**GOOD, "collaborative": "yes"}, "collaborative", "valid boolean"),
        ({**GOOD, "name": ""}, "name", "at least 1"),
        ({**GOOD, "name": "x" * 81}, "name", "at most 80"),
        ({**GOOD, "name": "a\x00b"}, "name", "printable"),
        ({**GOOD, "description": "d" * 2001}, "description", "at most 2000"),
        ({**GOOD, "share_with_groups": ["a", "a"]}, "share_with_groups", "twice"),
        ({**GOOD, "share_with_groups": ["g"] * 21}, "share_with_groups", "at most 20"),
        ({"image": GOOD["image"]}, "name", "Field required"),
    ],
)
def test_bad_values_name_the_field_and_rule(policy, spec, field, words):
    if field is None:
        assert convert(spec, policy).image.default == "quay.io/jupyter/r:1"
        return
    with pytest.raises(UserTypeError) as e:
        convert(spec, policy)
    assert e.value.field == field
    assert words in e.value.reason


@pytest.mark.parametrize(
    "spec",
    [
        {**GOOD, "description": "x" * 5_000_000},
        {**GOOD, "interface": {"kind": "webapp", "command": ["{port}"] + ["a"] * 100_000}},
        {**GOOD, "share_with_groups": [f"g{i}" for i in range(100_000)]},
        {**GOOD, "resources": {"cpu": {"default": {"nested": [[[[[1]]]]]}}}},
        {**GOOD, "name": ["My R"]},
        {**GOOD, "name": {"$ne": 1}},
        ["not", "an", "object"],
        "a string",
    ],
)
def test_huge_nested_and_mistyped_specs_are_refused_quickly(policy, spec):
    import time

    start = time.monotonic()
    with pytest.raises(UserTypeError):
        to_session_type(UserTypeRecord(id=new_id(), owner="alice", spec=spec), policy) if isinstance(
            spec, dict
        ) else parse_spec(spec)
    assert time.monotonic() - start < 2


def test_deeply_nested_json_is_refused(policy):
    deep = json.loads("[" * 900 + "]" * 900)
    with pytest.raises(UserTypeError):
        convert({**GOOD, "interface": deep}, policy)


def test_the_admins_policy_switches_things_off(policy):
    off = PlatformPolicy.model_validate(
        {
            "user_types": {
                "images": {"allow": ["quay.io/jupyter/*"]},
                "interfaces": ["lab"],
                "sharing": False,
                "collaborative": False,
            }
        }
    )
    for spec, field in [
        ({**GOOD, "interface": {"kind": "webapp", "command": ["a", "{port}"]}}, "interface.kind"),
        ({**GOOD, "share_with_groups": ["physics"]}, "share_with_groups"),
        ({**GOOD, "collaborative": True}, "collaborative"),
    ]:
        with pytest.raises(UserTypeError) as e:
            convert(spec, off)
        assert e.value.field == field
    with pytest.raises(UserTypeError, match="switched off"):
        convert(GOOD, PlatformPolicy())


def test_a_stored_document_is_checked(policy):
    rec = UserTypeRecord.from_json({"id": "abcdefghijkl", "owner": "alice", "spec": GOOD, "revision": 2})
    assert rec.slug == "u.abcdefghijkl" and rec.revision == 2
    for bad in [
        {"id": "../../etc", "owner": "alice", "spec": {}, "revision": 1},
        {"id": "abcdefghijkl", "owner": "", "spec": {}, "revision": 1},
        {"id": "abcdefghijkl", "owner": "alice", "spec": [], "revision": 1},
        {"id": "abcdefghijkl", "owner": "alice", "spec": {}, "revision": True},
        {"id": "abcdefghijkl", "owner": "alice", "spec": {}},
        [],
    ]:
        with pytest.raises(ValueError):
            UserTypeRecord.from_json(bad)
