"""The service's only state: renewals and open SSH connections of running sessions, in one small JSON file.

Entries are keyed by (user, server, started): a session that is stopped and
started again gets a new `started` and so begins with no renewals. The file
is replaced atomically (write a temporary file, fsync, rename) off the event
loop, and entries of sessions that no longer exist are pruned after each
complete cull pass, so it stays as small as the set of running sessions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path

from .policy import Record, format_time, parse_time

log = logging.getLogger("jupyterhub_sessions.service")

Key = tuple[str, str, str]
FORMAT_VERSION = 2  # 2: open SSH connections and when the last closed (1 had a lasting `ssh` flag)


def session_key(user: str, server: str, started: str | None) -> Key:
    return (user, server, started or "")


class SessionStore:
    """In-memory records of running sessions, persisted to `path` (None = memory only)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self.records: dict[Key, Record] = {}
        self._lock = asyncio.Lock()
        self._dirty = False

    # ---- reading -----------------------------------------------------------

    def load(self) -> None:
        """Read the file at start-up; a missing file is an empty state, a corrupt one is logged."""
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text())
            entries = data["sessions"] if isinstance(data, dict) else []
            records = {}
            for e in entries:
                key = session_key(str(e["user"]), str(e["server"]), str(e["started"]))
                # a version-1 `ssh: true` is dropped: its gateway's connections are gone, and
                # the idle timer from the last activity is never earlier than the absolute one
                records[key] = Record(
                    renewals=int(e.get("renewals", 0)),
                    max_age_expires_at=parse_time(e.get("max_age_expires_at")),
                    ssh_connections=frozenset(str(c) for c in e.get("ssh_connections") or ()),
                    ssh_closed_at=parse_time(e.get("ssh_closed_at")),
                )
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.error("Ignoring unreadable session state %s: %s", self.path, err)
            return
        self.records = records

    def get(self, key: Key) -> Record:
        return self.records.get(key, Record())

    # ---- changing ------------------------------------------------------------

    def put(self, key: Key, record: Record) -> None:
        if record == Record():
            if self.records.pop(key, None) is not None:
                self._dirty = True
            return
        if self.records.get(key) != record:
            self.records[key] = record
            self._dirty = True

    def update(self, key: Key, change) -> Record:
        """Apply `change(record) -> record` to one session's record; returns the new one."""
        record = change(self.get(key))
        self.put(key, record)
        return record

    def update_all(self, change) -> int:
        """Apply `change` to every record; returns how many changed."""
        changed = 0
        for key in list(self.records):
            before = self.records[key]
            if self.update(key, change) != before:
                changed += 1
        return changed

    def prune(self, alive: set[Key], candidates: set[Key] | None = None) -> int:
        """Forget sessions (among `candidates`, default all) not in `alive`; returns how many."""
        pool = self.records if candidates is None else candidates
        gone = [k for k in pool if k in self.records and k not in alive]
        for k in gone:
            del self.records[k]
        if gone:
            self._dirty = True
        return len(gone)

    # ---- writing ---------------------------------------------------------------

    def to_json(self) -> str:
        entries = [
            {
                "user": user,
                "server": server,
                "started": started,
                "renewals": r.renewals,
                "max_age_expires_at": format_time(r.max_age_expires_at),
                "ssh_connections": sorted(r.ssh_connections),
                "ssh_closed_at": format_time(r.ssh_closed_at),
            }
            for (user, server, started), r in sorted(self.records.items())
        ]
        return json.dumps({"version": FORMAT_VERSION, "sessions": entries}, indent=1)

    async def save(self) -> None:
        """Persist if anything changed; one writer at a time, off the event loop."""
        if self.path is None:
            self._dirty = False
            return
        async with self._lock:
            if not self._dirty:
                return
            text = self.to_json()
            self._dirty = False
            try:
                await asyncio.to_thread(_atomic_write, self.path, text)
            except OSError:
                self._dirty = True
                raise


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
