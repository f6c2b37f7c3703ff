"""The sessions REST API of the running service, through the hub's proxy, as users see it."""

import collections
from datetime import timedelta
from urllib.parse import quote

import pytest

from jupyterhub_sessions.service.policy import parse_time

pytestmark = pytest.mark.hub

API = "services/sessions/api/sessions"


def start_work(hub, prefix: str) -> str:
    """A new user with one running notebook session 'work' (idle timeout 900 s)."""
    name = hub.new_user(prefix)
    r = hub.start_session(name, "work", {"session_type": "notebook", "timeout": 900})
    assert r.status_code in (201, 202), r.text
    return name


@pytest.fixture(scope="module")
def owner(svc_hub):
    """A session the module's tests only read or try (and fail) to change: shared, never changed."""
    name = start_work(svc_hub, "owner")
    try:
        yield name
    finally:
        svc_hub.stop_session(name, "work")


@pytest.fixture
def own_session(svc_hub):
    """A session of its own, for a test that changes it for good (renews or stops it)."""
    name = start_work(svc_hub, "mine")
    try:
        yield name
    finally:
        svc_hub.stop_session(name, "work")


def path(user, server="", action=""):
    return f"{API}/{quote(user, safe='')}/{quote(server, safe='')}" + (f"/{action}" if action else "")


def running(hub, user, server="work"):
    s = hub.user_model(user)["servers"].get(server)
    return bool(s and s["ready"] and not s["pending"])


def test_owner_lists_and_reads_own_session_with_its_expiry(svc_hub, owner):
    token = svc_hub.user_token(owner)
    r = svc_hub.request("GET", API, token=token)
    assert r.status_code == 200
    (s,) = r.json()
    assert (s["user"], s["name"], s["session_type"], s["drive"]) == (owner, "work", "notebook", "home")
    assert s["timeout"] == 900 and s["mode"] == "browser" and s["ready"] and s["pending"] is None
    assert s["expiry_reason"] == "idle"
    assert parse_time(s["expires_at"]) - parse_time(s["last_activity"]) < timedelta(seconds=901)
    assert parse_time(s["expires_at"]) - parse_time(s["last_activity"]) > timedelta(seconds=898)
    assert s["renewable"] and s["max_renewals"] is None and s["renewals"] == 0
    assert s["url"] == f"/user/{owner}/work/"

    one = svc_hub.request("GET", path(owner, "work"), token=token)
    assert one.status_code == 200 and one.json()["name"] == "work"


def test_admin_sees_everyone_and_can_filter(svc_hub, owner):
    r = svc_hub.request("GET", API)  # hubtools' admin service token
    assert r.status_code == 200
    assert (owner, "work") in {(s["user"], s["name"]) for s in r.json()}
    r = svc_hub.request("GET", API + "?user=" + quote(owner))
    assert [s["user"] for s in r.json()] == [owner]


def test_other_users_get_403_and_nothing_is_stopped(svc_hub, owner):
    other = svc_hub.new_user("other")
    token = svc_hub.user_token(other)
    assert svc_hub.request("GET", API, token=token).json() == []
    for method, p in [
        ("GET", path(owner, "work")),
        ("DELETE", path(owner, "work")),
        ("POST", path(owner, "work", "renew")),
        ("GET", path(owner, "no-such-session")),  # existence is not revealed
        ("GET", API + "?user=" + quote(owner)),
    ]:
        r = svc_hub.request(method, p, token=token)
        assert r.status_code == 403, (method, p, r.text)
        assert r.json()["status"] == 403 and owner in r.json()["message"]
    assert running(svc_hub, owner)
    assert (
        svc_hub.request("GET", path(owner, "work"), token=svc_hub.user_token(owner)).json()["renewals"] == 0
    )


