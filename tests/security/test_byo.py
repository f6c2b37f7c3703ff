"""Bring your own image and your own session type, on a running embedded hub (issue 19).

Hostile input: image references with injection attempts through the spawn API, a type
edited by someone else (tests/service/test_usertypes_api.py has the API side), a shared
type changed or deleted after a group member started it, and a broken stored type that
must not break anyone else's spawn form. Every test makes its own users and groups.
"""

from __future__ import annotations

import json
import time

import pytest

from jupyterhub_sessions.drives import user_slug

from ..hubtools import wait_for
from ..usertypes.tools import GOOD, create_type, new_group, page, page_session, session_env, types_api

INJECTIONS = [
    "registry.example.org/team/nb:1;rm -rf /",
    "registry.example.org/team/nb:1 --privileged",
    "registry.example.org/team/nb:1\n--privileged",
    "registry.example.org/team/nb:$(id)",
    "registry.example.org/team/nb:`id`",
    "registry.example.org/team/nb:1|sh",
    "registry.example.org/../../etc/passwd",
    "-v/:/host",
    "evil.io/team/nb:1",
    "registry.example.org/team/nb",
    "registry.example.org/team/nb:latest",
]


def test_hostile_images_in_a_spawn_are_refused_with_the_rule_and_leave_nothing(hub):
    alice = hub.new_user("alice")
    token = hub.user_token(alice)
    for image in INJECTIONS:
        r = hub.api(
            "POST",
            f"users/{alice}/servers/byo",
            token=token,
            json={"session_type": "notebook", "image": image},
        )
        assert r.status_code == 400, (image, r.text)
        message = r.json()["message"]
        assert "Invalid session option 'image'" in message and "(rule: _policy.yaml: custom_images" in message
        server = hub.user_model(alice)["servers"].get("byo")
        assert server is None or (not server["ready"] and not server["pending"])
        assert server is None or server["user_options"] == {}, server  # the hostile text is not kept
    assert not any(env.get("JUPYTERHUB_USER") == alice for _, env in hub.session_processes())


def test_a_custom_image_is_recorded_shown_and_reused_on_restart(hub):
    alice = hub.new_user("alice")
    image = "registry.example.org/team-a/notebook:2.1"
    hub.start_session(
        alice, "mine", {"session_type": "notebook", "image": image}, token=hub.user_token(alice)
    )
    options = hub.user_model(alice)["servers"]["mine"]["user_options"]
    assert options["image"] == image
    assert json.loads(session_env(hub, alice, "mine")["JUPYTERHUB_SESSIONS_SESSION"])["image"] == image
    home = page(hub, alice, "hub/home")
    assert f"Your image: <code>{image}</code>" in home and "(not enforced here)" in home
    # restart with the same options (what the dashboard's Restart sends)
    hub.stop_session(alice, "mine")
    hub.start_session(alice, "mine", options, token=hub.user_token(alice))
    assert json.loads(session_env(hub, alice, "mine")["JUPYTERHUB_SESSIONS_SESSION"])["image"] == image
    # a refused change keeps the options of the last start
    r = hub.api(
        "POST",
        f"users/{alice}/servers/other",
        token=hub.user_token(alice),
        json={"session_type": "notebook", "drive": "home"},
    )
    assert r.status_code == 409
    hub.stop_session(alice, "mine")


def test_a_shared_type_changed_after_a_member_started_it(hub):
    """Bob runs Alice's shared type; Alice changes its image. Bob's session keeps what it started
    with, his dashboard says the type changed, and a restart uses the current version."""
    alice, bob = hub.new_user("alice"), hub.new_user("bob")
    group = new_group(hub, alice, bob)
    t = create_type(hub, alice, name="Team R", share_with_groups=[group])
    hub.start_session(bob, "r", {"session_type": t["slug"]}, token=hub.user_token(bob))
    started = json.loads(session_env(hub, bob, "r")["JUPYTERHUB_SESSIONS_SESSION"])
    assert (started["image"], started["display_name"]) == (GOOD["image"], "Team R")
    new_image = "quay.io/jupyter/r-notebook:2025-11-01"
    r = types_api(
        hub,
        "PUT",
        t["id"],
        token=hub.user_token(alice),
        json={
            "revision": 1,
            "spec": {**GOOD, "name": "Team R", "image": new_image, "share_with_groups": [group]},
        },
    )
    assert r.status_code == 200
    env = session_env(hub, bob, "r")  # the same process: nothing restarted it
    assert json.loads(env["JUPYTERHUB_SESSIONS_SESSION"])["image"] == GOOD["image"]
    home = page(hub, bob, "hub/home")
    assert "changed since this session started (revision 1 → 2)" in home
    assert f"Image: <code>{GOOD['image']}</code>" in home  # what it runs
    options = hub.user_model(bob)["servers"]["r"]["user_options"]
    assert "image" not in options  # the type's own image is not pinned: a restart follows the type
    hub.stop_session(bob, "r")
    hub.start_session(bob, "r", options, token=hub.user_token(bob))
    assert json.loads(session_env(hub, bob, "r")["JUPYTERHUB_SESSIONS_SESSION"])["image"] == new_image
    home = page(hub, bob, "hub/home")
    assert "changed since" not in home
    hub.stop_session(bob, "r")


