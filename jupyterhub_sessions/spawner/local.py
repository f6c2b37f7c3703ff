"""The embedded backend: sessions are local jupyter-server processes.

Same session model as the Kubernetes backend; drives are directories under
`<data_dir>/drives/<user slug>/<drive>`, mounted by making the drive the
session's working and home directory. Images are recorded but not used;
CPU and memory choices are passed to the session as CPU_LIMIT/MEM_LIMIT
(shown by the session), since local processes are not isolated.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import List, Unicode, default

from ..drives import Drive, DriveBackend, DriveError, user_slug, validate_drive_name
from ..options import SessionOptions
from ..profiles import SessionType, memory_bytes
from .mixin import SessionSpawnerMixin
from .ready import ReadyWhenListening


class LocalDriveBackend(DriveBackend):
    """Drives as directories; each user's drives live in their own folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def user_dir(self, username: str) -> Path:
        return self.root / user_slug(username)

    def path(self, username: str, name: str) -> Path:
        validate_drive_name(name)
        return self.user_dir(username) / name

    def _drive(self, username: str, path: Path) -> Drive:
        st = path.stat()
        created = datetime.fromtimestamp(st.st_ctime, timezone.utc).isoformat()
        return Drive(name=path.name, owner=username, created=created, ref=str(path))

    def _list(self, username: str) -> list[Drive]:
        base = self.user_dir(username)
        if not base.is_dir():
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

    def _get(self, username: str, name: str) -> Drive | None:
        p = self.path(username, name)
        if p.is_dir() and not p.is_symlink():
            return self._drive(username, p)
        return None

    def _create(self, username: str, name: str) -> Drive:
        p = self.path(username, name)
        if p.is_symlink() or (p.exists() and not p.is_dir()):
            raise DriveError(f"Drive '{name}' cannot be created: something else is in its place.")
        p.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self._drive(username, p)

    async def list_drives(self, username: str) -> list[Drive]:
        return await asyncio.to_thread(self._list, username)

    async def get_drive(self, username: str, name: str) -> Drive | None:
        return await asyncio.to_thread(self._get, username, name)

    async def create_drive(self, username: str, name: str) -> Drive:
        return await asyncio.to_thread(self._create, username, name)


class LocalSessionSpawner(ReadyWhenListening, SessionSpawnerMixin, SimpleLocalProcessSpawner):
    """Sessions as local `jupyterhub-singleuser` processes, no system users needed.

    Only for a single machine you trust: sessions run as the hub's own OS user.
    """

    data_dir = Unicode(
        config=True,
        help="""Directory holding all platform state of the embedded backend (drives under drives/).

        Defaults to $JUPYTERHUB_SESSIONS_DATA_DIR, else ./data.
        """,
    )

    @default("data_dir")
    def _default_data_dir(self):
        return os.path.abspath(os.environ.get("JUPYTERHUB_SESSIONS_DATA_DIR", "data"))

    @default("cmd")
    def _default_cmd(self):
        # the hub's own interpreter: sessions get the same installed packages
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    env_keep = List(
        config=True,
        help="Environment variables passed from the hub to sessions (PATH so apps are found).",
    )

    @default("env_keep")
    def _default_env_keep(self):
        return ["PATH", "PYTHONPATH", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "VIRTUAL_ENV", "TZ"]

    @property
    def drive_backend(self) -> LocalDriveBackend:
        return LocalDriveBackend(Path(self.data_dir) / "drives")

    async def apply_session(self, opts: SessionOptions, st: SessionType) -> None:
        drive_dir = self.drive_backend.path(self.user.name, opts.drive)
        self.home_dir = str(drive_dir)
        self.notebook_dir = str(drive_dir)
        self.cpu_limit = opts.cpu
        self.mem_limit = memory_bytes(opts.memory)
        self.environment = {**self.environment, **self.session_environment()}

    def get_args(self):
        args = super().get_args()
        if os.geteuid() == 0:
            # the embedded backend runs sessions as the hub's user; as root
            # (containers, CI) jupyter-server refuses to start without this
            args.append("--ServerApp.allow_root=True")
        return args

    def get_env(self):
        env = super().get_env()
        if self.session is not None:
            env["JUPYTERHUB_SESSIONS_DRIVE_PATH"] = self.home_dir
        return env
