"""Registered keys persist, belong to one user identity, and respect the per-user limit."""

import asyncio
import sqlite3

import asyncssh
import pytest

from jupyterhub_sessions.ssh.keys import parse_public_key
from jupyterhub_sessions.ssh.store import KeyConflict, KeyLimit, KeyStore

ALICE = "2026-01-01T10:00:00.000001Z"  # the hub's `created` of the user
ALICE_AGAIN = "2026-03-01T10:00:00.000001Z"  # alice deleted and created again


def new_key():
    return parse_public_key(asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode())


async def test_add_list_remove_persists(tmp_path):
    store = KeyStore(tmp_path / "ssh" / "keys.sqlite")
    k1, k2 = new_key(), new_key()
    a = await store.add("alice", ALICE, "laptop", k1)
    await store.add("alice", ALICE, "phone", k2)
    assert a.fingerprint == k1.fingerprint and a.added

    reopened = KeyStore(tmp_path / "ssh" / "keys.sqlite")
    assert [k.name for k in await reopened.list("alice", ALICE)] == ["laptop", "phone"]
    assert await reopened.list("bob", ALICE) == []
    assert (await reopened.find("alice", ALICE, k1.fingerprint)).name == "laptop"
    assert await reopened.find("bob", ALICE, k1.fingerprint) is None

    assert await reopened.remove("bob", ALICE, a.id) is None  # not bob's key
    removed = await reopened.remove("alice", ALICE, a.id)
    assert removed.name == "laptop"
    assert [k.name for k in await reopened.list("alice", ALICE)] == ["phone"]
    assert await reopened.find("alice", ALICE, k1.fingerprint) is None
    assert (tmp_path / "ssh" / "keys.sqlite").stat().st_mode & 0o077 == 0


async def test_a_key_of_another_user_neither_locks_out_nor_reveals(tmp_path):
    """Several users may register the same public key; nobody learns that someone else did."""
    store = KeyStore(tmp_path / "keys.sqlite")
    k = new_key()
    await store.add("bob", "2026-01-02T00:00:00Z", "squatted", k)
    mine = await store.add("alice", ALICE, "laptop", k)
    assert (await store.find("alice", ALICE, k.fingerprint)).id == mine.id
    assert (await store.find("bob", "2026-01-02T00:00:00Z", k.fingerprint)).name == "squatted"
    with pytest.raises(KeyConflict, match="already registered this key") as e:
        await store.add("alice", ALICE, "again", k)
    assert "bob" not in str(e.value)
    with pytest.raises(KeyConflict, match="already have a key named 'laptop'"):
        await store.add("alice", ALICE, "laptop", new_key())


async def test_keys_do_not_pass_to_a_new_user_of_the_same_name(tmp_path):
    store = KeyStore(tmp_path / "keys.sqlite")
    k = new_key()
    await store.add("alice", ALICE, "laptop", k)
    # alice is deleted and someone creates "alice" again: her key is not theirs
    assert await store.find("alice", ALICE_AGAIN, k.fingerprint) is None
    assert await store.list("alice", ALICE_AGAIN) == []
    # and it is gone for good (the old identity does not come back)
    assert await store.find("alice", ALICE, k.fingerprint) is None
    await store.add("alice", ALICE_AGAIN, "laptop", k)  # the new alice may register it herself


async def test_keys_from_before_identities_go_only_to_a_user_who_already_existed(tmp_path):
    path = tmp_path / "keys.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE ssh_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL, name TEXT NOT NULL,
        key_type TEXT NOT NULL, bits INTEGER NOT NULL, fingerprint TEXT NOT NULL UNIQUE, openssh TEXT NOT NULL,
        added TEXT NOT NULL, last_used TEXT, UNIQUE (username, name));"""
    )
    old, older = new_key(), new_key()
    for user, key, added in (
        ("alice", old, "2026-02-01T00:00:00+00:00"),
        ("carol", older, "2026-01-01T00:00:00+00:00"),
    ):
        db.execute(
            "INSERT INTO ssh_keys (username, name, key_type, bits, fingerprint, openssh, added) VALUES (?,?,?,?,?,?,?)",
            (user, "laptop", key.key_type, key.bits, key.fingerprint, key.openssh, added),
        )
    db.commit()
    db.close()
    store = KeyStore(path)
    # alice was created before her key was added: it is hers
    assert (await store.find("alice", ALICE, old.fingerprint)).name == "laptop"
    # this carol was created after the key was added: it belonged to an earlier carol
    assert await store.find("carol", "2026-02-15T00:00:00Z", older.fingerprint) is None


async def test_limit_holds_under_concurrency(tmp_path):
    store = KeyStore(tmp_path / "keys.sqlite", max_keys_per_user=3)
    keys = [new_key() for _ in range(8)]
    results = await asyncio.gather(
        *(store.add("alice", ALICE, f"k{i}", k) for i, k in enumerate(keys)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 3
    assert all(isinstance(r, KeyLimit) for r in results if isinstance(r, Exception))
    assert len(await store.list("alice", ALICE)) == 3
