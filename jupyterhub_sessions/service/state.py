"""The service's only state: renewals and open SSH connections of running sessions, and why
sessions ended, in one small JSON file.

Renewal entries are keyed by (user, server, started): a session that is
stopped and started again gets a new `started` and so begins with no
renewals; they are pruned after each complete cull pass, so they stay as
few as the running sessions. End records (endings.py) are keyed by
(user, server), the last end of each session, kept for `ended_retention`
and dropped when the session is deleted. The file is replaced atomically
(write a temporary file, fsync, rename) off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from ..files import atomic_write
from .endings import EndRecord
from .policy import Record, format_time, parse_time

log = logging.getLogger("jupyterhub_sessions.service")

Key = tuple[str, str, str]
# 2: open SSH connections and when the last closed (1 had a lasting `ssh` flag), and "ended"
FORMAT_VERSION = 2


def session_key(user: str, server: str, started: str | None) -> Key:
    return (user, server, started or "")


class SessionStore:
    """In-memory records of running sessions, persisted to `path` (None = memory only)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self.records: dict[Key, Record] = {}
        self.ended: dict[tuple[str, str], EndRecord] = {}
        # (user, server) -> {"started", "session_type", "drive"} of sessions the last
        # cull pass saw ready; in memory only, so a restart never invents an end
        self.last_ready: dict[tuple[str, str], dict] = {}
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
            ended = {}
            for e in data.get("ended", []) if isinstance(data, dict) else []:
                try:
                    r = EndRecord.from_json(e)
                except (ValueError, TypeError, AttributeError) as err:
                    log.warning("Ignoring an unreadable end record in %s: %s", self.path, err)
                    continue
                ended[(r.user, r.server)] = r
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.error("Ignoring unreadable session state %s: %s", self.path, err)
            return
        self.records = records
        self.ended = ended

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

    # ---- why sessions ended -----------------------------------------------------

    def record_end(self, record: EndRecord) -> None:
        self.ended[(record.user, record.server)] = record
        self._dirty = True

    def forget_end(self, user: str, server: str) -> None:
        if self.ended.pop((user, server), None) is not None:
            self._dirty = True

    def ended_of(self, user: str | None = None) -> list[EndRecord]:
        """End records, newest first (one user's, or everyone's)."""
        found = [r for (u, _), r in self.ended.items() if user is None or u == user]
        return sorted(found, key=lambda r: r.ended_at, reverse=True)

    def prune_ended(self, before) -> int:
        """Forget ends older than `before` (a datetime); returns how many."""
        old = [k for k, r in self.ended.items() if r.ended_at < before]
        for k in old:
            del self.ended[k]
        if old:
            self._dirty = True
        return len(old)

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
        ended = [r.to_json() for r in sorted(self.ended.values(), key=lambda r: (r.user, r.server))]
        for e in ended:
            e.pop("message")
        return json.dumps({"version": FORMAT_VERSION, "sessions": entries, "ended": ended}, indent=1)

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
    atomic_write(path, text)
