"""Cull passes run in-process with a fake clock against a real hub's API and real sessions."""

import asyncio
import os
from datetime import datetime, timedelta, timezone

import pytest

from jupyterhub_sessions.profiles import load_session_types
from jupyterhub_sessions.service import policy
from jupyterhub_sessions.service.culler import cull_pass
from jupyterhub_sessions.service.hubclient import HubAPIError, HubClient
from jupyterhub_sessions.service.sessions import SessionPolicy, sessions_of
from jupyterhub_sessions.service.state import SessionStore

from ..conftest import PROFILES
from ..hubtools import wait_for
from .conftest import stop_count

pytestmark = pytest.mark.hub

DAY = timedelta(days=1)
SEC = timedelta(seconds=1)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def server(hub, user, name):
    return hub.user_model(user)["servers"].get(name)


def gone(hub, user, name):
    s = server(hub, user, name)
    return s is None or (not s["ready"] and not s["pending"])


def mine(report, users):
    return {(u, s, why) for u, s, why in report.stopped if u in users}


async def test_cull_passes_on_a_fake_clock(svc_hub, tmp_path):
    hub = svc_hub
    a, b = hub.new_user("culla"), hub.new_user("cullb")
    users = {a, b}
    wanted = {
        (a, "never"): {"timeout": -1, "new_drive": "scratch"},
        (b, ""): {"timeout": 3600},
        (b, "ssh"): {"timeout": 3600, "new_drive": "work"},
    }
    for (user, name), options in wanted.items():
        r = hub.start_session(user, name, {"session_type": "notebook", **options}, wait=False)
        assert r.status_code in (201, 202), r.text

    types = load_session_types(os.environ.get("JUPYTERHUB_SESSIONS_PROFILES") or PROFILES)
    store = SessionStore(tmp_path / "state.json")
    sessions = SessionPolicy(lambda: types, store, default_timeout=3600)
    client = HubClient(hub.api_url, hub.admin_token, concurrency=4, page_size=2)
    try:
        models = {k: hub.wait_ready(*k) for k in wanted}
        started = {k: policy.parse_time(m["started"]) for k, m in models.items()}
        # the same recent activity everywhere, so only the rules differ
        t = max(started.values()) + 1800 * SEC
        for user in users:
            servers = {name: {"last_activity": iso(t)} for (u, name) in wanted if u == user}
            assert hub.api("POST", f"users/{user}/activity", json={"servers": servers}).status_code == 200

        # now: nothing is due (page_size=2 makes the listing paginate)
        report = await cull_pass(client, sessions, datetime.now(timezone.utc))
        assert not mine(report, users) and report.checked >= 3

        # SSH-connected: absolute timeout from start, although the twin browser session is kept
        ssh_key = next(s.key for s in sessions_of(hub.user_model(b)) if s.name == "ssh")
        store.update(ssh_key, lambda r: policy.ssh_opened(r, "gw-1"))
        now = started[(b, "ssh")] + 3601 * SEC
        assert now < t + 3600 * SEC
        assert mine(await cull_pass(client, sessions, now), users) == {(b, "ssh", "absolute")}
        wait_for(lambda: gone(hub, b, "ssh"), timeout=60, what="ssh session stopped")

        # renew the never-timeout session three days in: its max age moves to 4 days from then
        never = next(s for s in sessions_of(hub.user_model(a)) if s.name == "never")
        renewed_at = started[(a, "never")] + 3 * DAY
        record = sessions.renew(never, renewed_at)
        assert record.renewals == 1 and record.max_age_expires_at == renewed_at + 4 * DAY

        # idle: the browser session is kept until an hour after its last activity
        assert not mine(await cull_pass(client, sessions, t + 3599 * SEC), users)

        # two passes at once, past the default session's idle deadline and the
        # never session's original max age: the default session is stopped once,
        # the renewed session survives
        now = started[(a, "never")] + 5 * DAY
        c2 = HubClient(hub.api_url, hub.admin_token, concurrency=4, page_size=2)
        try:
            r1, r2 = await asyncio.gather(cull_pass(client, sessions, now), cull_pass(c2, sessions, now))
        finally:
            c2.close()
        assert mine(r1, users) | mine(r2, users) == {(b, "", "idle")}
        assert not r1.errors and not r2.errors
        wait_for(lambda: gone(hub, b, ""), timeout=60, what="default session stopped")
        assert stop_count(hub, b, "") == 1
        assert stop_count(hub, a, "never") == 0
        assert not gone(hub, a, "never")

        # past the renewed max age it goes too, and the named server entry is removed on request
        now = renewed_at + 4 * DAY + SEC
        report = await cull_pass(client, sessions, now, remove_named_servers=True)
        assert mine(report, users) == {(a, "never", "max_age")}

        def removed():
            r = hub.api("GET", f"users/{a}?include_stopped_servers=1")
            return (
                "never" not in r.json()["servers"]
                and "ssh" in hub.api("GET", f"users/{b}?include_stopped_servers=1").json()["servers"]
            )

        wait_for(removed, timeout=60, what="named server removed")
        # drives are never touched by culling
        drives = hub.data_dir / "drives"
        names = {p.name for p in drives.rglob("*") if p.is_dir()}
        assert {"scratch", "work", "home"} <= names

        # every culled session is gone from the saved state
        await cull_pass(client, sessions, now)
        assert not any(k[0] in users for k in store.records)
        assert '"sessions": []' in (tmp_path / "state.json").read_text() or not any(
            u in (tmp_path / "state.json").read_text() for u in users
        )
    finally:
        client.close()
        for user, name in wanted:
            if not gone(hub, user, name):
                hub.stop_session(user, name)


