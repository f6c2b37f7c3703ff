"""Restarting the hub while sessions run (JUPYTERHUB_SESSIONS_KEEP_SESSIONS=1).

A dedicated hub: sessions must survive its restart as the same processes,
stay reachable through the (kept) proxy with their recorded options, keep
their drive claims, and still be culled on time by the restarted `sessions`
service. Culling is off before the restart (so anything culled was culled by
the service that came back) and runs every 2 s after it.

One restart serves the module (a hub restart per test would be slow), so each
test that ends a session has a session of its own, started before the
restart, that no other test looks at: 'short' (culled at its maximum age),
v's 'idle' (culled with an injected clock) and w's 'done' (stopped). What the
restart itself kept is recorded by the fixture right after it, so any test can
run alone, in any order.
"""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from urllib.parse import quote

import psutil
import pytest

from jupyterhub_sessions.drives import user_slug
from jupyterhub_sessions.service.policy import parse_time
from tests.conftest import PROFILES
from tests.hubtools import start_hub, wait_for

pytestmark = pytest.mark.hub

MAX_AGE = 60  # seconds: the short-lived type's lifetime
CULL_EVERY_AFTER = 2

SHORT_TYPE = f"""
display_name: Short-lived (test)
description: A session type with a {MAX_AGE} s maximum age.
image: {{default: test/short:1}}
timeouts: {{default: 3600, choices: [3600], allow_never: true}}
lifetime: {{max_age: {MAX_AGE}}}
"""

# the hub's config reads the cull period from the environment, so the
# restarted hub can get a different one than the first
CULL_CONFIG = """
import os as _os
for _s in c.JupyterHub.services:
    if _s.get('name') == 'sessions':
        _s['command'] = [a for a in _s['command'] if not a.startswith('--cull-every')] + [
            '--cull-every=' + _os.environ.get('JHS_TEST_CULL_EVERY', '60')]
"""


def session_pids(hub, user) -> dict[str, int]:
    """{server name: pid} of this hub's running single-user servers of `user`."""
    return {
        env.get("JUPYTERHUB_SERVER_NAME", ""): p.pid
        for p, env in hub.session_processes()
        if env.get("JUPYTERHUB_USER") == user
    }


def servers(hub, user) -> dict:
    return hub.user_model(user)["servers"]


