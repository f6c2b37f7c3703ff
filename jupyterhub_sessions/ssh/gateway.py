"""The SSH gateway: `ssh -p PORT user+session@host` lands in a shell in the session.

Authentication is by a key the user registered (or, like jupyterhub-ssh, a
JupyterHub API token of that user as password). Shells and commands run in a
Jupyter terminal of the session, reached through the hub's public URL with
the service token; SFTP serves the session's drive (embedded backend only).
"""

from __future__ import annotations

import asyncio
import codecs
import errno
import os
from pathlib import Path

import asyncssh
from asyncssh.constants import EXTENDED_DATA_STDERR
from traitlets import Bool, Float, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from .. import drives
from ..spawner.local_drives import LocalDriveBackend
from .execwrap import CommandTooLong, ExecWrapper
from .hubclient import HubClient, SessionTarget, SessionUnavailable
from .keys import fingerprint_of
from .sftp import DriveSFTPServer, RefusingSFTPServer
from .store import KeyStore
from .terminal import TerminalClient, TerminalError
from .tunnel import TunnelError, WebsocketTunnel, open_bridge, open_sftp_bridge, pump_process

MAX_NAME = 255
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def parse_login(login: str) -> tuple[str, str] | None:
    """`user+server` → (user, server); `user` → (user, ""). None if malformed.

    The last '+' separates the server, so a user name containing '+' logs in
    to the default server as `name+` (empty server name).
    """
    if not login or len(login) > 2 * MAX_NAME or not login.isprintable():
        return None
    user, sep, server = login.rpartition("+")
    if not sep:
        user, server = login, ""
    if not user or "/" in user or "/" in server or user.strip() != user or server.strip() != server:
        return None
    return user, server


class _Connection(asyncssh.SSHServer):
    """Per-connection state: who logged in, for which session, with what."""

    def __init__(self, gateway: SSHGateway):
        self.gateway = gateway
        self.log = gateway.log
        self.login: tuple[str, str] | None = None
        self.key_id: int | None = None
        self.how = ""
        self.peer = "?"
        self.conn = None
        self.target: SessionTarget | None = None
        self._ready: asyncio.Future | None = None
        self._notified = False

    # -- connection --------------------------------------------------------------
    def connection_made(self, conn):
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("?",)
        self.peer = str(peer[0])

    def connection_lost(self, exc):
        if self.login:
            self.log.info("ssh: %s disconnected from %s (%s)", self.login[0], self._label(), self.peer)

    def _label(self) -> str:
        user, server = self.login or ("?", "")
        return f"{user}/{server}" if server else f"{user}/(default)"

    # -- authentication ------------------------------------------------------------
    def begin_auth(self, username: str) -> bool:
        self.login = parse_login(username)
        return True  # always authenticate, even for bad names (reveals nothing)

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self.login is None:
            return False
        stored = await self.gateway.store.find(self.login[0], fingerprint_of(key))
        if stored is None:
            self.log.info(
                "ssh: refused key %s for %s from %s (not registered to that user)",
                fingerprint_of(key),
                self._label(),
                self.peer,
            )
            return False
        self.key_id = stored.id
        self.how = f"key '{stored.name}' {stored.fingerprint}"
        await self._look_up_session()
        return True

    def password_auth_supported(self) -> bool:
        return self.gateway.allow_token_password

    async def validate_password(self, username: str, password: str) -> bool:
        if self.login is None:
            return False
        owner = await self.gateway.hub.token_owner(password)
        if owner != self.login[0]:
            self.log.info("ssh: refused token login for %s from %s", self._label(), self.peer)
            return False
        self.how = "API token"
        await self._look_up_session()
        return True

    async def auth_completed(self) -> None:
        self.log.info(
            "ssh: %s logged in to %s with %s from %s", self.login[0], self._label(), self.how, self.peer
        )
        if self.key_id is not None:
            await self.gateway.store.touch(self.key_id)

    async def _look_up_session(self) -> None:
        # before auth succeeds: channels (sftp's factory is synchronous) may open right after
        if self.target is not None:
            return
        try:
            self.target = await self.gateway.hub.get_session(*self.login)
        except (SessionUnavailable, OSError) as e:
            self.log.warning("ssh: could not look up %s: %s", self._label(), e)

    # -- sessions (shell, exec, subsystems) ------------------------------------------------
    def session_requested(self):
        """Only called with `sftp_through_session`: a process that may also take `sftp`."""
        return _ProcessWithSFTPBridge(self.gateway._handle_process, None, 0, False)

    # -- port forwarding (ssh -L, ssh -D) ----------------------------------------------
    def connection_requested(self, dest_host, dest_port, orig_host, orig_port):
        if not self.gateway.port_forwarding or dest_host not in LOOPBACK_NAMES:
            return False
        return self._forward(int(dest_port))

    async def _forward(self, port: int):
        """Open a forwarded connection only to a port listening inside this session."""
        try:
            target = await self.ready_session()
        except SessionUnavailable as e:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(e)) from None
        if self.gateway.forward_through_session:
            # the session's bridge checks the port itself: one round trip, not two
            try:
                ws = await self.gateway.open_bridge(target, port)
            except TunnelError as e:
                self._refuse_forward(port, e.refused, str(e))
            self.log.info("ssh: forwarding to port %s of %s through the session", port, self._label())
            return WebsocketTunnel(ws)
        if port not in await self.gateway.hub.session_ports(target):
            self._refuse_forward(port, True, f"port {port} is not listening in this session")
        self.log.info("ssh: forwarding to port %s of %s", port, self._label())
        return await self.conn.forward_connection("127.0.0.1", port)

    def _refuse_forward(self, port: int, refused: bool, reason: str):
        self.log.info(
            "ssh: %s forwarding to port %s for %s: %s",
            "refused" if refused else "failed",
            port,
            self._label(),
            reason,
        )
        code = asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED if refused else asyncssh.OPEN_CONNECT_FAILED
        raise asyncssh.ChannelOpenError(code, reason)

    # -- session -----------------------------------------------------------------------
    async def ready_session(self) -> SessionTarget:
        """The session, started first if allowed; shared by all channels of this connection."""
        if self._ready is None:
            self._ready = asyncio.ensure_future(self.gateway.ensure_running(*self.login))
        target = await asyncio.shield(self._ready)
        if not self._notified:
            self._notified = True
            await self.gateway.hub.notify_ssh(self.gateway.sessions_service, target)
        return target


