"""The renewal state file: keyed by (user, server, started), atomic, pruned."""

import json
from datetime import datetime, timezone

from jupyterhub_sessions.service.policy import Record, ssh_opened
from jupyterhub_sessions.service.state import SessionStore, session_key

EXPIRY = datetime(2026, 1, 5, tzinfo=timezone.utc)


async def test_records_survive_a_restart(tmp_path):
    path = tmp_path / "state.json"
    store = SessionStore(path)
    key = session_key("alice", "big", "2026-01-01T00:00:00.000001Z")
    store.put(key, Record(renewals=2, max_age_expires_at=EXPIRY))
    bob = session_key("bob", "", "2026-01-01T00:00:00Z")
    store.put(bob, Record(ssh_connections=frozenset({"gw-1", "gw-2"}), ssh_closed_at=EXPIRY))
    await store.save()

    again = SessionStore(path)
    again.load()
    assert again.get(key) == Record(renewals=2, max_age_expires_at=EXPIRY)
    assert again.get(bob) == Record(ssh_connections=frozenset({"gw-1", "gw-2"}), ssh_closed_at=EXPIRY)
    assert not list(tmp_path.glob(".state.json.*")), "temporary files are cleaned up"


async def test_restarted_session_starts_without_renewals(tmp_path):
    store = SessionStore(tmp_path / "s.json")
    store.put(session_key("alice", "x", "2026-01-01T00:00:00Z"), Record(renewals=3))
    assert store.get(session_key("alice", "x", "2026-01-02T00:00:00Z")) == Record()


async def test_prune_forgets_sessions_that_are_gone(tmp_path):
    path = tmp_path / "s.json"
    store = SessionStore(path)
    keep = session_key("a", "", "t1")
    gone = session_key("b", "", "t2")
    new = session_key("c", "", "t3")
    store.put(keep, Record(renewals=1))
    store.put(gone, Record(renewals=1))
    before = set(store.records)
    store.put(new, Record(renewals=1))  # renewed while a pass was listing
    assert store.prune({keep}, before) == 1
    assert set(store.records) == {keep, new}
    await store.save()
    data = json.loads(path.read_text())
    assert {e["user"] for e in data["sessions"]} == {"a", "c"}


async def test_corrupt_file_is_ignored_not_fatal(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{not json")
    store = SessionStore(path)
    store.load()
    assert store.records == {}
    path.write_text(json.dumps({"sessions": [{"user": "a"}]}))
    store.load()
    assert store.records == {}


async def test_nothing_written_when_nothing_changed(tmp_path):
    path = tmp_path / "s.json"
    store = SessionStore(path)
    await store.save()
    assert not path.exists()
    store.update(session_key("a", "", "t"), lambda r: ssh_opened(r, "c1"))
    store.update(session_key("a", "", "t"), lambda r: ssh_opened(r, "c1"))
    await store.save()
    mtime = path.stat().st_mtime_ns
    await store.save()
    assert path.stat().st_mtime_ns == mtime


def test_a_version_1_ssh_mark_is_not_a_connection(tmp_path):
    """Before connections were counted, `ssh: true` stayed for good; after an upgrade the gateway
    has restarted, so nothing is open and the idle timer (never earlier than absolute) applies."""
    path = tmp_path / "s.json"
    entry = {
        "user": "a",
        "server": "",
        "started": "t",
        "renewals": 1,
        "max_age_expires_at": None,
        "ssh": True,
    }
    path.write_text(json.dumps({"version": 1, "sessions": [entry]}))
    store = SessionStore(path)
    store.load()
    assert store.get(session_key("a", "", "t")) == Record(renewals=1)