class FakeHub:
    """Just the two calls a pass makes, for what a real hub cannot be made to do on cue."""

    def __init__(self, users, fail=(), models=None):
        self.users = users
        self.fail = set(fail)
        self.deleted = []
        self.models = models or {}

    async def get_user(self, name):
        return self.models.get(name)

    async def iter_users(self, state=None):
        for u in self.users:
            yield u

    async def stop_server(self, user, name, remove=False):
        if (user, name) in self.fail:
            raise HubAPIError(500, "boom")
        self.deleted.append((user, name))
        return "stopped"


def fake_server(started, **kw):
    return {
        "started": iso(started),
        "last_activity": iso(started),
        "ready": True,
        "pending": None,
        "user_options": {"session_type": "notebook", "timeout": 900, "drive": "home"},
        **kw,
    }


async def test_pending_servers_are_skipped_and_a_failed_stop_does_not_stop_the_pass(tmp_path):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    users = [
        {
            "name": "p",
            "servers": {
                "spawning": fake_server(t0, ready=False, pending="spawn"),
                "stopping": fake_server(t0, ready=True, pending="stop"),
            },
        },
        {"name": "q", "servers": {"": fake_server(t0), "x": fake_server(t0)}},
    ]
    fake = FakeHub(users, fail={("q", "")})
    types = load_session_types(PROFILES)
    sessions = SessionPolicy(lambda: types, SessionStore(tmp_path / "s.json"), 3600)
    report = await cull_pass(fake, sessions, t0 + 3650 * DAY)
    assert fake.deleted == [("q", "x")]
    assert report.skipped_pending == 2 and report.checked == 2
    assert report.errors == [("q", "", "boom")]
    assert report.stopped == [("q", "x", "idle")]


async def test_records_are_pruned_only_when_the_users_model_confirms_the_session_is_gone(tmp_path):
    """A user the paginated listing skipped keeps their renewals."""
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    skipped = {"name": "skipped", "servers": {"s": fake_server(t0)}}
    restarted = {"name": "restarted", "servers": {"s": fake_server(t0 + DAY)}}
    fake = FakeHub([], models={"skipped": skipped, "restarted": restarted})
    store = SessionStore(tmp_path / "s.json")
    keep = sessions_of(skipped)[0].key
    old = (restarted["name"], "s", iso(t0))
    store.put(keep, policy.Record(renewals=1))
    store.put(old, policy.Record(renewals=2))
    store.put(("deleted-user", "", iso(t0)), policy.Record(ssh_connections=frozenset({"gw-1"})))
    sessions = SessionPolicy(lambda: {}, store, 3600)
    report = await cull_pass(fake, sessions, t0)
    assert report.pruned == 2
    assert set(store.records) == {keep}