class _ProcessWithSFTPBridge(asyncssh.SSHServerProcess):
    """An SSH process that takes the `sftp` subsystem as a plain byte stream, which the
    gateway bridges to the session's sftp-server (asyncssh would serve sftp itself)."""

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "sftp"

    def session_started(self) -> None:
        if self._chan.get_subsystem() != "sftp":
            return super().session_started()
        stdin = asyncssh.SSHReader(self, self._chan)
        stdout = asyncssh.SSHWriter(self, self._chan)
        stderr = asyncssh.SSHWriter(self, self._chan, EXTENDED_DATA_STDERR)
        # kept on the process so the task is not garbage-collected while it runs
        self._sftp_task = asyncio.ensure_future(self._start_process(stdin, stdout, stderr))


class SSHGateway(LoggingConfigurable):
    """asyncssh server in front of the users' sessions."""

    ip = Unicode(
        "127.0.0.1",
        config=True,
        help="IP the SSH gateway listens on (0.0.0.0 for all interfaces).",
    )
    port = Integer(
        config=True,
        help="""TCP port of the SSH gateway.

        Defaults to $JUPYTERHUB_SESSIONS_SSH_PORT, else 2222. If the port is taken and
        `port_fallback` is on, a free port is used instead (shown on the service page).
        """,
    )

    @default("port")
    def _default_port(self):
        return int(os.environ.get("JUPYTERHUB_SESSIONS_SSH_PORT", "2222"))

    port_fallback = Bool(
        True,
        config=True,
        help="Listen on a free port (and show it) when `port` is already in use.",
    )
    host_key_file = Unicode(
        config=True,
        help="Private host key (ed25519), generated on first start. Default: <data_dir>/ssh/ssh_host_ed25519_key.",
    )
    auto_start = Bool(
        True,
        config=True,
        help="Start a stopped session when its owner connects over SSH (else refuse with a message).",
    )
    start_timeout = Float(
        300,
        config=True,
        help="Seconds to wait for a session to become ready after starting it.",
    )
    allow_token_password = Bool(
        True,
        config=True,
        help="Accept a JupyterHub API token of the user as SSH password (as jupyterhub-ssh does).",
    )
    sftp_drives_root = Unicode(
        config=True,
        help="""Directory holding the embedded backend's drives (<root>/<user slug>/<drive>), served by SFTP.

        Empty disables SFTP (e.g. on Kubernetes, where drives live in PVCs).
        Default: <data_dir>/drives.
        """,
    )
    port_forwarding = Bool(
        True,
        config=True,
        help="""Allow `ssh -L`/`-D` to ports listening inside the session.

        Only loopback destinations whose port the session's server extension lists as its own
        (`sessions-api/ports`) are opened.
        """,
    )
    sftp_through_session = Bool(
        False,
        config=True,
        help="""Serve `sftp` by OpenSSH's sftp-server inside the session, through its SFTP bridge
        (a websocket of the server extension, via the hub's proxy), instead of from the drive
        directory here (`sftp_drives_root`). On where drives are not on the gateway's machine
        (Kubernetes PVCs); the session's image needs sftp-server (openssh-sftp-server).
        """,
    )
    forward_through_session = Bool(
        False,
        config=True,
        help="""Carry forwarded connections through the session's TCP bridge (a websocket of the
        server extension, via the hub's proxy) instead of connecting to 127.0.0.1 here.

        On where sessions do not run on the gateway's machine (Kubernetes pods).
        """,
    )
    sessions_service = Unicode(
        "sessions",
        config=True,
        help="Name of the sessions hub service told when a session is SSH-connected.",
    )
    login_timeout = Float(
        60,
        config=True,
        help="Seconds a client may take to authenticate.",
    )

    def __init__(self, store: KeyStore, hub: HubClient, token: str, data_dir: str, **kw):
        super().__init__(**kw)
        self.store = store
        self.hub = hub
        self._token = token
        self.data_dir = Path(data_dir)
        self._server = None
        self.bound_port: int | None = None

    @default("host_key_file")
    def _default_host_key(self):
        return str(self.data_dir / "ssh" / "ssh_host_ed25519_key")

    @default("sftp_drives_root")
    def _default_drives_root(self):
        return str(self.data_dir / "drives")

    # -- lifecycle ---------------------------------------------------------------------
    def _load_host_key(self) -> asyncssh.SSHKey:
        path = Path(self.host_key_file)
        if path.exists():
            return asyncssh.read_private_key(str(path))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = asyncssh.generate_private_key("ssh-ed25519")
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.export_private_key())
        os.replace(tmp, path)
        self.log.info("ssh: generated host key %s (%s)", path, key.get_fingerprint())
        return key

    async def start(self) -> int:
        """Listen; returns the port actually bound."""
        host_key = await asyncio.to_thread(self._load_host_key)
        self.host_key_fingerprint = host_key.get_fingerprint()
        opts = dict(
            server_host_keys=[host_key],
            # with sftp through the session, _Connection.session_requested makes the processes
            # (asyncssh only lets a process take the sftp subsystem when it serves sftp itself)
            process_factory=None if self.sftp_through_session else self._handle_process,
            sftp_factory=self._sftp_factory
            if self.sftp_drives_root and not self.sftp_through_session
            else None,
            allow_scp=False,
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=self.login_timeout,
            keepalive_interval=30,
        )
        try:
            self._server = await asyncssh.create_server(lambda: _Connection(self), self.ip, self.port, **opts)
        except OSError as e:
            if e.errno != errno.EADDRINUSE or not self.port_fallback:
                raise
            self.log.warning("ssh: port %s is in use; listening on a free port instead", self.port)
            self._server = await asyncssh.create_server(lambda: _Connection(self), self.ip, 0, **opts)
        self.bound_port = self._server.sockets[0].getsockname()[1]
        self.log.info("ssh: gateway listening on %s:%s", self.ip, self.bound_port)

        return self.bound_port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- sessions --------------------------------------------------------------------
    async def ensure_running(self, user: str, server: str) -> SessionTarget:
        """The ready session; starts it when allowed. SessionUnavailable says why not."""
        target = await self.hub.get_session(user, server)
        label = f"{user}/{server}" if server else f"{user} (default session)"
        if target is None:
            raise SessionUnavailable(f"no user {user!r} on this hub")
        if target.ready and not target.pending:
            return target
        if not target.exists and server:
            raise SessionUnavailable(f"{user} has no session named {server!r}; create it from the hub first")
        if not target.pending:
            if not self.auto_start:
                raise SessionUnavailable(
                    f"session {label} is not running; start it from the hub, then connect again"
                )
            self.log.info("ssh: starting session %s for an SSH login", label)
            await self.hub.start(target)
        return await self.hub.wait_ready(user, server, self.start_timeout)

    # -- channels --------------------------------------------------------------------------
    def _sftp_factory(self, chan) -> asyncssh.SFTPServer:
        conn: _Connection = chan.get_connection().get_owner()
        target = conn.target
        if target is None or not target.exists or not target.drive:
            return RefusingSFTPServer(chan, "this session has no drive yet; start it once from the hub")
        try:
            # the drive of exactly this user (owner checked), as the embedded backend keeps it
            root = LocalDriveBackend(self.sftp_drives_root, log=self.log).owned_path(
                target.user, target.drive
            )
        except drives.DriveError:
            return RefusingSFTPServer(chan, "this session's drive is not available")
        if root is None:
            return RefusingSFTPServer(chan, "this session's drive does not exist")
        self.log.info("ssh: sftp for %s on drive %s", conn._label(), target.drive)
        return DriveSFTPServer(chan, str(root))

    async def _handle_process(self, process: asyncssh.SSHServerProcess) -> None:
        conn: _Connection = process.channel.get_connection().get_owner()
        try:
            await self._run(process, conn)
        except Exception:
            self.log.exception("ssh: error serving %s", conn._label())
            _fail(process, "internal error in the SSH gateway")

    async def _sftp_through_session(self, process: asyncssh.SSHServerProcess, conn: _Connection) -> None:
        try:
            target = await conn.ready_session()
            ws = await open_sftp_bridge(self.hub.server_url(target), self._token)
        except (SessionUnavailable, TunnelError) as e:
            self.log.info("ssh: sftp refused for %s: %s", conn._label(), e)
            return _fail(process, str(e))
        self.log.info("ssh: sftp for %s through the session", conn._label())
        await pump_process(process, ws)
        process.exit(0)

    async def open_bridge(self, target: SessionTarget, port: int):
        """A websocket to `port` inside the session, through its TCP bridge (raises TunnelError)."""
        return await open_bridge(self.hub.server_url(target), port, self._token)

    async def _run(self, process: asyncssh.SSHServerProcess, conn: _Connection) -> None:
        if process.subsystem == "sftp" and self.sftp_through_session:
            return await self._sftp_through_session(process, conn)
        if process.subsystem:
            return _fail(process, f"subsystem {process.subsystem[:40]!r} is not available here")
        try:
            target = await conn.ready_session()
        except SessionUnavailable as e:
            self.log.info("ssh: refused %s: %s", conn._label(), e)
            return _fail(process, str(e))
        command = process.command
        pty = process.get_terminal_type() is not None
        try:
            wrapper = _wrapper_for(command, pty)
        except CommandTooLong as e:
            return _fail(process, str(e))
        term = TerminalClient(self.hub.server_url(target), self._token)
        try:
            await term.open()
        except TerminalError as e:
            return _fail(process, str(e))
        what = "shell" if wrapper is None else ("command" if command is not None else "stdin shell")
        self.log.info("ssh: %s for %s (terminal %s)", what, conn._label(), term.name)
        try:
            if pty:
                cols, rows, _, _ = process.get_terminal_size()
                await term.set_size(rows, cols)
            if wrapper is not None:
                await term.write(wrapper.line())
            status = await _bridge(process, term, wrapper)
        finally:
            await term.close()
        process.exit(status)


