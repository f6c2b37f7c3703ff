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
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import List, Unicode, default

from ..drives import DriveError
from ..options import SessionOptions
from ..profiles import SessionType, memory_bytes
from .local_drives import LocalDriveBackend
from .mixin import SessionSpawnerMixin

__all__ = ["LocalDriveBackend", "LocalSessionSpawner"]


class LocalSessionSpawner(SessionSpawnerMixin, SimpleLocalProcessSpawner):
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
        return LocalDriveBackend(
            Path(self.data_dir) / "drives", known_users=self._hub_user_names, log=self.log
        )

    def _hub_user_names(self) -> list[str]:
        """Every user name the hub knows (to tell whose a pre-0.2 drive folder is)."""
        from jupyterhub import orm

        db = getattr(self.user, "db", None)
        return [] if db is None else [name for (name,) in db.query(orm.User.name)]

    async def apply_session(self, opts: SessionOptions, st: SessionType) -> None:
        drive_dir = await asyncio.to_thread(self.drive_backend.owned_path, self.user.name, opts.drive)
        if drive_dir is None:  # ensure_drive just found or made it: gone meanwhile
            raise DriveError(f"Drive '{opts.drive}' is not available; please try again.")
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
