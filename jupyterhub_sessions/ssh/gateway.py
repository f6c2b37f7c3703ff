"""The SSH gateway: `ssh -p PORT user+session@host` lands in the session, as with sshd.

Authentication is by a key the user registered, or a JupyterHub API token of
that user whose own scopes allow access to the session. Nothing is decided
before authentication succeeds: key queries and failed attempts only note
candidates per login name, and the login that succeeded (its final name)
alone says who is in and which session is the target. Every channel checks
again, with the hub, that the target is that user's (the same identity, the
key still registered or the token still good) before anything runs.

Shells, commands and subsystems (sftp) run in the session through the server
extension's exec endpoint and SFTP bridge, on both backends, so the gateway
never reads drives or starts processes itself. `invite-CODE` logins register
the client's key for the user who made the invite (see `devices`).
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from asyncssh.constants import EXTENDED_DATA_STDERR
from jupyterhub.services.auth import check_scopes
from traitlets import Bool, Float, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from ..files import atomic_write
from .devices import invite_code
from .hubclient import HubClient, SessionTarget, SessionUnavailable
from .keys import fingerprint_of
from .store import KeyStore, StoredKey
from .tunnel import (
    TunnelError,
    WebsocketTunnel,
    open_bridge,
    open_exec_bridge,
    open_sftp_bridge,
    pump_process,
    run_exec,
)

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


def server_scope(action: str, user: str, server: str) -> str:
    return f"{action}:servers!server={user}/{server}"


@dataclass(frozen=True)
class Credential:
    """What proved a login: a registered key (`key`) or a token (`scopes`), for `identity`."""

    user: str
    server: str
    identity: str
    how: str
    key: StoredKey | None = None
    token: str | None = None
    scopes: frozenset = frozenset()
    invite: str | None = None  # the code of an invite login
    fingerprint: str = ""
    public_key: asyncssh.SSHKey | None = None

    @property
    def label(self) -> str:
        return f"{self.user}/{self.server}" if self.server else f"{self.user}/(default)"


class _Connection(asyncssh.SSHServer):
    """Per-connection state: candidates while authenticating, then the one credential that won."""

    def __init__(self, gateway: SSHGateway):
        self.gateway = gateway
        self.log = gateway.log
        self.peer = "?"
        self.conn = None
        self._candidates: dict[str, Credential] = {}
        self.auth: Credential | None = None
        self.invite_result: asyncio.Future | None = None
        self._ready: asyncio.Future | None = None
        self.connection_id = f"{gateway.boot_id}-{next(gateway.connection_counter)}"
        self._marked: asyncio.Task | None = None

    # -- connection --------------------------------------------------------------
    def connection_made(self, conn):
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("?",)
        self.peer = str(peer[0])

    def connection_lost(self, exc):
        if self.auth is None:
            return
        self.log.info("ssh: %s disconnected from %s (%s)", self.auth.user, self.auth.label, self.peer)
        if self._marked is not None:
            asyncio.ensure_future(self.gateway.connection_closed(self._marked, self.connection_id))

    # -- authentication: candidates only, per login name -----------------------------------
    def begin_auth(self, username: str) -> bool:
        if invite_code(username) is not None:
            valid = self.gateway.invites is not None and self.gateway.invites.peek(invite_code(username))
            self.conn.send_auth_banner(
                "jupyterhub-sessions: this logs in with your SSH key to register it for your hub account.\r\n"
                if valid
                else "jupyterhub-sessions: this invite code is unknown, expired or already used; "
                "make a new one on the hub's SSH page.\r\n"
            )
        return True  # always authenticate, even for bad names (reveals nothing)

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        fingerprint = fingerprint_of(key)
        code = invite_code(username)
        if code is not None:
            invite = self.gateway.invites.peek(code) if code and self.gateway.invites else None
            if invite is None:
                return False
            self._candidates[username] = Credential(
                invite.user.name,
                "",
                invite.user.created,
                "invite",
                invite=code,
                fingerprint=fingerprint,
                public_key=key,
            )
            return True
        login = parse_login(username)
        if login is None:
            return False
        try:
            identity = await self.gateway.hub.user_identity(login[0])
        except (SessionUnavailable, OSError) as e:
            self.log.warning("ssh: could not look up %s: %s", login[0], e)
            return False
        stored = await self.gateway.store.find(login[0], identity, fingerprint) if identity else None
        if stored is None:
            self.log.info(
                "ssh: refused key %s for %s from %s (not registered to that user)",
                fingerprint,
                username,
                self.peer,
            )
            return False
        how = f"key '{stored.name}' {stored.fingerprint}"
        self._candidates[username] = Credential(*login, identity, how, key=stored, fingerprint=fingerprint)
        return True

    def password_auth_supported(self) -> bool:
        return self.gateway.allow_token_password

    async def validate_password(self, username: str, password: str) -> bool:
        login = parse_login(username)
        if login is None or invite_code(username) is not None:
            return False
        user, server = login
        refusal = await self.gateway.check_token(user, server, password)
        if isinstance(refusal, str):
            self.log.info("ssh: refused token login for %s from %s: %s", username, self.peer, refusal)
            return False
        self._candidates[username] = refusal
        return True

    def auth_completed(self) -> None:
        # the name the client finally logged in with; its last validated credential is the one
        # that succeeded (a key's signature is checked right after it was validated)
        username = self.conn.get_extra_info("username")
        self.auth = self._candidates.get(username)
        self._candidates.clear()
        if self.auth is None:  # cannot happen: success always follows a validation of that name
            self.conn.disconnect(asyncssh.DISC_BY_APPLICATION, "authentication state lost")
            return
        self.log.info(
            "ssh: %s logged in to %s with %s from %s",
            self.auth.user,
            "register a device" if self.auth.invite else self.auth.label,
            self.auth.how,
            self.peer,
        )
        if self.auth.invite:
            self.invite_result = asyncio.ensure_future(self.gateway.register_invited(self.auth))
        elif self.auth.key is not None:
            asyncio.ensure_future(self.gateway.store.touch(self.auth.key.id))

    # -- sessions (shell, exec, subsystems) ------------------------------------------------
    def session_requested(self):
        return _SessionProcess(self.gateway._handle_process, None, 0, False)

    # -- port forwarding (ssh -L, ssh -D) ----------------------------------------------
    def connection_requested(self, dest_host, dest_port, orig_host, orig_port):
        if not self.gateway.port_forwarding or dest_host not in LOOPBACK_NAMES or self.auth.invite:
            return False
        return self._forward(int(dest_port))

    async def _forward(self, port: int):
        """Open a forwarded connection only to a port listening inside this session."""
        try:
            target = await self.channel_target()
        except SessionUnavailable as e:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, str(e)) from None
        if self.gateway.forward_through_session:
            # the session's bridge checks the port itself: one round trip, not two
            try:
                ws = await self.gateway.open_bridge(target, port)
            except TunnelError as e:
                self._refuse_forward(port, e.refused, str(e))
            self.log.info("ssh: forwarding to port %s of %s through the session", port, self.auth.label)
            return WebsocketTunnel(ws)
        if port not in await self.gateway.hub.session_ports(target):
            self._refuse_forward(port, True, f"port {port} is not listening in this session")
        self.log.info("ssh: forwarding to port %s of %s", port, self.auth.label)
        return await self.conn.forward_connection("127.0.0.1", port)

    def _refuse_forward(self, port: int, refused: bool, reason: str):
        self.log.info(
            "ssh: %s forwarding to port %s for %s: %s",
            "refused" if refused else "failed",
            port,
            self.auth.label,
            reason,
        )
        code = asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED if refused else asyncssh.OPEN_CONNECT_FAILED
        raise asyncssh.ChannelOpenError(code, reason)

    # -- the target, checked for every channel ---------------------------------------------
    async def channel_target(self) -> SessionTarget:
        """The authenticated user's session, started first if allowed; SessionUnavailable says why not.

        Checked again for every channel: the hub must still know the user with the same
        identity, and the key must still be registered (or the token still good).
        """
        auth = self.auth
        await self.gateway.recheck(auth)
        if self._ready is None or (self._ready.done() and self._ready.exception() is not None):
            self._ready = asyncio.ensure_future(self.gateway.ensure_running(auth))
        target = await asyncio.shield(self._ready)
        if (target.user, target.server, target.identity) != (auth.user, auth.server, auth.identity):
            raise SessionUnavailable("this session is not yours")  # never expected: the login names it
        if self._marked is None:
            self._marked = asyncio.ensure_future(self.gateway.connection_opened(target, self.connection_id))
        return target


class _SessionProcess(asyncssh.SSHServerProcess):
    """An SSH process that also takes the `sftp` subsystem as a plain byte stream, which the
    gateway carries to the session's sftp-server (asyncssh would otherwise serve sftp itself)."""

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
        help="""Accept a JupyterHub API token of the user as SSH password (as jupyterhub-ssh does),
        if its own scopes allow access to the session (and starting it, for auto-start).
        OAuth tokens that the hub issued to a browser login are refused.""",
    )
    port_forwarding = Bool(
        True,
        config=True,
        help="""Allow `ssh -L`/`-D` to ports listening inside the session.

        Only loopback destinations whose port the session's server extension lists as its own
        (`sessions-api/ports`) are opened.
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
        help="Name of the sessions hub service told when SSH connections to a session open and close.",
    )
    login_timeout = Float(
        60,
        config=True,
        help="Seconds a client may take to authenticate.",
    )

    def __init__(
        self, store: KeyStore, hub: HubClient, token: str, data_dir: str, invites=None, registrar=None, **kw
    ):
        super().__init__(**kw)
        self.store = store
        self.hub = hub
        self._token = token
        self.data_dir = Path(data_dir)
        self.invites = invites
        self.registrar = registrar
        self._server = None
        self.bound_port: int | None = None
        self.boot_id = secrets.token_hex(4)
        self.connection_counter = itertools.count(1)
        self._connections_forgotten: asyncio.Task | None = None

    @default("host_key_file")
    def _default_host_key(self):
        return str(self.data_dir / "ssh" / "ssh_host_ed25519_key")

    # -- lifecycle ---------------------------------------------------------------------
    def _load_host_key(self) -> asyncssh.SSHKey:
        path = Path(self.host_key_file)
        if path.exists():
            return asyncssh.read_private_key(str(path))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = asyncssh.generate_private_key("ssh-ed25519")
        atomic_write(path, key.export_private_key())
        self.log.info("ssh: generated host key %s (%s)", path, key.get_fingerprint())
        return key

    async def start(self) -> int:
        """Listen; returns the port actually bound."""
        host_key = await asyncio.to_thread(self._load_host_key)
        self.host_key_fingerprint = host_key.get_fingerprint()
        opts = dict(
            server_host_keys=[host_key],
            # _Connection.session_requested makes the processes: every shell, command and
            # subsystem goes to the session
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
        self._connections_forgotten = asyncio.ensure_future(self._forget_connections())
        return self.bound_port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- timeouts: the sessions service counts open connections ---------------------------
    async def _forget_connections(self) -> None:
        """A (re)started gateway has no connections: say so before marking new ones."""
        for delay in (0.5, 1, 2, 4, 8, 15, 30):
            if await self.hub.forget_ssh_connections(self.sessions_service):
                return
            await asyncio.sleep(delay)
        self.log.warning("ssh: the %s service did not answer; SSH marks may be stale", self.sessions_service)

    async def connection_opened(self, target: SessionTarget, connection_id: str) -> SessionTarget | None:
        if self._connections_forgotten is not None:
            await asyncio.shield(self._connections_forgotten)
        if await self.hub.ssh_connection(self.sessions_service, target, connection_id, True):
            return target
        return None

    async def connection_closed(self, marked: asyncio.Task, connection_id: str) -> None:
        target = await marked  # in order: never "closed" before "opened" arrived
        if target is not None:
            await self.hub.ssh_connection(self.sessions_service, target, connection_id, False)

    # -- who may do what ---------------------------------------------------------------------
    async def check_token(self, user: str, server: str, token: str) -> Credential | str:
        """A credential for `token` as password of user+server, or why it is refused."""
        info = await self.hub.token_info(token)
        if info is None or info.get("kind", "user") != "user" or info.get("name") != user:
            return "not a token of that user"
        if info.get("session_id"):
            return "an OAuth token issued to a browser login (use an API token from the hub's token page)"
        scopes = frozenset(info.get("scopes") or ())
        if not check_scopes(server_scope("access", user, server), scopes):
            return f"the token's scopes do not allow access to {user}/{server}"
        try:
            identity = await self.hub.user_identity(user)
        except (SessionUnavailable, OSError):
            return "the hub could not be asked about the user"
        if identity is None:
            return "no such user"
        return Credential(user, server, identity, "API token", token=token, scopes=scopes)

    async def recheck(self, auth: Credential) -> None:
        """The credential still holds for the same user (raises SessionUnavailable)."""
        gone = SessionUnavailable("your login is no longer valid; log in again")
        if auth.invite:
            raise SessionUnavailable("this login only registers a device")
        identity = await self.hub.user_identity(auth.user)
        if identity != auth.identity:
            raise gone
        if auth.key is not None and await self.store.find(auth.user, identity, auth.key.fingerprint) is None:
            raise gone
        if auth.token is not None and not isinstance(
            await self.check_token(auth.user, auth.server, auth.token), Credential
        ):
            raise gone

    async def ensure_running(self, auth: Credential) -> SessionTarget:
        """The ready session; starts it when allowed. SessionUnavailable says why not."""
        user, server = auth.user, auth.server
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
            if auth.token is not None and not check_scopes(server_scope("start", user, server), auth.scopes):
                raise SessionUnavailable(
                    f"session {label} is not running, and the token you logged in with may not start it; "
                    "start it from the hub, or use a registered key"
                )
            self.log.info("ssh: starting session %s for an SSH login", label)
            await self.hub.start(target)
        return await self.hub.wait_ready(user, server, self.start_timeout)

    async def register_invited(self, auth: Credential) -> tuple[int, str]:
        """Use up the invite and register the client's key; (exit status, what to print)."""
        invite = self.invites.take(auth.invite)
        if invite is None:
            return 1, "This invite code was used or expired meanwhile; nothing was registered."
        try:
            return await self.registrar(invite, auth.public_key)
        except Exception:
            self.log.exception("ssh: registering a device for %s failed", invite.user.name)
            return 1, "The device could not be registered (internal error); nothing was registered."

    # -- channels --------------------------------------------------------------------------
    async def _handle_process(self, process: asyncssh.SSHServerProcess) -> None:
        conn: _Connection = process.channel.get_connection().get_owner()
        try:
            await self._run(process, conn)
        except Exception:
            self.log.exception("ssh: error serving %s", conn.auth.label if conn.auth else "?")
            _fail(process, "internal error in the SSH gateway")

    async def open_bridge(self, target: SessionTarget, port: int):
        """A websocket to `port` inside the session, through its TCP bridge (raises TunnelError)."""
        return await open_bridge(self.hub.server_url(target), port, self._token)

    async def _run(self, process: asyncssh.SSHServerProcess, conn: _Connection) -> None:
        if conn.auth.invite:
            status, message = await asyncio.shield(conn.invite_result)
            nl = "\r\n" if process.get_terminal_type() else "\n"
            (process.stdout if status == 0 else process.stderr).write(
                (message.replace("\n", nl) + nl).encode()
            )
            return process.exit(status)
        if process.subsystem and process.subsystem != "sftp":
            return _fail(process, f"subsystem {process.subsystem[:40]!r} is not available here")
        try:
            target = await conn.channel_target()
            url = self.hub.server_url(target)
            what = "sftp" if process.subsystem else ("command" if process.command is not None else "shell")
            ws = await (
                open_sftp_bridge(url, self._token)
                if process.subsystem
                else open_exec_bridge(url, self._token)
            )
        except (SessionUnavailable, TunnelError) as e:
            self.log.info("ssh: refused %s for %s: %s", process.subsystem or "session", conn.auth.label, e)
            return _fail(process, str(e))
        pty = " with a pty" if process.get_terminal_type() else ""
        self.log.info("ssh: %s%s for %s (drive %s)", what, pty, conn.auth.label, target.drive or "-")
        if process.subsystem:
            await pump_process(process, ws)
            return process.exit(0)
        ended = await run_exec(process, ws)
        if "exit_signal" in ended:
            return process.exit_with_signal(str(ended["exit_signal"]), bool(ended.get("core")))
        if "exit" in ended:
            return process.exit(int(ended["exit"]))
        if not process.channel.is_closing():
            _fail(process, "the session went away", 255)


def _fail(process: asyncssh.SSHServerProcess, message: str, status: int = 1) -> None:
    nl = "\r\n" if process.get_terminal_type() else "\n"
    process.stderr.write(f"jupyterhub-sessions: {message}{nl}".encode())
    process.exit(status)
