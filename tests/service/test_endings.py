"""Why sessions ended: the records, their text, their file, and how cull passes make them."""

import json
from datetime import datetime, timedelta, timezone

from jupyterhub_sessions.profiles import load_session_types
from jupyterhub_sessions.service import endings
from jupyterhub_sessions.service.culler import cull_pass
from jupyterhub_sessions.service.sessions import SessionPolicy, sessions_of
from jupyterhub_sessions.service.state import SessionStore

from ..conftest import PROFILES
from .test_culler import FakeHub, fake_server, iso

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)


def record(**kw):
    base = {"user": "alice", "server": "work", "reason": "idle", "ended_at": T0}
    return endings.EndRecord(**{**base, **kw})


def test_each_end_says_what_happened():
    idle = record(reason="idle", timeout=3600, last_activity="2026-01-01T08:00:00.000000Z")
    assert endings.describe(idle) == "Stopped after 1 hour idle (idle since 2026-01-01T08:00:00Z)."
    assert "4 hours timeout ran out" in endings.describe(record(reason="absolute", timeout=14400))
    assert (
        endings.describe(record(reason="max_age", max_age=345600)) == "Stopped at its maximum age (4 days)."
    )
    assert (
        endings.describe(record(reason="stopped", by="alice", by_role="owner"))
        == "Stopped by its owner alice."
    )
    assert endings.describe(record(reason="stopped", by="root", by_role="admin")) == "Stopped by admin root."
    assert "outside the sessions dashboard" in endings.describe(record(reason="gone"))


def test_records_round_trip_and_hostile_entries_are_dropped(tmp_path):
    r = record(reason="stopped", by="bob", by_role="admin", started="s", drive="d", session_type="notebook")
    assert endings.EndRecord.from_json(r.to_json()) == r
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {
                "version": 2,
                "sessions": [],
                "ended": [
                    r.to_json(),
                    {"user": "x"},  # no name, no time
                    {"user": "y", "name": "z", "ended_at": "not a time"},
                    {"user": "q", "name": "", "ended_at": "2026-01-01T00:00:00Z", "timeout": "1"},
                ],
            }
        )
    )
    store = SessionStore(path)
    store.load()
    assert set(store.ended) == {("alice", "work"), ("q", "")}
    assert store.ended[("q", "")].timeout is None and store.ended[("q", "")].reason == "gone"


async def test_the_file_keeps_ends_and_old_files_still_load(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"version": 1, "sessions": [{"user": "a", "server": "", "started": "t"}]}))
    store = SessionStore(path)
    store.load()
    assert len(store.records) == 1 and store.ended == {}
    store.record_end(record())
    store.record_end(record(server="old", ended_at=T0 - 40 * 24 * 60 * MIN))
    await store.save()
    again = SessionStore(path)
    again.load()
    assert [r.server for r in again.ended_of("alice")] == ["work", "old"]  # newest first
    assert again.ended_of("bob") == []
    assert again.prune_ended(T0 - 30 * 24 * 60 * MIN) == 1 and list(again.ended) == [("alice", "work")]
    again.forget_end("alice", "work")
    assert again.ended == {}


async def test_passes_record_culls_and_notice_sessions_stopped_elsewhere(tmp_path):
    types = load_session_types(PROFILES)
    store = SessionStore(tmp_path / "s.json")
    sessions = SessionPolicy(lambda: types, store, 3600)
    busy = fake_server(T0, last_activity=iso(T0 + 60 * MIN))
    users = [
        {"name": "a", "servers": {"idle": fake_server(T0), "elsewhere": busy, "api": busy, "again": busy}},
    ]
    hub = FakeHub(users, models={"a": users[0]})
    first = await cull_pass(hub, sessions, T0 + 10 * MIN)
    assert first.stopped == [] and store.ended == {}

    # 20 minutes idle (timeout 900 s): culled, with the last activity and the timeout
    report = await cull_pass(hub, sessions, T0 + 20 * MIN)
    assert report.stopped == [("a", "idle", "idle")]
    culled = store.ended[("a", "idle")]
    assert (culled.reason, culled.timeout, culled.ended_at) == ("idle", 900, T0 + 20 * MIN)
    assert culled.last_activity == iso(T0) and culled.started == iso(T0) and culled.drive == "home"

    # "elsewhere" and "api" stop without the culler; "api" was stopped through our API
    # (recorded then, with who); "again" restarted in between: its old end is dropped
    api = next(s for s in sessions_of(users[0]) if s.name == "api")
    store.record_end(endings.stopped(api, "alice", "owner", T0 + 21 * MIN))
    store.record_end(record(user="a", server="again", reason="gone", started=iso(T0)))
    servers = users[0]["servers"]
    for name in ("idle", "elsewhere", "api"):
        del servers[name]
    servers["again"] = fake_server(T0 + 22 * MIN)
    report = await cull_pass(hub, sessions, T0 + 25 * MIN)
    assert report.ended_elsewhere == [("a", "elsewhere")]
    assert store.ended[("a", "elsewhere")].reason == "gone"
    assert store.ended[("a", "elsewhere")].ended_at == T0 + 25 * MIN
    assert store.ended[("a", "api")].by_role == "owner"  # not overwritten
    assert store.ended[("a", "idle")].reason == "idle"
    assert ("a", "again") not in store.ended

    # nothing more is recorded for them at later passes
    later = await cull_pass(hub, sessions, T0 + 26 * MIN)
    assert later.ended_elsewhere == [] and set(store.ended) == {
        ("a", "idle"),
        ("a", "elsewhere"),
        ("a", "api"),
    }


async def test_a_user_the_listing_skipped_is_not_said_to_have_stopped(tmp_path):
    types = load_session_types(PROFILES)
    store = SessionStore(tmp_path / "s.json")
    sessions = SessionPolicy(lambda: types, store, 3600)
    user = {"name": "u", "servers": {"s": fake_server(T0, last_activity=iso(T0 + 60 * MIN))}}
    hub = FakeHub([user], models={"u": user})
    await cull_pass(hub, sessions, T0 + MIN)
    hub.users = []  # the paginated listing missed the user; their model says the session runs
    report = await cull_pass(hub, sessions, T0 + 2 * MIN)
    assert report.ended_elsewhere == [] and store.ended == {}
    hub.models = {"u": {"name": "u", "servers": {}}}  # now it really is gone
    report = await cull_pass(hub, sessions, T0 + 3 * MIN)
    assert report.ended_elsewhere == [("u", "s")]
