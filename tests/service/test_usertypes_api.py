"""Personal session types through the sessions service's REST API on a running embedded hub.

Every test makes its own users (and groups), so the hub is shared and the order is free.
"""

from __future__ import annotations

import json

import pytest

from ..usertypes.tools import GOOD, create_type, new_group, types_api


def test_create_read_edit_and_delete_my_type(hub):
    alice = hub.new_user("alice")
    t = create_type(hub, alice, description="tidyverse", resources={"cpu": 2})
    assert (t["owner"], t["revision"], t["mine"], t["loaded"], t["error"]) == (alice, 1, True, True, None)
    assert t["slug"] == "u." + t["id"] and t["session_type"]["resources"]["cpu"]["default"] == 2
    token = hub.user_token(alice)
    assert [x["id"] for x in types_api(hub, "GET", token=token).json()] == [t["id"]]
    assert types_api(hub, "GET", t["id"], token=token).json()["spec"]["description"] == "tidyverse"
    r = types_api(hub, "PUT", t["id"], token=token, json={"revision": 1, "spec": {**GOOD, "name": "R v2"}})
    assert (
        r.status_code == 200
        and r.json()["revision"] == 2
        and r.json()["session_type"]["display_name"] == "R v2"
    )
    stale = types_api(
        hub, "PUT", t["id"], token=token, json={"revision": 1, "spec": {**GOOD, "name": "lost"}}
    )
    assert stale.status_code == 409 and "revision 2, you edited 1" in stale.json()["message"]
    assert types_api(hub, "DELETE", t["id"], token=token).status_code == 204
    assert types_api(hub, "GET", t["id"], token=token).status_code == 404
    assert types_api(hub, "GET", token=token).json() == []


def test_another_users_type_is_not_found_and_a_shared_one_is_read_only(hub):
    alice, bob = hub.new_user("alice"), hub.new_user("bob")
    private = create_type(hub, alice)
    bob_token = hub.user_token(bob)
    for method, body in [
        ("GET", None),
        ("PUT", {"revision": 1, "spec": {**GOOD, "name": "pwned"}}),
        ("DELETE", None),
    ]:
        r = types_api(hub, method, private["id"], token=bob_token, json=body)
        assert r.status_code == 404, (method, r.text)  # its existence does not leak
    group = new_group(hub, alice, bob)
    shared = create_type(hub, alice, name="Shared R", share_with_groups=[group])
    listed = types_api(hub, "GET", token=bob_token).json()
    assert [(x["id"], x["mine"], x["owner"]) for x in listed] == [(shared["id"], False, alice)]
    assert types_api(hub, "GET", shared["id"], token=bob_token).status_code == 200
    for method, body in [
        ("PUT", {"revision": 1, "spec": {**GOOD, "image": "quay.io/jupyter/evil:1"}}),
        ("DELETE", None),
    ]:
        r = types_api(hub, method, shared["id"], token=bob_token, json=body)
        assert r.status_code == 403 and "Only its author" in r.json()["message"]
    got = types_api(hub, "GET", shared["id"], token=hub.user_token(alice)).json()
    assert (got["revision"], got["spec"]["image"]) == (1, GOOD["image"])


def test_a_session_token_can_change_no_type(hub):
    """A session's server token (readable by collaborators in a terminal) holds read:servers on
    its own server only: it lists nothing and creates, edits or deletes nothing."""
    alice = hub.new_user("alice")
    t = create_type(hub, alice)
    like_server_token = hub.user_token(
        alice, scopes=[f"read:servers!server={alice}/work", "access:services!service=sessions"]
    )
    assert types_api(hub, "GET", token=like_server_token).json() == []
    assert types_api(hub, "GET", t["id"], token=like_server_token).status_code == 404
    r = types_api(hub, "POST", token=like_server_token, json={"spec": GOOD})
    assert r.status_code == 403
    r = types_api(hub, "PUT", t["id"], token=like_server_token, json={"revision": 1, "spec": GOOD})
    assert r.status_code == 404
    assert types_api(hub, "DELETE", t["id"], token=like_server_token).status_code == 404
    assert [x["revision"] for x in types_api(hub, "GET", token=hub.user_token(alice)).json()] == [1]


def test_admins_see_every_type_with_all_and_may_remove_one(hub):
    alice, admin = hub.new_user("alice"), "admin"  # an admin by JUPYTERHUB_SESSIONS_ADMINS
    t = create_type(hub, alice)
    token = hub.user_token(admin)
    assert t["id"] not in [x["id"] for x in types_api(hub, "GET", token=token).json()]
    everyone = types_api(hub, "GET", token=token, params={"all": "1"}).json()
    assert t["id"] in [x["id"] for x in everyone]
    assert types_api(hub, "DELETE", t["id"], token=token).status_code == 204
    assert types_api(hub, "GET", t["id"], token=hub.user_token(alice)).status_code == 404


def test_sharing_only_with_my_groups_and_the_limit_per_user(hub):
    alice = hub.new_user("alice")
    others = new_group(hub, hub.new_user("carol"))
    r = types_api(
        hub, "POST", token=hub.user_token(alice), json={"spec": {**GOOD, "share_with_groups": [others]}}
    )
    assert r.status_code == 400 and f"{alice} is not in group '{others}'" in r.json()["message"]
    limit = types_api(hub, "GET", "", token=hub.user_token(alice)).status_code  # listing works
    assert limit == 200
    policy = hub.request("GET", "services/sessions/api/user-types-policy", token=hub.user_token(alice)).json()
    for i in range(policy["max_per_user"]):
        create_type(hub, alice, name=f"t{i}")
    r = types_api(hub, "POST", token=hub.user_token(alice), json={"spec": GOOD})
    assert r.status_code == 409 and f"the limit is {policy['max_per_user']}" in r.json()["message"]


