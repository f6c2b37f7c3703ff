"""Drives of the embedded backend: one private directory per (user, drive name).

`<data_dir>/drives/<user_slug>/<drive>`; see `LocalDriveBackend`. Kept apart
from the spawner (like kube_drives) so that processes which only serve
drives, such as the SSH gateway's sftp, need nothing of JupyterHub.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

from ..drives import Drive, DriveBackend, DriveError, legacy_user_slug, user_slug, validate_drive_name
from ..files import atomic_write

OWNER_FILE = ".owner"


class LocalDriveBackend(DriveBackend):
    """Drives as directories; each user's drives live in their own folder.

    The folder is `<root>/<user_slug>` (a full hash of the exact user name)
    and holds an owner file naming that exact user; every lookup checks it,
    so storage whose key happens to match is never handed to anyone else.
    Folders and drives are private (0700), also when they already exist.
    Sessions never see the owner file: they get one drive directory.

    Migration: drives made before (folder `legacy_user_slug`, a 32-bit hash)
    are moved to the new folder the first time their user needs them, but
    only when exactly one of `known_users()` (the hub's users) has that old
    key. Otherwise the folder is left where it is, untouched and unserved,
    and an error names it for an administrator. Without `known_users` (the
    SSH gateway, which only serves) nothing is migrated.
    """

    def __init__(
        self,
        root: str | Path,
        known_users: Callable[[], Iterable[str]] | None = None,
        log: logging.Logger | None = None,
    ):
        self.root = Path(root)
        self.known_users = known_users
        self.log = log or logging.getLogger(__name__)

    def user_dir(self, username: str) -> Path:
        return self.root / user_slug(username)

    def path(self, username: str, name: str) -> Path:
        """Where the drive lives (not checked: use `owned_path` before using it)."""
        validate_drive_name(name)
        return self.user_dir(username) / name

    # ---- ownership ---------------------------------------------------------------

    @staticmethod
    def _owner_of(udir: Path) -> str | None:
        try:
            data = json.loads((udir / OWNER_FILE).read_text())
        except (OSError, ValueError):
            return None
        return data.get("username") if isinstance(data, dict) else None

    def _check_owner(self, username: str, udir: Path) -> None:
        owner = self._owner_of(udir)
        if owner != username:
            self.log.error(
                "Drive folder %s is not marked as user=%s's (owner file says %r); refusing to use it",
                udir,
                username,
                owner,
            )
            raise DriveError(
                "Your drives cannot be used: their storage belongs to something else. Ask an administrator."
            )
        _private(udir)

    def _user_dir_checked(self, username: str, create: bool) -> Path | None:
        """The user's folder after migration and the owner check; None if there is none."""
        udir = self.user_dir(username)
        if udir.is_symlink() or (udir.exists() and not udir.is_dir()):
            raise DriveError(
                "Your drives cannot be used: something else is in their place. Ask an administrator."
            )
        if not udir.exists():
            if not create:
                return None
            self._make_user_dir(username, udir)
        self._check_owner(username, udir)
        return udir

    def _make_user_dir(self, username: str, udir: Path) -> None:
        """Create the folder with its owner file in one step (rename), so no half-made folder is ever seen."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private(self.root)
        tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=self.root))
        try:
            _write_owner(tmp, username)
            os.rename(tmp, udir)
        except OSError:
            # lost a race: remove our own temp folder (just the owner file), never anything else
            (tmp / OWNER_FILE).unlink(missing_ok=True)
            tmp.rmdir()
            if not udir.is_dir():
                raise
        self.log.info("Created drive folder %s for user=%s", udir, username)

    def _legacy_dir(self, username: str) -> Path | None:
        """The user's pre-0.2 folder, if there is one and the new one does not exist yet."""
        udir = self.user_dir(username)
        old = self.root / legacy_user_slug(username)
        if udir.exists() or udir.is_symlink() or old == udir or old.is_symlink() or not old.is_dir():
            return None
        marked = self._owner_of(old)
        if marked is not None and marked != username:
            return None  # a new-style folder (someone else's), not a legacy one
        return old

    def _migrate(self, username: str, known: list[str]) -> None:
        """Move the user's pre-0.2 folder to its new place, if it is unambiguously theirs."""
        old = self._legacy_dir(username)
        if old is None:
            return
        udir = self.user_dir(username)
        if self._owner_of(old) is None:  # not marked by a migration that stopped half-way
            claimants = sorted({u for u in known if legacy_user_slug(u) == old.name})
            if claimants != [username]:
                self.log.error(
                    "Legacy drive folder %s matches users %s: not migrating it for user=%s; "
                    "an administrator must move it to %s/<user_slug>/ with a %s file",
                    old,
                    claimants,
                    username,
                    self.root,
                    OWNER_FILE,
                )
                return
            _write_owner(old, username)
        try:
            os.rename(old, udir)
        except OSError as e:
            if not udir.is_dir():
                raise DriveError(
                    f"Your drives could not be moved to their new place ({e.strerror})."
                ) from None
        self.log.info("Migrated drive folder %s to %s for user=%s", old, udir, username)

    async def _prepare(self, username: str) -> None:
        """Migrate a pre-0.2 folder first (the hub's user list is read here, on the event loop)."""
        if self.known_users is None or await asyncio.to_thread(self._legacy_dir, username) is None:
            return
        known = list(self.known_users())
        await asyncio.to_thread(self._migrate, username, known)

    # ---- drives ------------------------------------------------------------------

    def _drive(self, username: str, path: Path) -> Drive:
        _private(path)
        st = path.stat()
        created = datetime.fromtimestamp(st.st_ctime, timezone.utc).isoformat()
        return Drive(name=path.name, owner=username, created=created, ref=str(path))

    def _list(self, username: str) -> list[Drive]:
        base = self._user_dir_checked(username, create=False)
        if base is None:
            return []
        out = []
        for p in sorted(base.iterdir()):
            if p.is_dir() and not p.is_symlink():
                try:
                    validate_drive_name(p.name)
                except DriveError:
                    continue
                out.append(self._drive(username, p))
        return out

    def owned_path(self, username: str, name: str) -> Path | None:
        """The drive's directory after the ownership check, or None if the user has no such drive.

        Blocking; what mounting (a session's working directory) and serving
        (sftp) go through.
        """
        validate_drive_name(name)
        base = self._user_dir_checked(username, create=False)
        if base is None:
            return None
        p = base / name
        return p if p.is_dir() and not p.is_symlink() else None

    def _get(self, username: str, name: str) -> Drive | None:
        p = self.owned_path(username, name)
        return None if p is None else self._drive(username, p)

    def _create(self, username: str, name: str) -> Drive:
        validate_drive_name(name)
        p = self._user_dir_checked(username, create=True) / name
        if p.is_symlink() or (p.exists() and not p.is_dir()):
            raise DriveError(f"Drive '{name}' cannot be created: something else is in its place.")
        p.mkdir(mode=0o700, exist_ok=True)
        return self._drive(username, p)

    async def list_drives(self, username: str) -> list[Drive]:
        await self._prepare(username)
        return await asyncio.to_thread(self._list, username)

    async def get_drive(self, username: str, name: str) -> Drive | None:
        await self._prepare(username)
        return await asyncio.to_thread(self._get, username, name)

    async def create_drive(self, username: str, name: str) -> Drive:
        await self._prepare(username)
        return await asyncio.to_thread(self._create, username, name)

    MEASURE_LIMIT = 50_000  # files counted at most per drive (then the size is a lower bound)

    async def measure_drive(self, username: str, name: str) -> str:
        """Disk usage of the drive's directory ("1.2 GB"; "≥ 3 GB" when there are too many files)."""
        return await asyncio.to_thread(self._measure, self.path(username, name))

    def _measure(self, root: Path) -> str:
        total, count, stack = 0, 0, [str(root)]
        while stack and count < self.MEASURE_LIMIT:
            try:
                with os.scandir(stack.pop()) as entries:
                    for entry in entries:
                        count += 1
                        try:
                            if entry.is_dir(follow_symlinks=False):
                                stack.append(entry.path)
                            else:
                                total += entry.stat(follow_symlinks=False).st_blocks * 512
                        except OSError:
                            continue
            except OSError:
                continue
        return ("≥ " if stack else "") + human_size(total)


def human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _private(path: Path) -> None:
    """0700 for a directory the platform owns (drives are private to their session)."""
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o700)
    except OSError:
        pass


def _write_owner(udir: Path, username: str) -> None:
    atomic_write(udir / OWNER_FILE, json.dumps({"username": username}))
