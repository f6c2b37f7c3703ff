"""Registered keys, persisted in a small sqlite file under the data dir.

A key belongs to a hub user's *identity*, not only to a name: the hub's user
model has no stable id in its REST API (JupyterHub 5.5 and 6.x), so the
identity is the name together with the user's `created` time, which a user who
is deleted and created again under the same name does not keep. Every call
gives the user's current identity; keys of an earlier user of that name are
dropped on the spot and never match. Rows from before identities were
recorded (`identity` NULL) are adopted by the current user only if that user
already existed when the key was added, else dropped.

The same public key may be registered by several users (a shared device, one
person with two accounts): the login name says which user is meant, so a key
registered by someone else neither locks its owner out nor reveals anything.

Every call runs in a worker thread with its own connection, so the event
loop never blocks on disk, and limits are checked inside the same write
transaction that inserts, so concurrent requests cannot overshoot them.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from .keys import PublicKey

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ssh_keys_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    identity TEXT,
    name TEXT NOT NULL,
    key_type TEXT NOT NULL,
    bits INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    openssh TEXT NOT NULL,
    added TEXT NOT NULL,
    last_used TEXT,
    UNIQUE (username, fingerprint),
    UNIQUE (username, name)
);
CREATE INDEX IF NOT EXISTS ssh_keys_v2_fingerprint ON ssh_keys_v2 (fingerprint);
"""
# keys of the first schema (one owner per fingerprint, no identity) are carried over once
_MIGRATE_V1 = """
INSERT OR IGNORE INTO ssh_keys_v2
    (id, username, identity, name, key_type, bits, fingerprint, openssh, added, last_used)
SELECT id, username, NULL, name, key_type, bits, fingerprint, openssh, added, last_used FROM ssh_keys;
DROP TABLE ssh_keys;
"""


class KeyConflict(ValueError):
    """The user already has this key or a key of that name; the message is safe to show."""


class KeyLimit(ValueError):
    """The user already has the maximum number of keys."""


