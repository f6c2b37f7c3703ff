"""Named drives: each user owns named persistent drives; a session mounts one.

This module holds what both backends share: which drive names are valid, how a
(user, drive) pair maps to a collision-resistant storage key, and the backend
interface. Backends live with their spawners (PVCs on Kubernetes, directories
on the embedded backend). No code path here deletes a drive.

Storage keys carry the full SHA-256 of the exact names (base32, 52
characters): kubespawner's `safe_slug`, used before, keeps 32 bits of hash,
and a user name that lands on another user's directory can be found by brute
force in minutes. A short readable prefix is only for humans. The key alone
is still not trusted: backends check that the storage they found belongs to
the exact user and drive name (directory owner marker, PVC annotations)
before mounting, serving or claiming it. The `legacy_*` names are the old
scheme, kept only to find and migrate drives made before.
"""

from __future__ import annotations

import abc
import base64
import hashlib
import importlib.util
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path


def _kubespawner_slugs():
    """kubespawner's slug rules, without importing all of kubespawner.

    `import kubespawner.slugs` runs the package __init__, which loads the
    whole Kubernetes client (seconds, in every process that names a drive).
    slugs.py itself needs only the standard library and escapism, so load it
    on its own; the names it produces are exactly KubeSpawner's.
    """
    loaded = sys.modules.get("kubespawner.slugs")
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("kubespawner")
    path = Path(package.submodule_search_locations[0]) / "slugs.py"
    spec = importlib.util.spec_from_file_location("jupyterhub_sessions._kubespawner_slugs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_slugs = _kubespawner_slugs()
multi_slug, safe_slug = _slugs.multi_slug, _slugs.safe_slug

DRIVE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
DRIVE_NAME_RULE = "1-40 characters: letters, digits, '-' and '_', starting with a letter or digit"
DEFAULT_DRIVE = "home"

# labels and annotations put on Kubernetes drive objects
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_DRIVE_OWNER = "sessions.jupyterhub.org/owner"
LABEL_DRIVE = "sessions.jupyterhub.org/drive"
ANNOTATION_USER = "sessions.jupyterhub.org/username"
ANNOTATION_DRIVE = "sessions.jupyterhub.org/drive-name"
COMPONENT_DRIVE = "session-drive"


class DriveError(ValueError):
    """A drive request is invalid (bad name, missing drive, ...): a 400 for the user."""


class DriveInUse(DriveError):
    """The drive is mounted by another running session of the same user."""

    def __init__(self, drive: str, server_name: str):
        self.drive = drive
        self.server_name = server_name
        label = f"'{server_name}'" if server_name else "your default session"
        super().__init__(
            f"Drive '{drive}' is in use by {label}. Stop that session first, or pick another drive."
        )


def validate_drive_name(name: object) -> str:
    """Return the drive name if valid, else raise DriveError with the rule."""
    if not isinstance(name, str) or not DRIVE_NAME_RE.match(name):
        shown = name if isinstance(name, str) and len(name) <= 60 else "(given name)"
        raise DriveError(f"Invalid drive name {shown!r}: {DRIVE_NAME_RULE}.")
    return name


def _readable(name: str, max_length: int) -> str:
    """A short lowercase [a-z0-9-] hint of `name` for humans; starts with a letter, ends alphanumeric."""
    hint = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not hint or not "a" <= hint[0] <= "z":
        hint = "x-" + hint
    return hint[:max_length].strip("-") or "x"


def storage_digest(kind: str, *names: str) -> str:
    """Full SHA-256 over the exact names (length-prefixed, so no two tuples meet), base32: 52 [a-z2-7]."""
    h = hashlib.sha256(kind.encode())
    for name in names:
        raw = name.encode("utf-8", "surrogatepass")
        h.update(len(raw).to_bytes(8, "big") + raw)
    return base64.b32encode(h.digest()).decode().rstrip("=").lower()


def user_slug(username: str) -> str:
    """The user's storage key: a readable hint plus the full hash of the exact name.

    At most 63 characters, a valid DNS label and label value, safe as a
    directory name; collision-resistant (256-bit hash).
    """
    return f"{_readable(username, 10)}-{storage_digest('user', username)}"


def drive_slug(username: str, drive: str) -> str:
    """The (user, drive) storage key, hashed over both exact names: at most 57 characters."""
    return f"{_readable(drive, 4)}-{storage_digest('drive', username, drive)}"


def pvc_name(username: str, drive: str) -> str:
    """Name of a new drive's PVC (at most 63 characters)."""
    return f"drive-{drive_slug(username, drive)}"


def legacy_user_slug(username: str) -> str:
    """The pre-0.2 user key (kubespawner safe_slug, 32-bit hash): only to find old drives."""
    return safe_slug(username, max_length=48)


def legacy_drive_slug(username: str, drive: str) -> str:
    """The pre-0.2 (user, drive) label value: only to recognise old drives and pods."""
    return multi_slug([username, drive], max_length=54)


def legacy_pvc_name(username: str, drive: str) -> str:
    return f"drive-{legacy_drive_slug(username, drive)}"


def drive_labels(username: str, drive: str) -> dict[str, str]:
    return {
        LABEL_COMPONENT: COMPONENT_DRIVE,
        LABEL_DRIVE_OWNER: user_slug(username),
        LABEL_DRIVE: drive_slug(username, drive),
    }


def drive_annotations(username: str, drive: str) -> dict[str, str]:
    return {ANNOTATION_USER: username, ANNOTATION_DRIVE: drive}


@dataclass
class Drive:
    """A user's named drive as the spawn form and APIs show it."""

    name: str
    owner: str
    size: str = ""
    created: str = ""
    ref: str = ""  # PVC name or directory
    in_use_by: str | None = field(default=None)

    def to_dict(self) -> dict:
        return asdict(self)


class DriveBackend(abc.ABC):
    """Where drives live. Implementations never delete a drive."""

    @abc.abstractmethod
    async def list_drives(self, username: str) -> list[Drive]:
        """All drives the user owns, sorted by name."""

    @abc.abstractmethod
    async def get_drive(self, username: str, name: str) -> Drive | None:
        """The named drive, or None if the user has no such drive."""

    @abc.abstractmethod
    async def create_drive(self, username: str, name: str) -> Drive:
        """Create the drive (idempotent: an existing drive is returned unchanged)."""

    async def ensure_drive(self, username: str, name: str, create: bool) -> Drive:
        """The drive, created first when `create` is true; DriveError if missing."""
        validate_drive_name(name)
        drive = await self.get_drive(username, name)
        if drive is not None:
            return drive
        if not create:
            raise DriveError(f"You have no drive named '{name}'. Create it from the spawn form first.")
        return await self.create_drive(username, name)