def running(hub, user, name) -> bool:
    s = servers(hub, user).get(name)
    return bool(s and s["ready"] and not s["pending"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A hub with four sessions of three users, restarted once; yields what was seen before and after."""
    tmp = tmp_path_factory.mktemp("restart")
    profiles = tmp / "profiles"
    shutil.copytree(PROFILES, profiles)
    (profiles / "short.yaml").write_text(SHORT_TYPE)
    hub = start_hub(
        tmp / "hub",
        extra_config=CULL_CONFIG,
        env={
            "JUPYTERHUB_SESSIONS_KEEP_SESSIONS": "1",
            "JUPYTERHUB_SESSIONS_PROFILES": str(profiles),
            "JHS_TEST_CULL_EVERY": "0",
        },
        timeout=180,
    )
    try:
        u, v, w = hub.new_user("keep"), hub.new_user("idle"), hub.new_user("done")
        starts = [
            (u, "work", {"session_type": "notebook", "timeout": -1, "cpu": 2, "new_drive": "thesis"}),
            (u, "short", {"session_type": "short", "new_drive": "scratch"}),
            (v, "idle", {"session_type": "notebook", "timeout": 900}),
            (w, "done", {"session_type": "notebook", "timeout": -1}),
        ]
        for user, name, opts in starts:
            r = hub.start_session(user, name, opts, wait=False)
            assert r.status_code in (201, 202), r.text
        for user, name, _ in starts:
            hub.wait_ready(user, name, timeout=180)
        for user, name in ((u, "work"), (w, "done")):
            r = hub.request(
                "PUT",
                f"user/{user}/{name}/api/contents/before.txt",
                token=hub.user_token(user),
                json={"type": "file", "format": "text", "content": "written before the restart"},
            )
            assert r.status_code == 201, r.text
        users = (u, v, w)
        before = {
            "servers": {user: servers(hub, user) for user in users},
            "pids": {user: session_pids(hub, user) for user in users},
        }
        assert set(before["pids"][u]) == {"work", "short"} and set(before["pids"][v]) == {"idle"}
        assert set(before["pids"][w]) == {"done"}
        old_hub_pid = hub.proc.pid
        hub.env["JHS_TEST_CULL_EVERY"] = str(CULL_EVERY_AFTER)
        hub.restart(timeout=180)
        assert hub.proc.pid != old_hub_pid
        after = {
            "servers": {user: servers(hub, user) for user in users},
            "pids": {user: session_pids(hub, user) for user in users},
        }
        yield {
            "hub": hub,
            "u": u,
            "v": v,
            "w": w,
            "before": before,
            "after": after,
            "profiles": profiles,
            "tmp": tmp,
            "restarted_at": time.time(),
        }
    finally:
        hub.stop()


def test_sessions_keep_running_as_the_same_processes(world):
    """Right after the restart (recorded by the fixture): every session, same process, same options."""
    hub, u, v, before, after = world["hub"], world["u"], world["v"], world["before"], world["after"]
    for user in (u, v, world["w"]):
        for name, pid in before["pids"][user].items():
            if name == "short" and name not in after["pids"][user]:
                # a busy machine can take the 60 s of its maximum age to get here (checked below)
                assert time.time() >= parse_time(before["servers"][user][name]["started"]).timestamp() + 55
                continue
            assert after["pids"][user].get(name) == pid, f"{user}/{name} was restarted, not kept"
            now = after["servers"][user][name]
            was = before["servers"][user][name]
            assert now["ready"] and not now["pending"]
            assert now["started"] == was["started"]
            assert now["user_options"] == was["user_options"]
    # and the one no test stops is still that process now
    assert session_pids(hub, u)["work"] == before["pids"][u]["work"]
    assert psutil.pid_exists(before["pids"][u]["work"])
    assert after["servers"][u]["work"]["user_options"]["timeout"] == -1
    assert after["servers"][u]["work"]["user_options"]["drive"] == "thesis"
    assert after["servers"][v]["idle"]["user_options"]["timeout"] == 900


def test_sessions_are_reachable_through_the_proxy_after_the_restart(world):
    hub, u = world["hub"], world["u"]
    token = hub.user_token(u)
    r = hub.request("GET", f"user/{u}/work/api/contents/before.txt", token=token)
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "written before the restart"
    r = hub.request(
        "PUT",
        f"user/{u}/work/api/contents/after.txt",
        token=token,
        json={"type": "file", "format": "text", "content": "after"},
    )
    assert r.status_code == 201, r.text
    assert (hub.data_dir / "drives" / user_slug(u) / "thesis" / "after.txt").read_text() == "after"
    # another user's token still gets nowhere
    other = hub.user_token(world["v"])
    r = hub.request("GET", f"user/{u}/work/api/contents/before.txt", token=other)
    assert r.status_code in (403, 404), r.status_code


def test_recorded_timeouts_are_served_by_the_restarted_service(world):
    hub, u = world["hub"], world["u"]
    token = hub.user_token(u)
    r = wait_for(
        lambda: (
            (
                x := hub.request("GET", f"services/sessions/api/sessions/{quote(u)}/work", token=token)
            ).status_code
            == 200
            and x
        ),
        timeout=60,
        what="sessions service after restart",
    )
    s = r.json()
    assert (s["timeout"], s["drive"], s["session_type"]) == (-1, "thesis", "notebook")
    # no idle deadline with timeout -1; only the type's 4-day maximum age
    assert s["expiry_reason"] == "max_age"


def test_drive_claims_hold_after_the_restart(world):
    hub, u = world["hub"], world["u"]
    r = hub.start_session(u, "other", {"drive": "thesis"}, wait=False)
    assert r.status_code == 409, r.text
    assert "in use by 'work'" in r.json()["message"]
    assert not running(hub, u, "other")
    assert set(session_pids(hub, u)) <= {"work", "short"}


def test_session_started_before_the_restart_is_culled_at_its_max_age(world):
    """The restarted service (not a test clock) stops 'short' once started + max_age has passed."""
    hub, u = world["hub"], world["u"]
    started = parse_time(world["before"]["servers"][u]["short"]["started"])
    deadline = started + timedelta(seconds=MAX_AGE)
    # not early: while the deadline is ahead, it runs
    while time.time() < deadline.timestamp() - 3:
        assert running(hub, u, "short"), "culled before its maximum age"
        time.sleep(1)
    # on time: gone within a few cull periods after the deadline
    wait_for(
        lambda: not running(hub, u, "short"),
        timeout=CULL_EVERY_AFTER * 5 + 30,
        what="short-lived session culled by the restarted service",
    )
    gone_at = time.time()
    assert gone_at >= deadline.timestamp() - 1
    wait_for(lambda: "short" not in session_pids(hub, u), timeout=30, what="short session process exit")
    # stopped by the sessions service's token, nobody else (the hub logs the
    # DELETE when the request finishes, which can be after the process exits)
    stop_line = f"DELETE /hub/api/users/{u}/servers/short (sessions@"
    wait_for(
        lambda: stop_line in hub.log_path.read_text(errors="replace"),
        timeout=30,
        what="the sessions service's DELETE in the hub log",
    )
    log = hub.log_path.read_text(errors="replace")
    assert f"DELETE /hub/api/users/{u}/servers/short (test-admin@" not in log
    # its drive is kept, the never-timeout session next to it is untouched
    assert (hub.data_dir / "drives" / user_slug(u) / "scratch").is_dir()
    assert running(hub, u, "work")


async def test_idle_timeout_recorded_before_the_restart_is_enforced(world):
    """A cull pass of the service with an injected clock, against the restarted hub."""
    from jupyterhub_sessions.service.app import SessionsService

    hub, u, v = world["hub"], world["u"], world["v"]
    svc = SessionsService(
        hub_api_url=hub.api_url,
        api_token=hub.admin_token,
        profiles_dir=str(world["profiles"]),
        state_file=str(world["tmp"] / "probe-state.json"),
        service_name="sessions",
    )
    svc.init_parts()
    # the probe's pass with a far clock sees only v's 'idle' and u's never-timeout 'work':
    # other sessions here belong to other tests ('short' must be culled by the service itself)
    watched = {(v, "idle"), (u, "work")}
    listing = svc.client.iter_users

    async def only_watched(state="active"):
        async for user in listing(state=state):
            servers_ = {k: s for k, s in user["servers"].items() if (user["name"], k) in watched}
            if servers_:
                yield {**user, "servers": servers_}

    svc.client.iter_users = only_watched
    try:
        idle = servers(hub, v)["idle"]
        last = parse_time(idle["last_activity"]) or parse_time(idle["started"])
        early = await svc.cull_once(now=last + timedelta(seconds=900 - 60))
        assert early.errors == [] and early.stopped == []
        assert running(hub, v, "idle") and running(hub, u, "work")

        late = await svc.cull_once(now=last + timedelta(seconds=900 + 60))
        assert late.errors == []
        assert (v, "idle", "idle") in late.stopped
        assert not any(user == u and name == "work" for user, name, _ in late.stopped), "timeout -1 culled"
        wait_for(lambda: not running(hub, v, "idle"), timeout=60, what="idle session stopped")
        wait_for(lambda: not session_pids(hub, v), timeout=30, what="idle session process exit")
        assert running(hub, u, "work")
    finally:
        svc.client.close()


def test_stopping_after_the_restart_leaves_no_processes(world):
    hub, w = world["hub"], world["w"]
    assert session_pids(hub, w), "w's session should be running before this test stops it"
    hub.stop_session(w, "done", timeout=90)
    wait_for(lambda: not session_pids(hub, w), timeout=30, what="all sessions of w stopped")
    assert (hub.data_dir / "drives" / user_slug(w) / "home" / "before.txt").is_file()