def test_the_policy_says_what_users_may_bring(hub):
    p = hub.request(
        "GET", "services/sessions/api/user-types-policy", token=hub.user_token(hub.new_user())
    ).json()
    assert p["enabled"] and p["images"]["allow"] == ["registry.example.org/**", "quay.io/jupyter/*"]
    assert p["resources"]["cpu"]["max"] == 4 and p["timeouts"]["all_choices"] == [900, 3600, 14400]
    assert "environment" not in json.dumps(p)


# ---- hostile input --------------------------------------------------------------------


INJECTIONS = [
    "quay.io/jupyter/r-notebook:1;rm -rf /",
    "quay.io/jupyter/r-notebook:1 --privileged",
    "quay.io/jupyter/r-notebook:1\n--privileged",
    "quay.io/jupyter/r-notebook:$(id)",
    "`id`",
    "quay.io/jupyter/r-notebook:1|sh",
    "quay.io/jupyter/../../etc/passwd",
    "quay.io/jupyter/r-notebook:1\x00",
    "evil.io/jupyter/r-notebook:1",
    "quay.io/jupyter/r-notebook",
    "quay.io/jupyter/r-notebook:latest",
    "x" * 300,
]


@pytest.mark.parametrize("image", INJECTIONS)
def test_hostile_images_are_refused_naming_the_rule_and_nothing_is_kept(hub, image):
    alice = hub.new_user("alice")
    r = types_api(hub, "POST", token=hub.user_token(alice), json={"spec": {**GOOD, "image": image}})
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert "field 'image'" in message
    if len(image) > 256:
        assert "at most 256 characters" in message
    else:
        assert "(rule: _policy.yaml: user_types.images" in message
    assert types_api(hub, "GET", token=hub.user_token(alice)).json() == []


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"spec": {**GOOD, "privileged": True}}, 400, "privileged containers are for admins only"),
        ({"spec": {**GOOD, "extra_pod_config": {"hostNetwork": True}}}, 400, "extra pod settings"),
        ({"spec": {**GOOD, "hostNetwork": True}}, 400, "host network"),
        ({"spec": {**GOOD, "volumes": [{"hostPath": {"path": "/"}}]}}, 400, "host paths"),
        ({"spec": {**GOOD, "serviceAccountName": "hub"}}, 400, "service accounts"),
        ({"spec": {**GOOD, "node_selector": {"kubernetes.io/hostname": "x"}}}, 400, "placements"),
        ({"spec": {**GOOD, "environment": {"JUPYTERHUB_API_URL": "http://evil/"}}}, 400, "environment"),
        ({"spec": {**GOOD, "resources": {"cpu": 1000}}}, 400, "between 0.5 and 4"),
        ({"spec": {**GOOD, "timeouts": [-1]}}, 400, "not one of the admin's timeouts"),
        ({"spec": {**GOOD, "description": "d" * 3000}}, 400, "at most 2000"),
        ({"spec": {**GOOD, "name": {"$gt": ""}}}, 400, "field 'name'"),
        ({"spec": GOOD, "owner": "someone-else"}, 400, "Unexpected field 'owner'"),
        ({"spec": GOOD, "id": "abcdefabcdef"}, 400, "Unexpected field 'id'"),
        ({"spec": "not an object"}, 400, "must be a dict"),
        ({}, 400, '{"spec": {...}}'),
    ],
)
def test_bad_and_escalating_specs_are_refused_and_nothing_is_kept(hub, body, status, words):
    alice = hub.new_user("alice")
    r = types_api(hub, "POST", token=hub.user_token(alice), json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["message"]
    assert types_api(hub, "GET", token=hub.user_token(alice)).json() == []


@pytest.mark.parametrize(
    "data, status",
    [
        (b'{"spec": {"name": "' + b"x" * 200_000 + b'"}}', 413),
        (b"[" * 30_000 + b"]" * 30_000, 400),
        (b'{"spec": ' + b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"}", 400),
        (b"\xff\xfe not json", 400),
        (b'{"spec": {"name": NaN}}', 400),
    ],
)
def test_huge_and_nested_bodies_get_a_fast_4xx(hub, data, status):
    alice = hub.new_user("alice")
    r = hub.request(
        "POST",
        "services/sessions/api/user-types",
        token=hub.user_token(alice),
        data=data,
        headers={"Content-Type": "application/json"},
        timeout=20,
    )
    assert r.status_code == status, r.text[:300]
    assert types_api(hub, "GET", token=hub.user_token(alice)).json() == []


def test_an_edit_with_a_bad_revision_changes_nothing(hub):
    alice = hub.new_user("alice")
    t = create_type(hub, alice)
    token = hub.user_token(alice)
    for rev in [True, "1", None, 1.5]:
        r = types_api(hub, "PUT", t["id"], token=token, json={"revision": rev, "spec": {**GOOD, "name": "x"}})
        assert r.status_code in (400, 409), (rev, r.text)
    assert types_api(hub, "GET", t["id"], token=token).json()["revision"] == 1
    r = types_api(hub, "GET", "../../sessions", token=token)
    assert r.status_code == 404