def _wrapper_for(command: str | None, pty: bool) -> ExecWrapper | None:
    """None for an interactive shell; else the exec wrapper (no command, no PTY: a shell reading stdin)."""
    if command is None and pty:
        return None
    return ExecWrapper(command if command is not None else '"${SHELL:-/bin/sh}"', pty=pty)


def _fail(process: asyncssh.SSHServerProcess, message: str, status: int = 1) -> None:
    nl = "\r\n" if process.get_terminal_type() else "\n"
    process.stderr.write(f"jupyterhub-sessions: {message}{nl}".encode())
    process.exit(status)


async def _bridge(
    process: asyncssh.SSHServerProcess, term: TerminalClient, wrapper: ExecWrapper | None
) -> int:
    """Pump data both ways until the shell or command ends; returns the exit status."""
    started = asyncio.Event()
    if wrapper is None:
        started.set()

    async def output() -> int:
        while True:
            text = await term.read()
            if text is None:
                if wrapper is None:
                    return 0
                rest = wrapper.finish()
                if rest:
                    process.stdout.write(rest.encode())
                process.stderr.write(b"jupyterhub-sessions: the session's terminal closed\n")
                return 255
            if wrapper is not None:
                text = wrapper.feed(text)
                if wrapper.started:
                    started.set()
            if text:
                process.stdout.write(text.encode("utf-8"))
            if wrapper is not None and wrapper.exit_status is not None:
                return wrapper.exit_status

    async def input_() -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        raw = wrapper is None or wrapper.pty
        while True:
            try:
                data = await process.stdin.read(65536)
            except asyncssh.TerminalSizeChanged as e:
                await term.set_size(e.height, e.width)
                continue
            except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            await started.wait()
            if not data:
                # like Ctrl-D: ends the stdin of a command, or a shell waiting at its prompt
                await term.write(ExecWrapper.EOF)
                return
            if raw:
                await term.write(decoder.decode(data))
            else:
                await term.write(ExecWrapper.encode_stdin(data))

    out_task = asyncio.ensure_future(output())
    in_task = asyncio.ensure_future(input_())
    closed_task = asyncio.ensure_future(process.channel.wait_closed())
    try:
        pending = {out_task, in_task, closed_task}
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if out_task in done:
                return out_task.result()
            if closed_task in done:
                return 255  # client went away; the terminal is removed by the caller
            if in_task in done:
                in_task.result()  # stdin ended: keep serving output until the end
    finally:
        for t in (out_task, in_task, closed_task):
            t.cancel()
        try:
            await process.stdout.drain()
        except (OSError, asyncssh.Error):
            pass
