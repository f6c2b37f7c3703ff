"""Registered keys persist, belong to one user, and respect the per-user limit."""

import asyncio

import asyncssh
import pytest

from jupyterhub_sessions.ssh.keys import parse_public_key
from jupyterhub_sessions.ssh.store import KeyConflict, KeyLimit, KeyStore


def new_key():
    return parse_public_key(asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode())


async def test_add_list_remove_persists(tmp_path):
    store = KeyStore(tmp_path / "ssh" / "keys.sqlite")
    k1, k2 = new_key(), new_key()
    a = await store.add("alice", "laptop", k1)
    await store.add("alice", "phone", k2)
    assert a.fingerprint == k1.fingerprint and a.added

    reopened = KeyStore(tmp_path / "ssh" / "keys.sqlite")
    assert [k.name for k in await reopened.list("alice")] == ["laptop", "phone"]
    assert await reopened.list("bob") == []
    assert (await reopened.find("alice", k1.fingerprint)).name == "laptop"
    assert await reopened.find("bob", k1.fingerprint) is None

    assert await reopened.remove("bob", a.id) is None  # not bob's key
    removed = await reopened.remove("alice", a.id)
    assert removed.name == "laptop"
    assert [k.name for k in await reopened.list("alice")] == ["phone"]
    assert await reopened.find("alice", k1.fingerprint) is None
    assert (tmp_path / "ssh" / "keys.sqlite").stat().st_mode & 0o077 == 0


async def test_one_key_one_user(tmp_path):
    store = KeyStore(tmp_path / "keys.sqlite")
    k = new_key()
    await store.add("alice", "laptop", k)
    with pytest.raises(KeyConflict, match="already registered by another user"):
        await store.add("bob", "stolen", k)
    with pytest.raises(KeyConflict, match="already registered this key"):
        await store.add("alice", "again", k)
    with pytest.raises(KeyConflict, match="already have a key named 'laptop'"):
        await store.add("alice", "laptop", new_key())
    assert await store.list("bob") == []


async def test_limit_holds_under_concurrency(tmp_path):
    store = KeyStore(tmp_path / "keys.sqlite", max_keys_per_user=3)
    keys = [new_key() for _ in range(8)]
    results = await asyncio.gather(
        *(store.add("alice", f"k{i}", k) for i, k in enumerate(keys)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 3
    assert all(isinstance(r, KeyLimit) for r in results if isinstance(r, Exception))
    assert len(await store.list("alice")) == 3
