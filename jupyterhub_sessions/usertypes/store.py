"""Where user types are kept, and the per-process view of them the spawners and services share.

Two stores, one interface (`UserTypeStore`):

- `DirectoryStore` (embedded backend; also usable on Kubernetes on the hub's
  state volume): one JSON file per type, `<dir>/<owner key>/<id>.json`,
  0600 in 0700 directories, written atomically. The data directory is
  hidden from sandboxed sessions, so no session can edit a type.
- `ConfigMapStore` (`kube_store.py`, Kubernetes): one ConfigMap per type.

The sessions service is the only writer; the hub process reads. A stored
document that does not load (edited by hand, truncated, from an older
version) comes back as a record with `error` set: it is shown to its author
and served to nobody, and never breaks the types of anyone else.

`UserTypes` turns the records into `SessionType`s under the current
platform policy (a policy change applies to every type at the next
refresh; a type the new policy refuses is served to nobody and shows its
author why).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ..drives import user_slug
from ..files import atomic_write
from ..profiles import PlatformPolicy, SessionType
from .model import ID_RE, UserTypeError, UserTypeRecord, slug_of, to_session_type

MAX_DOCUMENT = 64 * 1024


class StoreError(Exception):
    """The store could not be read or written; the message says why (for people)."""


class Conflict(StoreError):
    """The type changed since the caller read it (its revision is not the one expected)."""


def owner_key(owner: str) -> str:
    """The owner's storage key (collision-resistant, see drives.user_slug)."""
    return user_slug(owner)


class UserTypeStore(ABC):
    """Keeps user types. Records with `error` set could not be read (their owner_key still says whose)."""

    @abstractmethod
    async def load_all(self) -> list[UserTypeRecord]: ...

    @abstractmethod
    async def create(self, record: UserTypeRecord) -> UserTypeRecord: ...

    @abstractmethod
    async def replace(self, record: UserTypeRecord, expected_revision: int) -> UserTypeRecord: ...

    @abstractmethod
    async def delete(self, record: UserTypeRecord) -> None: ...

    async def changed(self) -> bool:
        """Whether load_all() may answer differently than last time (cheap; True when unsure)."""
        return True


def parse_document(raw: bytes, type_id: str, key: str) -> UserTypeRecord:
    """A stored document as a record; a broken one as a record with `error` (id and owner key kept)."""
    broken = UserTypeRecord(id=type_id, owner="", spec={}, revision=0, owner_key=key)
    if len(raw) > MAX_DOCUMENT:
        broken.error = f"the stored type is larger than {MAX_DOCUMENT} bytes"
        return broken
    try:
        rec = UserTypeRecord.from_json(json.loads(raw))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        broken.error = f"the stored type does not load: {str(e)[:200]}"
        return broken
    if rec.id != type_id or owner_key(rec.owner) != key:
        broken.error = "the stored type names another id or owner than where it is kept"
        return broken
    return rec


