"""Registered SSH keys, persisted in a small sqlite file under the data dir.

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
CREATE TABLE IF NOT EXISTS ssh_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    name TEXT NOT NULL,
    key_type TEXT NOT NULL,
    bits INTEGER NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    openssh TEXT NOT NULL,
    added TEXT NOT NULL,
    last_used TEXT,
    UNIQUE (username, name)
);
CREATE INDEX IF NOT EXISTS ssh_keys_user ON ssh_keys (username);
"""


class KeyConflict(ValueError):
    """The key or its name is already registered; the message is safe to show."""


class KeyLimit(ValueError):
    """The user already has the maximum number of keys."""


@dataclass
class StoredKey:
    id: int
    username: str
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
        return d


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class KeyStore:
    """Keys per user; one key (by fingerprint) belongs to at most one user."""

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
        os.chmod(self.path, 0o600)

    # -- operations ---------------------------------------------------------------
    def _add(self, db, username: str, name: str, key: PublicKey) -> StoredKey:
        db.execute("BEGIN IMMEDIATE")
        try:
            owner = db.execute(
                "SELECT username FROM ssh_keys WHERE fingerprint = ?", (key.fingerprint,)
            ).fetchone()
            if owner is not None:
                if owner["username"] == username:
                    raise KeyConflict("You have already registered this key.")
                raise KeyConflict("This key is already registered by another user; generate a new key.")
            if db.execute(
                "SELECT 1 FROM ssh_keys WHERE username = ? AND name = ?", (username, name)
            ).fetchone():
                raise KeyConflict(f"You already have a key named '{name}'; pick another name.")
            (count,) = db.execute("SELECT COUNT(*) FROM ssh_keys WHERE username = ?", (username,)).fetchone()
            if count >= self.max_keys_per_user:
                raise KeyLimit(
                    f"You already have {count} keys (the limit); remove one before adding another."
                )
            cur = db.execute(
                "INSERT INTO ssh_keys (username, name, key_type, bits, fingerprint, openssh, added)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (username, name, key.key_type, key.bits, key.fingerprint, key.openssh, _now()),
            )
            row = db.execute("SELECT * FROM ssh_keys WHERE id = ?", (cur.lastrowid,)).fetchone()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return StoredKey(**dict(row))

    async def add(self, username: str, name: str, key: PublicKey) -> StoredKey:
        return await self._run(self._add, username, name, key)

    def _list(self, db, username: str) -> list[StoredKey]:
        rows = db.execute(
            "SELECT * FROM ssh_keys WHERE username = ? ORDER BY added, id", (username,)
        ).fetchall()
        return [StoredKey(**dict(r)) for r in rows]

    async def list(self, username: str) -> list[StoredKey]:
        return await self._run(self._list, username)

    def _remove(self, db, username: str, key_id: int) -> StoredKey | None:
        row = db.execute(
            "SELECT * FROM ssh_keys WHERE id = ? AND username = ?", (key_id, username)
        ).fetchone()
        if row is None:
            return None
        db.execute("DELETE FROM ssh_keys WHERE id = ? AND username = ?", (key_id, username))
        return StoredKey(**dict(row))

    async def remove(self, username: str, key_id: int) -> StoredKey | None:
        """Remove the user's key `key_id`; None if the user has no such key."""
        return await self._run(self._remove, username, key_id)

    def _find(self, db, username: str, fingerprint: str) -> StoredKey | None:
        row = db.execute(
            "SELECT * FROM ssh_keys WHERE username = ? AND fingerprint = ?", (username, fingerprint)
        ).fetchone()
        return StoredKey(**dict(row)) if row else None

    async def find(self, username: str, fingerprint: str) -> StoredKey | None:
        """The user's key with this fingerprint, or None."""
        return await self._run(self._find, username, fingerprint)

    def _touch(self, db, key_id: int) -> None:
        db.execute("UPDATE ssh_keys SET last_used = ? WHERE id = ?", (_now(), key_id))

    async def touch(self, key_id: int) -> None:
        """Record that a key was just used to log in."""
        await self._run(self._touch, key_id)