@dataclass
class StoredKey:
    id: int
    username: str
    identity: str | None
    name: str
    key_type: str
    bits: int
    fingerprint: str
    openssh: str
    added: str
    last_used: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("username")
        d.pop("identity")
        return d


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class KeyStore:
    """Keys per user identity (see the module docstring)."""

    def __init__(self, path: str | Path, max_keys_per_user: int = 20):
        self.path = Path(path)
        self.max_keys_per_user = max_keys_per_user
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._run_sync(self._init)

    # -- plumbing ---------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    def _run_sync(self, fn, *args):
        db = self._connect()
        try:
            return fn(db, *args)
        finally:
            db.close()

    async def _run(self, fn, *args):
        return await asyncio.to_thread(self._run_sync, fn, *args)

    def _init(self, db):
        db.executescript(_SCHEMA)
        if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='ssh_keys'").fetchone():
            db.executescript("BEGIN IMMEDIATE;" + _MIGRATE_V1 + "COMMIT;")
        os.chmod(self.path, 0o600)

    def _settle(self, db, username: str, identity: str) -> None:
        """Drop keys of an earlier user of this name; adopt unclaimed keys added after `identity`."""
        created = _time(identity)
        rows = db.execute(
            "SELECT id, identity, added FROM ssh_keys_v2 WHERE username = ? AND (identity IS NULL OR identity != ?)",
            (username, identity),
        ).fetchall()
        for row in rows:
            added = _time(row["added"])
            if row["identity"] is None and created is not None and added is not None and added >= created:
                db.execute("UPDATE ssh_keys_v2 SET identity = ? WHERE id = ?", (identity, row["id"]))
            else:
                db.execute("DELETE FROM ssh_keys_v2 WHERE id = ?", (row["id"],))

    def _in_transaction(self, db, fn, *args):
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(*args)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return result

    # -- operations ---------------------------------------------------------------
    def _add(self, db, username: str, identity: str, name: str, key: PublicKey) -> StoredKey:
        def add():
            self._settle(db, username, identity)
            mine = db.execute(
                "SELECT name FROM ssh_keys_v2 WHERE username = ? AND fingerprint = ?",
                (username, key.fingerprint),
            ).fetchone()
            if mine is not None:
                raise KeyConflict(f"You have already registered this key (as '{mine['name']}').")
            if db.execute(
                "SELECT 1 FROM ssh_keys_v2 WHERE username = ? AND name = ?", (username, name)
            ).fetchone():
                raise KeyConflict(f"You already have a key named '{name}'; pick another name.")
            (count,) = db.execute(
                "SELECT COUNT(*) FROM ssh_keys_v2 WHERE username = ?", (username,)
            ).fetchone()
            if count >= self.max_keys_per_user:
                raise KeyLimit(
                    f"You already have {count} keys (the limit); remove one before adding another."
                )
            cur = db.execute(
                "INSERT INTO ssh_keys_v2 (username, identity, name, key_type, bits, fingerprint, openssh, added)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (username, identity, name, key.key_type, key.bits, key.fingerprint, key.openssh, _now()),
            )
            return db.execute("SELECT * FROM ssh_keys_v2 WHERE id = ?", (cur.lastrowid,)).fetchone()

        return StoredKey(**dict(self._in_transaction(db, add)))

    async def add(self, username: str, identity: str, name: str, key: PublicKey) -> StoredKey:
        return await self._run(self._add, username, identity, name, key)

    def _names(self, db, username: str, identity: str) -> set[str]:
        self._in_transaction(db, self._settle, db, username, identity)
        return {r["name"] for r in db.execute("SELECT name FROM ssh_keys_v2 WHERE username = ?", (username,))}

    async def names(self, username: str, identity: str) -> set[str]:
        """The names of the user's keys (to pick a free one)."""
        return await self._run(self._names, username, identity)

    def _list(self, db, username: str, identity: str) -> list[StoredKey]:
        self._in_transaction(db, self._settle, db, username, identity)
        rows = db.execute(
            "SELECT * FROM ssh_keys_v2 WHERE username = ? AND identity = ? ORDER BY added, id",
            (username, identity),
        ).fetchall()
        return [StoredKey(**dict(r)) for r in rows]

    async def list(self, username: str, identity: str) -> list[StoredKey]:
        return await self._run(self._list, username, identity)

    def _remove(self, db, username: str, identity: str, key_id: int) -> StoredKey | None:
        row = db.execute(
            "SELECT * FROM ssh_keys_v2 WHERE id = ? AND username = ? AND identity = ?",
            (key_id, username, identity),
        ).fetchone()
        if row is None:
            return None
        db.execute("DELETE FROM ssh_keys_v2 WHERE id = ?", (key_id,))
        return StoredKey(**dict(row))

    async def remove(self, username: str, identity: str, key_id: int) -> StoredKey | None:
        """Remove the user's key `key_id`; None if the user has no such key."""
        return await self._run(self._remove, username, identity, key_id)

    def _find(self, db, username: str, identity: str, fingerprint: str) -> StoredKey | None:
        self._in_transaction(db, self._settle, db, username, identity)
        row = db.execute(
            "SELECT * FROM ssh_keys_v2 WHERE username = ? AND identity = ? AND fingerprint = ?",
            (username, identity, fingerprint),
        ).fetchone()
        return StoredKey(**dict(row)) if row else None

    async def find(self, username: str, identity: str, fingerprint: str) -> StoredKey | None:
        """The user's key with this fingerprint, or None."""
        return await self._run(self._find, username, identity, fingerprint)

    def _touch(self, db, key_id: int) -> None:
        db.execute("UPDATE ssh_keys_v2 SET last_used = ? WHERE id = ?", (_now(), key_id))

    async def touch(self, key_id: int) -> None:
        """Record that a key was just used to log in."""
        await self._run(self._touch, key_id)