class DirectoryStore(UserTypeStore):
    """One JSON file per type under `root/<owner key>/<id>.json`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._signature: tuple | None = None

    def _path(self, record: UserTypeRecord) -> Path:
        # a broken record has no readable owner name, only the key of the folder it is in
        return self.root / (record.owner_key or owner_key(record.owner)) / f"{record.id}.json"

    def _scan(self) -> list[tuple[Path, str, str]]:
        """(file, id, owner key) of every stored type."""
        found = []
        try:
            owners = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink())
        except FileNotFoundError:
            return []
        for udir in owners:
            for f in sorted(udir.glob("*.json")):
                if ID_RE.match(f.stem) and f.is_file() and not f.is_symlink():
                    found.append((f, f.stem, udir.name))
        return found

    def _sig(self) -> tuple:
        out = []
        for f, _, _ in self._scan():
            try:
                st = f.stat()
            except OSError:
                continue
            out.append((str(f), st.st_mtime_ns, st.st_size))
        return tuple(out)

    async def changed(self) -> bool:
        sig = await asyncio.to_thread(self._sig)
        return sig != self._signature

    def _load_all(self) -> list[UserTypeRecord]:
        records = []
        sig = []
        for f, type_id, key in self._scan():
            try:
                st = f.stat()
                with open(f, "rb") as fh:
                    raw = fh.read(MAX_DOCUMENT + 1)
            except OSError as e:
                records.append(
                    UserTypeRecord(
                        id=type_id,
                        owner="",
                        spec={},
                        revision=0,
                        owner_key=key,
                        error=f"unreadable: {e.strerror}",
                    )
                )
                continue
            sig.append((str(f), st.st_mtime_ns, st.st_size))
            records.append(parse_document(raw, type_id, key))
        self._signature = tuple(sig)
        return records

    async def load_all(self) -> list[UserTypeRecord]:
        return await asyncio.to_thread(self._load_all)

    def _write(self, record: UserTypeRecord) -> None:
        path = self._path(record)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        data = json.dumps(record.to_json(), sort_keys=True, indent=1).encode()
        atomic_write(path, data)

    def _current_revision(self, record: UserTypeRecord) -> int | None:
        path = self._path(record)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        rec = parse_document(raw, record.id, owner_key(record.owner))
        return rec.revision if rec.error is None else 0

    def _create(self, record: UserTypeRecord) -> UserTypeRecord:
        if self._path(record).exists():
            raise Conflict(f"a type with id {record.id} already exists")
        self._write(record)
        return record

    def _replace(self, record: UserTypeRecord, expected: int) -> UserTypeRecord:
        current = self._current_revision(record)
        if current is None:
            raise StoreError("the type was deleted")
        if current != expected:
            raise Conflict(f"the type changed meanwhile (revision {current}, you edited {expected})")
        self._write(record)
        return record

    def _delete(self, record: UserTypeRecord) -> None:
        self._path(record).unlink(missing_ok=True)

    async def create(self, record):
        return await asyncio.to_thread(self._create, record)

    async def replace(self, record, expected_revision):
        return await asyncio.to_thread(self._replace, record, expected_revision)

    async def delete(self, record):
        await asyncio.to_thread(self._delete, record)


@dataclass
class Entry:
    """One user type as served: its record, its SessionType (None if it does not load) and why not."""

    record: UserTypeRecord
    type: SessionType | None
    error: str | None

    @property
    def slug(self) -> str:
        return slug_of(self.record.id)

    def owned_by(self, username: str) -> bool:
        return self.record.owner_key == owner_key(username)


class UserTypes:
    """The user types of one store as SessionTypes, refreshed when the store changes.

    `await refresh(policy)` at the async entry points (form, spawn, dashboard,
    API); sync code then reads `entries`. A store that cannot be read keeps
    the last good set and records `error` (shown to admins).
    """

    def __init__(self, store: UserTypeStore, log: logging.Logger | None = None):
        self.store = store
        self.log = log or logging.getLogger("jupyterhub_sessions.usertypes")
        self.entries: dict[str, Entry] = {}
        self.error: str | None = None
        self._records: list[UserTypeRecord] | None = None
        self._policy_key: str | None = None
        self._converted: dict[tuple, SessionType | UserTypeError] = {}
        self._lock = asyncio.Lock()

    async def refresh(self, policy: PlatformPolicy, force: bool = False) -> UserTypes:
        """Re-read the store if it changed (`force`: whatever it says, e.g. for a type just created)."""
        async with self._lock:
            try:
                if self._records is None or force or await self.store.changed():
                    self._records = await self.store.load_all()
                    self.error = None  # only a read that worked clears it (not one skipped as unchanged)
            except StoreError as e:
                if self.error != str(e):
                    self.log.error("Personal session types not reloaded (serving the last good set): %s", e)
                self.error = str(e)
                if self._records is None:  # never read: none, until the store's next change
                    self._records = []
            policy_key = hashlib.sha256(policy.model_dump_json().encode()).hexdigest()
            if policy_key != self._policy_key:
                self._converted.clear()
                self._policy_key = policy_key
            self.entries = {r.slug: self._entry(r, policy) for r in self._records or []}
        return self

    def _entry(self, record: UserTypeRecord, policy: PlatformPolicy) -> Entry:
        if record.error:
            return Entry(record, None, record.error)
        key = (record.id, record.revision, json.dumps(record.spec, sort_keys=True), record.owner)
        result = self._converted.get(key)
        if result is None:
            try:
                result = to_session_type(record, policy)
            except UserTypeError as e:
                result = e
            self._converted[key] = result
        if isinstance(result, UserTypeError):
            return Entry(record, None, str(result))
        return Entry(record, result, None)

    def visible_to(self, username: str, groups) -> dict[str, SessionType]:
        """The loaded types this user may start: their own and those shared with their groups."""
        return {
            slug: e.type
            for slug, e in self.entries.items()
            if e.type and e.type.access.permits(username, groups)
        }

    def owned_by(self, username: str) -> list[Entry]:
        return [e for e in self.entries.values() if e.owned_by(username)]

    def get(self, slug: str) -> Entry | None:
        return self.entries.get(slug)


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def store_namespace(spawner=None) -> str:
    """The namespace of the types' ConfigMaps: the hub's, for the hub and its sessions service alike.

    $JUPYTERHUB_SESSIONS_USER_TYPES_NAMESPACE, else $POD_NAMESPACE (z2jh's hub pod sets it), else
    the spawner's namespace, unless sessions get per-user namespaces
    (KubeSpawner.enable_user_namespaces: the Role is not there), else the pod's own (its service
    account's namespace file), else "default".
    """
    for var in ("JUPYTERHUB_SESSIONS_USER_TYPES_NAMESPACE", "POD_NAMESPACE"):
        if os.environ.get(var):
            return os.environ[var]
    if spawner is not None and not getattr(spawner, "enable_user_namespaces", False):
        if getattr(spawner, "namespace", None):
            return spawner.namespace
    try:
        return Path(SERVICE_ACCOUNT_NAMESPACE).read_text().strip() or "default"
    except OSError:
        return "default"


_registries: dict[str, UserTypes] = {}
_registries_lock = threading.Lock()


def user_types_for(
    location: str,
    log: logging.Logger | None = None,
    namespace: str | None = None,
    configure_kube: bool = False,
) -> UserTypes | None:
    """The one `UserTypes` of a store location in this process (spawners, dashboard and service share it).

    `location`: a directory path, "configmap" (Kubernetes, in `namespace`), or "" (none).
    `configure_kube`: load the Kubernetes client configuration (a process without KubeSpawner).
    """
    if not location:
        return None
    key = f"{location}\0{namespace or ''}"
    with _registries_lock:
        reg = _registries.get(key)
        if reg is None:
            if location == "configmap":
                from .kube_store import ConfigMapStore

                store: UserTypeStore = ConfigMapStore(namespace or "default", configure=configure_kube)
            else:
                store = DirectoryStore(location)
            reg = _registries[key] = UserTypes(store, log)
        return reg
