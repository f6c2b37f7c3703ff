"""The embedded backend: sessions are local jupyter-server processes.

Same session model as the Kubernetes backend; drives are directories under
`<data_dir>/drives/<user slug>/<drive>`, mounted by making the drive the
session's working and home directory. Images are recorded but not used;
CPU and memory choices are passed to the session as CPU_LIMIT/MEM_LIMIT
(shown by the session), since local processes are not isolated: the spawn
form says so (`unenforced_choices`), and types whose app is not installed
here are shown disabled (`type_unavailable_reason`).

Where bubblewrap works, each session runs in a sandbox that sees its own
drive, its runtime and scratch directories and the read-only system, not
the data directory, other drives, the hub database or cookie secret
(`sandbox.py`). Elsewhere sessions are not isolated from each other, and the
hub says so when it starts.

Each session also gets, in separate methods:

- a log file of its output (`<data_dir>/session-logs/...`), whose new lines
  are also copied to the hub's log, and whose tail explains a failed start;
- launch progress events (process started, waiting for the server,
  extensions loaded) for the hub's progress page and the dashboard;
- a start that returns as soon as the server listens, so the hub (which
  looks with exponential backoff) finds it at its first look;
- a private scratch directory at $SCRATCH, emptied at start and removed at stop;
- the session's Python first on PATH, also in its terminals.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import time
from html import escape
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner
from tornado import web
from traitlets import Any, Enum, Float, Int, List, Unicode, default

from ..drives import DriveError, safe_slug, storage_digest, user_slug
from ..options import SessionOptions
from ..profiles import UNENFORCED_CHOICES, SessionType, memory_bytes
from .local_drives import LocalDriveBackend
from .mixin import SessionSpawnerMixin
from .sandbox import find_bwrap, inner_pid, sandbox_command

__all__ = ["LocalDriveBackend", "LocalSessionSpawner"]

# jupyter-server's log line for each server extension it loaded
_EXTENSION_LOADED = re.compile(r"\] (\S+) \| extension was successfully loaded")
_SERVER_RUNNING = re.compile(r"Jupyter Server \S+ is running at")
OUTPUT_TAIL_LINES = 30


class LaunchFailed(web.HTTPError):
    """A session did not come up; the message and its last output lines say why.

    An HTTPError, so the hub logs one line instead of a traceback; the progress
    page and the dashboard show `jupyterhub_message` / `jupyterhub_html_message`.
    """

    def __init__(self, message: str, output: list[str]):
        super().__init__(500, message)
        self.session_output = output
        text = "\n".join(output)
        self.jupyterhub_message = message + (f"\nLast lines of its output:\n{text}" if output else "")
        self.jupyterhub_html_message = escape(message) + (
            f'<pre class="jhs-launch-output">{escape(text)}</pre>' if output else ""
        )


def _proxy_entry_points() -> set[str]:
    """Names of the jupyter-server-proxy servers installed in this Python (the sessions' own:
    local sessions run this interpreter), e.g. {'desktop'} with jupyter-remote-desktop-proxy."""
    return {ep.name for ep in importlib.metadata.entry_points(group="jupyter_serverproxy_servers")}


class LocalSessionSpawner(SessionSpawnerMixin, SimpleLocalProcessSpawner):
    """Sessions as local `jupyterhub-singleuser` processes, no system users needed.

    Only for a single machine you trust: sessions run as the hub's own OS user.
    """

    log_size_limit = Int(
        20 * 1024 * 1024,
        config=True,
        help="""Bytes a session's log file may grow to before it is emptied (the session keeps writing).

        The file keeps the session's output for the failure message and for admins;
        it is emptied at each start. Example: 5 * 1024 * 1024.
        """,
    )

    ready_poll_interval = Float(
        0.02,
        config=True,
        help="""Seconds between checks whether a starting session listens yet.

        `start()` returns as soon as the session accepts connections (or fails
        with its last output lines), so the hub's own check, which backs off
        exponentially (0.2 s doubling up to 5 s), finds it at its first look:
        a check costs one loopback connect. Example: 0.1 on a very busy machine.
        """,
    )

    launch_events = Any(
        None, allow_none=True, help="Progress events of the current start (list of dicts), for progress()."
    )

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

    sandbox_readable_paths = List(
        Unicode(),
        config=True,
        help="""More directories sandboxed sessions may read (read-only), beyond the system's
        and this Python's.

        A sandboxed session sees only its drive, the system directories and the Python it
        runs; software installed elsewhere (a licensed toolkit, shared datasets) must be
        listed here to be visible, e.g. ['/opt/toolkit', '/srv/datasets'].
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

    # ---- where a session's own files live ------------------------------------------

    def session_dir_name(self) -> str:
        """A file-name-safe name of this session (JupyterHub 5 allows any server name)."""
        return "_default" if not self.name else safe_slug(self.name, max_length=48)

    def session_log_path(self) -> Path:
        return (
            Path(self.data_dir)
            / "session-logs"
            / user_slug(self.user.name)
            / f"{self.session_dir_name()}.log"
        )

    def scratch_dir(self) -> Path:
        return Path(self.data_dir) / "scratch" / user_slug(self.user.name) / self.session_dir_name()

    def scratch_path(self) -> str | None:
        return str(self.scratch_dir())

    # ---- what this machine can honour -------------------------------------------------

    def type_unavailable_reason(self, st: SessionType) -> str | None:
        """A web-app or desktop type whose program is not installed here cannot start."""
        if st.interface.kind == "lab":
            return None
        if not st.interface.command:  # served by an installed jupyter-server-proxy entry point
            if st.interface.name in _proxy_entry_points():
                return None
            return (
                f"its {st.interface.kind} is served by a jupyter-server-proxy server named "
                f"'{st.interface.name}' (e.g. jupyter-remote-desktop-proxy), which is not installed "
                "on this machine (this hub runs sessions as local processes, not in the type's image)."
            )
        program = st.interface.command[0]
        if shutil.which(program, path=self.session_path_env()):
            return None
        what = {"desktop": "desktop"}.get(st.interface.kind, "app")
        return (
            f"its {what} program '{program}' is not installed on this machine "
            "(this hub runs sessions as local processes, not in the type's image)."
        )

    def unenforced_choices(self) -> dict[str, str]:
        return dict(UNENFORCED_CHOICES)

    # ---- PATH: the session's Python comes first, also in terminals ----------------------

    def python_bin_dirs(self) -> list[str]:
        """Directories that put this Python first as `python` (and its scripts) on PATH."""
        bindir = str(Path(sys.executable).parent)
        dirs = [bindir]
        if not os.path.exists(os.path.join(bindir, "python")):
            # e.g. a system Python that only installs `python3`: a private `python` next to it
            shim = Path(self.data_dir) / "bin"
            try:
                shim.mkdir(mode=0o700, parents=True, exist_ok=True)
                link = shim / "python"
                if not link.is_symlink():
                    link.symlink_to(sys.executable)
                dirs.insert(0, str(shim))
            except OSError as e:
                self.log.warning("No `python` shim for %s: %s", self._who(), e)
        return dirs

    def session_path_env(self) -> str:
        rest = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p]
        first = self.python_bin_dirs()
        return os.pathsep.join(first + [p for p in rest if p not in first])

    def terminal_args(self) -> list[str]:
        """Terminals run an interactive, non-login shell: a login shell would read /etc/profile,
        which resets PATH and drops the session's Python (`python -m http.server` then fails)."""
        import json

        shell = self.user_env({}).get("SHELL") or "/bin/sh"
        return ["--ServerApp.terminado_settings=" + json.dumps({"shell_command": [shell]})]

    async def apply_session(self, opts: SessionOptions, st: SessionType) -> None:
        drive_dir = await asyncio.to_thread(self.drive_backend.owned_path, self.user.name, opts.drive)
        if drive_dir is None:  # ensure_drive just found or made it: gone meanwhile
            raise DriveError(f"Drive '{opts.drive}' is not available; please try again.")
        self.configure_process(opts, drive_dir)

    def configure_process(self, opts: SessionOptions, drive_dir: Path) -> None:
        """The traits of a session's process (no I/O: the type details' command line uses it too)."""
        self.home_dir = str(drive_dir)
        self.notebook_dir = str(drive_dir)
        self.cpu_limit = opts.cpu
        self.mem_limit = memory_bytes(opts.memory)
        self.environment = {**self.environment, **self.session_environment()}

    def command_line(self) -> list[str]:
        """The argv a start runs: the sandbox prefix, `cmd` and `get_args()` (see start_process)."""
        return [*self.sandbox_prefix(prepared=True), *self.cmd, *self.get_args()]

    async def launch_preview(self, opts: SessionOptions, st: SessionType) -> dict:
        """The command line this type would run: the same `configure_process`, `sandbox_prefix`,
        `cmd` and `get_args` a start uses, on this (preview) spawner; nothing is created."""
        import shlex

        from .preview import command_text, redact_env

        self.session = opts
        self.session_type_obj = st
        self.default_url = self.session_default_url(st)
        self.configure_process(opts, self.drive_backend.path(self.user.name, opts.drive))
        argv = await asyncio.to_thread(self.command_line)
        env = redact_env(self.get_env())
        shown = {
            k: v
            for k, v in sorted(env.items())
            if k.startswith(("JUPYTERHUB_SESSIONS", "SCRATCH", "CPU_", "MEM_"))
        }
        return {
            "kind": "command",
            "title": "Command line",
            "text": command_text(argv),
            "env": "\n".join(f"{k}={shlex.quote(v)}" for k, v in shown.items()),
            "volumes": [
                {"name": "drive", "what": "directory", "where": self.home_dir},
                {
                    "name": "scratch ($SCRATCH)",
                    "what": "directory, emptied at start, removed at stop",
                    "where": str(self.scratch_dir()),
                },
            ],
            "note": "The process a start runs for a session named "
            f"“{self.name or 'default'}” with the type's default choices (its port and tokens are chosen when it starts).",
        }

    def get_args(self):
        args = super().get_args()
        if os.geteuid() == 0:
            # the embedded backend runs sessions as the hub's user; as root
            # (containers, CI) jupyter-server refuses to start without this
            args.append("--ServerApp.allow_root=True")
        args.extend(self.terminal_args())
        return args

    def get_env(self):
        env = super().get_env()
        if self.session is not None:
            env["JUPYTERHUB_SESSIONS_DRIVE_PATH"] = self.home_dir
            env["SCRATCH"] = str(self.scratch_dir())
            # jupyter's runtime files (server info with its token, kernel keys) stay off the drive
            env["JUPYTER_RUNTIME_DIR"] = str(self.runtime_dir)
        env["PATH"] = self.session_path_env()
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

    def sandbox_writable(self, env: dict, prepared: bool = False) -> list[Path]:
        """Directories besides the drive a sandboxed session writes: runtime files, $SCRATCH.

        `prepared`: count $SCRATCH as made, as `start()` makes it before the process (the
        type details' command line shows a start without making anything).
        """
        paths = [self.runtime_dir]
        scratch = env.get("SCRATCH")
        if scratch and (prepared or Path(scratch).is_dir()):
            paths.append(Path(scratch))
        return paths

    def sandbox_prefix(self, prepared: bool = False) -> list[str]:
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
            writable=self.sandbox_writable(self.get_env(), prepared),
            readable=[Path(p) for p in self.sandbox_readable_paths],
        )

    # ---- start: output log, scratch, progress, failure with the output's tail -----------

    async def start(self):
        started = time.monotonic()
        self.launch_events = []
        self._launch_event(5, "Preparing the session (scratch directory, log file)")
        try:
            await asyncio.to_thread(self.prepare_scratch)
            await asyncio.to_thread(self._fresh_runtime_dir)
            log_file = self.open_session_log()
        except OSError as e:
            failed = LaunchFailed(f"Cannot prepare the session's scratch directory or log file: {e}", [])
            self.record_launch_failure(failed)
            self._launch_event(None, None)
            raise failed from None
        configured = self.popen_kwargs
        try:
            # no terminal: SIGINT stops the server (serverext/exitwatch.py), no "Shut down?" prompt
            self.popen_kwargs = {
                **configured,
                "stdin": subprocess.DEVNULL,
                "stdout": log_file,
                "stderr": log_file,
            }
            ip_port = await self.start_process()
        finally:
            self.popen_kwargs = configured
            log_file.close()  # the session has its own descriptor
        self._launch_event(20, f"Session process started (pid {self.pid}); waiting for the server")
        self._relay = asyncio.ensure_future(self.relay_output())
        try:
            deadline = started + max(5.0, self.start_timeout - 2.0)
            await self.wait_until_listening(ip_port[1], deadline)
        except BaseException as e:
            if isinstance(e, LaunchFailed):
                self.record_launch_failure(e)
            else:
                tail = self.session_output_tail()
                self.record_launch_failure(e, tail)
            raise
        finally:
            self._launch_event(None, None)
        return ip_port

    async def start_process(self):
        """Start the session's process, inside its sandbox when there is one (see spawner/sandbox.py)."""
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

    def open_session_log(self):
        path = self.session_log_path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self._log_offset = 0
        return os.fdopen(fd, "ab", buffering=0)

    def _launch_event(self, progress: int | None, message: str | None) -> None:
        """Add a progress event; (None, None) marks the end of the launch."""
        events = self.launch_events if self.launch_events is not None else []
        if message is None:
            events.append(None)
        else:
            event = {"message": message}
            if progress is not None:
                event["progress"] = progress
            events.append(event)
            self.log.debug("Launch of %s: %s", self._who(), message)
        waiter = getattr(self, "_launch_waiter", None)
        if waiter is not None:
            waiter.set()

    @property
    def latest_progress(self) -> str | None:
        """The newest launch message (the dashboard shows it while the session is launching)."""
        for event in reversed(self.launch_events or []):
            if event:
                return event["message"]
        return None

    async def progress(self):
        """Every event of the current launch so far, then new ones until it ends."""
        sent = 0
        while True:
            events = self.launch_events or []
            while sent < len(events):
                event = events[sent]
                sent += 1
                if event is None:
                    return
                yield event
            self._launch_waiter = asyncio.Event()
            try:
                await asyncio.wait_for(self._launch_waiter.wait(), timeout=1)
            except asyncio.TimeoutError:
                pass

    async def wait_until_listening(self, port: int, deadline: float) -> None:
        """Until the server accepts connections; LaunchFailed if the process exits or time runs out."""
        loaded: list[str] = []
        path = self.session_log_path()
        offset = 0
        while True:
            offset = self._scan_launch_output(path, offset, loaded)
            status = self.proc.poll() if self.proc is not None else None
            if status is not None:
                await asyncio.sleep(0.2)  # let the last lines reach the file
                raise LaunchFailed(
                    f"The session exited while starting (exit status {status}).", self.session_output_tail()
                )
            if await self._port_open(port):
                self._launch_event(
                    90, "The server is up" + (f" ({len(loaded)} extensions loaded)" if loaded else "")
                )
                return
            if time.monotonic() > deadline:
                raise LaunchFailed(
                    f"The session did not start listening within {self.start_timeout} seconds.",
                    self.session_output_tail(),
                )
            await asyncio.sleep(self.ready_poll_interval)

    def _scan_launch_output(self, path: Path, offset: int, loaded: list[str]) -> int:
        """Progress events from new output lines; returns the new offset."""
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(256 * 1024)
        except OSError:
            return offset
        end = data.rfind(b"\n")
        if end < 0:
            return offset
        for line in data[: end + 1].decode("utf-8", "replace").splitlines():
            m = _EXTENSION_LOADED.search(line)
            if m:
                loaded.append(m.group(1))
                self._launch_event(min(85, 30 + 5 * len(loaded)), f"Extension loaded: {m.group(1)}")
            elif _SERVER_RUNNING.search(line):
                self._launch_event(85, "Jupyter Server is running; checking it answers")
        return offset + end + 1

    @staticmethod
    async def _port_open(port: int) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout=1)
        except (OSError, asyncio.TimeoutError):
            return False
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return True

    def session_output_tail(self, lines: int = OUTPUT_TAIL_LINES) -> list[str]:
        """The last lines the session wrote (its log file), for failure messages."""
        try:
            with open(self.session_log_path(), "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 64 * 1024))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [line[:500] for line in text.splitlines()[-lines:]]

    async def relay_output(self) -> None:
        """Copy the session's new output lines to the hub's log (as before there was a log file).

        Runs while the session runs; empties the file when it passes `log_size_limit`
        (the session writes in append mode, so it carries on at the new end).
        """
        path = self.session_log_path()
        offset = 0
        proc = self.proc
        while True:
            try:
                size = path.stat().st_size
                if size != offset:
                    offset = await asyncio.to_thread(self._relay_new_lines, path, offset, size)
            except (OSError, ValueError):
                pass
            if proc is None or proc.poll() is not None:
                return
            await asyncio.sleep(0.5)

    def _relay_new_lines(self, path: Path, offset: int, size: int) -> int:
        if size < offset:  # emptied
            offset = 0
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(min(size - offset, 1024 * 1024))
        end = data.rfind(b"\n") + 1
        if end:
            sys.stderr.buffer.write(data[:end])
            sys.stderr.flush()
            offset += end
        if size > self.log_size_limit:
            os.truncate(path, 0)
            offset = 0
        return offset

    # ---- scratch: private per session, empty at start, gone at stop --------------------

    def prepare_scratch(self) -> None:
        self._remove_scratch()
        path = self.scratch_dir()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700)

    def _remove_scratch(self) -> None:
        """Remove this session's scratch directory (never anything outside the scratch root)."""
        root = (Path(self.data_dir) / "scratch").resolve()
        path = self.scratch_dir()
        if path.is_symlink():
            path.unlink()
            return
        if not path.exists():
            return
        if not path.resolve().is_relative_to(root):
            self.log.error("Not removing scratch %s of %s: outside %s", path, self._who(), root)
            return
        shutil.rmtree(path, ignore_errors=True)

    async def stop(self, now=False):
        await super().stop(now=now)
        await asyncio.to_thread(shutil.rmtree, self.runtime_dir, True)
        await asyncio.to_thread(self._remove_scratch)
        self.log.info("Removed the runtime and scratch directories of %s", self._who())