def test_bad_or_missing_token_is_refused(svc_hub, owner):
    for token in ("", "not-a-token", "0" * 64):
        r = svc_hub.request("DELETE", path(owner, "work"), token=token)
        assert r.status_code == 401, (r.status_code, r.text[-1500:])
        assert r.json() == {"status": 401, "message": r.json()["message"]}
        assert "Authorization: token" in r.json()["message"]
    # a real token without the scope to use this service
    narrow = svc_hub.user_token(owner, scopes=["read:users:name!user=" + owner])
    r = svc_hub.request("DELETE", path(owner, "work"), token=narrow)
    assert r.status_code == 403 and "access:services!service=sessions" in r.json()["message"]
    assert running(svc_hub, owner)


def test_unknown_sessions_and_routes_are_404(svc_hub, owner):
    token = svc_hub.user_token(owner)
    r = svc_hub.request("GET", path(owner, "nope"), token=token)
    assert r.status_code == 404 and "nope" in r.json()["message"]
    r = svc_hub.request("POST", path(owner, "nope", "renew"), token=token)
    assert r.status_code == 404
    assert svc_hub.request("GET", path(owner, "x" * 300), token=token).status_code == 404
    assert svc_hub.request("GET", path("no-such-user-zz", "x")).status_code == 404
    assert svc_hub.request("DELETE", path(owner, ""), token=token).status_code == 404  # no default server
    r = svc_hub.request("GET", "services/sessions/api/nothing-here", token=token)
    assert r.status_code == 404 and r.json()["status"] == 404