def test_a_shared_type_deleted_while_a_member_runs_it(hub):
    alice, bob = hub.new_user("alice"), hub.new_user("bob")
    group = new_group(hub, alice, bob)
    t = create_type(hub, alice, name="Gone soon", share_with_groups=[group])
    hub.start_session(bob, "g", {"session_type": t["slug"]}, token=hub.user_token(bob))
    pid_env = session_env(hub, bob, "g")
    assert types_api(hub, "DELETE", t["id"], token=hub.user_token(alice)).status_code == 204
    assert hub.user_model(bob)["servers"]["g"]["ready"]
    assert session_env(hub, bob, "g") == pid_env
    home = page(hub, bob, "hub/home")
    assert "Its type “Gone soon” was deleted by " + alice in home and "keeps running" in home
    options = hub.user_model(bob)["servers"]["g"]["user_options"]
    hub.stop_session(bob, "g")
    r = hub.api("POST", f"users/{bob}/servers/g", token=hub.user_token(bob), json=options)
    assert r.status_code == 400 and "unknown session type" in r.json()["message"]
    home = page(hub, bob, "hub/home")
    assert "was deleted by " + alice in home and "cannot be restarted" in home


def test_a_type_unshared_from_a_member_cannot_be_started_by_them(hub):
    alice, bob = hub.new_user("alice"), hub.new_user("bob")
    group = new_group(hub, alice, bob)
    t = create_type(hub, alice, share_with_groups=[group])
    r = types_api(hub, "PUT", t["id"], token=hub.user_token(alice), json={"revision": 1, "spec": GOOD})
    assert r.status_code == 200
    r = hub.api("POST", f"users/{bob}/servers/x", token=hub.user_token(bob), json={"session_type": t["slug"]})
    assert r.status_code == 400 and "unknown session type" in r.json()["message"]


def test_a_broken_stored_type_never_breaks_the_form_for_anyone_else(hub):
    alice, bob = hub.new_user("alice"), hub.new_user("bob")
    group = new_group(hub, alice, bob)
    shared = create_type(hub, alice, name="Still fine", share_with_groups=[group])
    broken = create_type(hub, alice, name="Soon broken")
    path = hub.data_dir / "user-types" / user_slug(alice) / f"{broken['id']}.json"
    path.write_text('{"id": "' + broken["id"] + '", "owner": ')  # truncated by hand
    time.sleep(0.01)
    # bob's form: the admin's types and alice's shared one, nothing about the broken file
    form = page_session(hub, bob).get(hub.url + f"hub/spawn/{bob}/x", timeout=30)
    assert form.status_code == 200
    assert (
        'data-session-type="notebook"' in form.text and f'data-session-type="{shared["slug"]}"' in form.text
    )
    assert broken["slug"] not in form.text
    # alice sees hers disabled, with why
    form = page(hub, alice, f"hub/spawn/{alice}/x")
    assert "This type does not load: the stored type does not load" in form
    listed = {x["id"]: x for x in types_api(hub, "GET", token=hub.user_token(alice)).json()}
    assert listed[broken["id"]]["loaded"] is False and "does not load" in listed[broken["id"]]["error"]
    # and may delete it (or fix it by editing revision 0)
    assert types_api(hub, "DELETE", broken["id"], token=hub.user_token(alice)).status_code == 204
    assert not path.exists()
    r = hub.api(
        "POST", f"users/{bob}/servers/y", token=hub.user_token(bob), json={"session_type": shared["slug"]}
    )
    assert r.status_code in (201, 202)
    hub.wait_ready(bob, "y")
    hub.stop_session(bob, "y")


@pytest.mark.parametrize("field", ["extra_pod_config", "environment", "volumes"])
def test_a_hand_edited_type_with_escalating_fields_is_served_to_nobody(hub, field):
    """Even written straight into the store (not through the API), a type that asks for more
    than the policy allows does not load: the same strict model checks every stored type."""
    alice = hub.new_user("alice")
    t = create_type(hub, alice)
    path = hub.data_dir / "user-types" / user_slug(alice) / f"{t['id']}.json"
    doc = json.loads(path.read_text())
    doc["spec"][field] = {"hostNetwork": True} if field != "volumes" else [{"hostPath": {"path": "/"}}]
    path.write_text(json.dumps(doc))
    entry = wait_for(
        lambda: next(x for x in types_api(hub, "GET", token=hub.user_token(alice)).json() if not x["loaded"]),
        timeout=10,
        what="the edited type to be re-read",
    )
    assert "not offered in personal session types" in entry["error"]
    r = hub.api(
        "POST", f"users/{alice}/servers/x", token=hub.user_token(alice), json={"session_type": t["slug"]}
    )
    assert r.status_code == 400
