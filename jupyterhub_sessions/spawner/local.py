"""The embedded backend: sessions are local jupyter-server processes.

Same session model as the Kubernetes backend; drives are directories under
`<data_dir>/drives/<user slug>/<drive>`, mounted by making the drive the
session's working and home directory. Images are recorded but not used;
CPU and memory choices are passed to the session as CPU_LIMIT/MEM_LIMIT
(shown by the session), not enforced.

Where bubblewrap works, each session runs in a sandbox that sees its own
drive, its runtime and scratch directories and the read-only system, not
the data directory, other drives, the hub database or cookie secret
(`sandbox.py`). Elsewhere sessions are not isolated from each other, and the
hub says so when it starts.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Enum, List, Unicode, default

from ..drives import DriveError, storage_digest, user_slug
from ..options import SessionOptions
from ..profiles import SessionType, memory_bytes
from .local_drives import LocalDriveBackend
from .mixin import SessionSpawnerMixin
from .ready import ReadyWhenListening
from .sandbox import find_bwrap, inner_pid, sandbox_command

__all__ = ["LocalDriveBackend", "LocalSessionSpawner"]


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

    sandbox = Enum(
        ["auto", "bwrap", "off"],
        "auto",
        config=True,
        help="""Whether each session runs in a bubblewrap sandbox (see spawner/sandbox.py).

        "auto": where `bwrap` works, else unsandboxed with a warning at
        start-up; "bwrap": refuse to start sessions without it (a shared
        machine); "off": never (sessions can read every drive and the hub's
        database: one trusted person only). Env: JUPYTERHUB_SESSIONS_SANDBOX.
        """,
    )

    @default("sandbox")
    def _default_sandbox(self):
        value = os.environ.get("JUPYTERHUB_SESSIONS_SANDBOX", "auto")
        return value if value in ("auto", "bwrap", "off") else "auto"

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
            # jupyter's runtime files (server info with its token, kernel keys) stay off the drive
            env["JUPYTER_RUNTIME_DIR"] = str(self.runtime_dir)
        return env

    # ---- isolation -----------------------------------------------------------------

    @property
    def runtime_dir(self) -> Path:
        """Private per-session directory for jupyter's runtime files, outside the drive."""
        key = storage_digest("runtime", self.user.name, self.name or "")
        return Path(self.data_dir) / "runtime" / f"{user_slug(self.user.name)[:20]}-{key[:32]}"

    def _fresh_runtime_dir(self) -> None:
        path = self.runtime_dir
        shutil.rmtree(path, ignore_errors=True)  # stale runtime files only; never a drive
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path.parent, 0o700)

    def sandbox_writable(self, env: dict) -> list[Path]:
        """Directories besides the drive a sandboxed session writes: runtime files, $SCRATCH."""
        paths = [self.runtime_dir]
        scratch = env.get("SCRATCH")
        if scratch and Path(scratch).is_dir():
            paths.append(Path(scratch))
        return paths

    def sandbox_prefix(self) -> list[str]:
        """`bwrap ... --` for this session, or [] when sessions run unsandboxed."""
        if self.sandbox == "off":
            return []
        bwrap = find_bwrap()
        if bwrap is None:
            if self.sandbox == "bwrap":
                raise RuntimeError(
                    "Sessions must run in a sandbox (sandbox='bwrap'), but bwrap does not work here"
                )
            return []
        return sandbox_command(
            bwrap,
            drive=Path(self.home_dir),
            hidden=[Path(self.data_dir)],
            writable=self.sandbox_writable(self.get_env()),
        )

    async def start(self):
        """Start the session, inside its sandbox when there is one (see spawner/sandbox.py)."""
        await asyncio.to_thread(self._fresh_runtime_dir)
        prefix = self.sandbox_prefix()
        if not prefix:
            self.log.warning("Session %s runs WITHOUT a sandbox: it can read every drive", self._who())
            return await super().start()
        configured = self.cmd
        self.cmd = [*prefix, *configured]  # LocalProcessSpawner.start reads cmd before its first await
        try:
            ip_port = await super().start()
        finally:
            self.cmd = configured
        self.log.info("Session %s runs in a bwrap sandbox (drive %s)", self._who(), self.home_dir)
        await self._track_sandboxed_server()
        return ip_port

    async def _track_sandboxed_server(self, timeout: float = 10) -> None:
        """Point `pid` at the server inside the sandbox, so stop()'s signals reach it.

        bwrap itself does not pass signals on; the hub's poll still watches
        the bwrap process (it exits with the server).
        """
        outer = self.pid
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and self.proc is not None and self.proc.poll() is None:
            pid = await asyncio.to_thread(inner_pid, outer)
            if pid is not None:
                self.pid = pid
                return
            await asyncio.sleep(0.05)

    async def stop(self, now=False):
        await super().stop(now=now)
        await asyncio.to_thread(shutil.rmtree, self.runtime_dir, True)