def test_malformed_and_oversized_bodies_change_nothing(svc_hub, owner):
    token = svc_hub.user_token(owner)
    renew = path(owner, "work", "renew")
    for body, word in [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"renewals": 99}', "Unexpected field 'renewals'"),
        (b"\xff\xfe", "not valid JSON"),
    ]:
        r = svc_hub.request(
            "POST", renew, token=token, data=body, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400 and word in r.json()["message"], r.text
    r = svc_hub.request("DELETE", path(owner, "work"), token=token, data=b"{oops")
    assert r.status_code == 400
    r = svc_hub.request("POST", renew, token=token, data=b"{" + b" " * 200_000 + b"}")
    assert r.status_code == 413 and r.json()["status"] == 413
    # bigger than the proxy's and tornado's usual limits: still a clear 413, nothing stopped
    r = svc_hub.request("DELETE", path(owner, "work"), token=token, data=b"x" * (8 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["status"] == 413, r.text
    assert running(svc_hub, owner)
    s = svc_hub.request("GET", path(owner, "work"), token=token).json()
    assert s["renewals"] == 0


def test_renew_extends_max_age_and_says_how(svc_hub, own_session):
    owner = own_session
    token = svc_hub.user_token(owner)
    before = svc_hub.request("GET", path(owner, "work"), token=token).json()
    r = svc_hub.request("POST", path(owner, "work", "renew"), token=token)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["renewals"] == before["renewals"] + 1
    # renew extends the max-age expiry only: the idle deadline still comes first
    assert after["expiry_reason"] == "idle" and after["expires_at"] == before["expires_at"]
    # ... and the moved maximum age is visible
    assert after["deadlines"]["idle"] == after["expires_at"]
    assert after["deadlines"]["max_age"] > before["deadlines"]["max_age"]
    again = svc_hub.request("GET", path(owner, "work"), token=token).json()
    assert again["renewals"] == after["renewals"]


@pytest.fixture
def ssh_session(svc_hub):
    """A session of its own (the SSH transitions change its timing for good)."""
    name = svc_hub.new_user("sshown")
    r = svc_hub.start_session(name, "remote", {"session_type": "notebook", "timeout": 900})
    assert r.status_code in (201, 202), r.text
    try:
        yield name
    finally:
        svc_hub.stop_session(name, "remote")


def test_ssh_connections_switch_timeouts_and_only_the_ssh_service_reports_them(svc_hub, ssh_session):
    user = ssh_session
    token = svc_hub.user_token(user)
    one = {"connection": "gw-1"}
    for who in (token, None):  # the owner, and an admin, are not the ssh service
        r = svc_hub.request("POST", path(user, "remote", "ssh"), token=who, json=one)
        assert r.status_code == 403 and "ssh service" in r.json()["message"]
    r = svc_hub.request("DELETE", "services/sessions/api/ssh-connections", token=token)
    assert r.status_code == 403
    ssh = svc_hub.ssh_token
    assert svc_hub.request("POST", path(user, "nope", "ssh"), token=ssh, json=one).status_code == 404
    for bad in ({}, {"connection": ""}, {"connection": 5}, {"connection": "x", "more": 1}):
        r = svc_hub.request("POST", path(user, "remote", "ssh"), token=ssh, json=bad)
        assert r.status_code == 400 and "connection" in r.json()["message"], bad
    before = svc_hub.request("GET", path(user, "remote"), token=token).json()
    assert (before["timeout_applies"], before["timeout_basis"], before["ssh_connections"]) == (
        "idle",
        "activity",
        0,
    )

    # two connections: absolute from the start while any is open
    for conn in ("gw-1", "gw-2"):
        r = svc_hub.request("POST", path(user, "remote", "ssh"), token=ssh, json={"connection": conn})
        assert r.status_code == 200, r.text
    s = svc_hub.request("GET", path(user, "remote"), token=token).json()
    assert (s["mode"], s["timeout_applies"], s["timeout_basis"], s["ssh_connections"]) == (
        "ssh",
        "absolute",
        "ssh_connected",
        2,
    )
    started = parse_time(s["started"]).replace(microsecond=0)
    assert parse_time(s["expires_at"]) == started + timedelta(seconds=900) and s["idle_from"] is None
    r = svc_hub.request("DELETE", path(user, "remote", "ssh"), token=ssh, json={"connection": "gw-1"})
    assert r.json()["timeout_applies"] == "absolute"

    # the last one closes: idle again, counted from that moment
    r = svc_hub.request("DELETE", path(user, "remote", "ssh"), token=ssh, json={"connection": "gw-2"})
    s = r.json()
    assert (s["mode"], s["timeout_applies"], s["timeout_basis"], s["ssh_connections"]) == (
        "browser",
        "idle",
        "ssh_closed",
        0,
    )
    assert s["idle_from"] == s["ssh_closed_at"]
    assert parse_time(s["expires_at"]) == parse_time(s["idle_from"]) + timedelta(seconds=900)

    # a restarted ssh service forgets all its connections
    svc_hub.request("POST", path(user, "remote", "ssh"), token=ssh, json={"connection": "gw-3"})
    assert svc_hub.request("DELETE", "services/sessions/api/ssh-connections", token=ssh).status_code == 204
    s = svc_hub.request("GET", path(user, "remote"), token=token).json()
    assert (s["timeout_applies"], s["ssh_connections"]) == ("idle", 0)


def test_owner_stops_own_session_and_keeps_the_drive(svc_hub, own_session):
    owner = own_session
    token = svc_hub.user_token(owner)
    drive = svc_hub.data_dir / "drives"
    before = {p.relative_to(drive) for p in drive.rglob("*")} if drive.exists() else set()
    r = svc_hub.request("DELETE", path(owner, "work"), token=token, timeout=60)
    assert r.status_code in (200, 202), r.text
    assert r.json()["result"] in ("stopped", "stopping") and r.json()["drive"] == "home"
    from ..hubtools import wait_for

    wait_for(
        lambda: not running(svc_hub, owner) and not svc_hub.user_model(owner)["servers"].get("work"),
        timeout=30,
        what="session stopped",
    )
    after = {p.relative_to(drive) for p in drive.rglob("*")} if drive.exists() else set()
    assert before <= after, "stopping a session removes nothing from its drive"
    r = svc_hub.request("GET", path(owner, "work"), token=token)
    assert r.status_code == 404


ENDED = "services/sessions/api/ended"


def test_who_stopped_a_session_is_kept_and_shown_to_its_owner(svc_hub):
    from ..hubtools import wait_for

    hub = svc_hub
    user = hub.new_user("ends")
    admin = "admin"  # an admin by the platform config (JUPYTERHUB_SESSIONS_ADMINS)
    for name in ("mine", "theirs"):
        r = hub.start_session(user, name, {"session_type": "notebook", "new_drive": f"d-{name}"})
        assert r.status_code in (201, 202), r.text
    token = hub.user_token(user)
    assert hub.request("GET", ENDED, token=token).json() == []

    r = hub.request("DELETE", path(user, "mine"), token=token, timeout=60)
    assert r.status_code in (200, 202) and r.json()["result"] in ("stopped", "stopping"), r.text
    r = hub.request("DELETE", path(user, "theirs"), token=hub.user_token(admin), timeout=60)
    assert r.status_code in (200, 202), r.text
    wait_for(lambda: not hub.user_model(user)["servers"], timeout=60, what="both stopped")

    ended = {e["name"]: e for e in hub.request("GET", ENDED, token=token).json()}
    assert ended["mine"]["reason"] == "stopped" and ended["mine"]["by"] == user
    assert ended["mine"]["message"] == f"Stopped by its owner {user}."
    assert (
        ended["theirs"]["by_role"] == "admin" and ended["theirs"]["message"] == f"Stopped by admin {admin}."
    )
    assert ended["theirs"]["drive"] == "d-theirs" and ended["theirs"]["session_type"] == "notebook"
    assert parse_time(ended["mine"]["ended_at"]) >= parse_time(ended["mine"]["started"])

    # another user sees none of it; an admin may ask for it
    other = hub.user_token(hub.new_user("endsother"))
    assert all(e["user"] != user for e in hub.request("GET", ENDED, token=other).json())
    assert hub.request("GET", ENDED + "?user=" + quote(user), token=other).status_code == 403
    r = hub.request("GET", ENDED + "?user=" + quote(user), token=hub.user_token(admin))
    assert {e["name"] for e in r.json()} == {"mine", "theirs"}


def test_delete_removes_a_stopped_session_keeps_its_drive_and_its_end(svc_hub):
    hub = svc_hub
    user = hub.new_user("del")
    token = hub.user_token(user)
    r = hub.start_session(user, "gone", {"session_type": "notebook", "new_drive": "keepme"})
    assert r.status_code in (201, 202), r.text
    assert hub.request("DELETE", path(user, "gone"), token=token, timeout=60).status_code in (200, 202)
    from ..hubtools import wait_for

    wait_for(lambda: not hub.user_model(user)["servers"], timeout=60, what="stopped")
    stopped = hub.api("GET", f"users/{quote(user)}?include_stopped_servers=1").json()["servers"]
    assert "gone" in stopped

    for body, word in [
        ({"remove": "yes"}, "must be a bool"),
        ({"remove": True, "x": 1}, "Unexpected field 'x'"),
    ]:
        r = hub.request("DELETE", path(user, "gone"), token=token, json=body)
        assert r.status_code == 400 and word in r.json()["message"], r.text
    r = hub.request(
        "DELETE", path(user, "gone"), token=hub.user_token(hub.new_user("delother")), json={"remove": True}
    )
    assert r.status_code == 403
    r = hub.request("DELETE", path(user, ""), token=token, json={"remove": True})
    assert r.status_code == 400 and "default session cannot be deleted" in r.json()["message"]

    r = hub.request("DELETE", path(user, "gone"), token=token, json={"remove": True}, timeout=60)
    assert r.status_code == 200 and r.json() == {"user": user, "name": "gone", "result": "deleted"}, r.text
    stopped = hub.api("GET", f"users/{quote(user)}?include_stopped_servers=1").json()["servers"]
    assert "gone" not in stopped
    assert (hub.data_dir / "drives").rglob("keepme").__next__().is_dir()
    assert hub.request("GET", ENDED, token=token).json() == []  # a deleted session has no end to show
    r = hub.request("DELETE", path(user, "gone"), token=token, json={"remove": True})
    assert r.status_code == 404


def test_refused_requests_in_a_row_all_get_their_answer(svc_hub):
    """A request refused before its body is read ends its connection; the service says so
    (Connection: close), else the proxy reuses the dead socket and the next caller gets a 503."""
    statuses = collections.Counter(
        svc_hub.request("DELETE", path("nobody-here", "x"), token="0" * 64).status_code for _ in range(150)
    )
    assert statuses == {401: 150}
