"""The ssh hub service process: key registration web app + SSH gateway in one event loop.

Run by the hub as a managed service (`python -m jupyterhub_sessions.ssh`);
configure with command-line traitlets, e.g. `--SSHGateway.auto_start=False`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import asyncssh
from traitlets import Integer, List, Unicode, default

from ..hubservice import HubService
from .devices import Challenges, Invite, InviteBook, UserIdentity
from .gateway import SSHGateway
from .hubclient import HubClient, SessionUnavailable
from .keys import KeyValidationError, PublicKey, parse_public_key, validate_key_name, verify_possession
from .store import KeyConflict, KeyLimit, KeyStore, StoredKey
from .web import make_app


class SSHService(HubService):
    name = "jupyterhub-sessions-ssh"
    description = "SSH access to jupyterhub-sessions: device keys and the SSH gateway."
    classes = [SSHGateway]
    default_service_name = "ssh"
    default_bind_url = "http://127.0.0.1:10202"

    data_dir = Unicode(
        config=True,
        help="Directory for service state (keys database, host key). Default: $JUPYTERHUB_SESSIONS_DATA_DIR or ./data.",
    )

    @default("data_dir")
    def _default_data_dir(self):
        return os.path.abspath(os.environ.get("JUPYTERHUB_SESSIONS_DATA_DIR", "data"))

    public_url = Unicode(
        config=True,
        help="""The hub's public URL, through which the gateway reaches sessions (e.g. http://127.0.0.1:8000/).

        Default: $JUPYTERHUB_SESSIONS_PUBLIC_URL, else the origin of $JUPYTERHUB_PUBLIC_URL.
        """,
    )

    @default("public_url")
    def _default_public_url(self):
        if os.environ.get("JUPYTERHUB_SESSIONS_PUBLIC_URL"):
            return os.environ["JUPYTERHUB_SESSIONS_PUBLIC_URL"]
        svc = os.environ.get("JUPYTERHUB_PUBLIC_URL", "")
        if svc:
            p = urlsplit(svc)
            return f"{p.scheme}://{p.netloc}{os.environ.get('JUPYTERHUB_BASE_URL', '/')}"
        return "http://127.0.0.1:8000/"

    public_host = Unicode(
        "",
        config=True,
        help="Host name shown in ssh commands and config snippets. Empty: the host the page was opened on.",
    )
    public_port = Integer(
        0,
        config=True,
        help="""Port shown in ssh commands and config snippets, when users reach the gateway
        through a port mapping (a Kubernetes LoadBalancer on 22 in front of 2222). 0: the
        port the gateway listens on.""",
    )

    max_keys_per_user = Integer(
        20,
        config=True,
        help="How many SSH keys one user may register.",
    )

    invite_ttl = Integer(
        300,
        config=True,
        help="""Seconds an invite code (`ssh -p PORT invite-CODE@host` registers the device's key)
        stays valid. Short, because whoever runs the command first registers their key for
        the user who made the invite; e.g. 600 for users who switch devices slowly.""",
    )

    template_paths = List(
        Unicode(),
        config=True,
        help="""Directories searched first for the pages' templates, like the hub's
        `JupyterHub.template_paths` (give the same ones, so a customized `page.html` applies here
        too), e.g. ["/etc/jupyterhub/templates"]. Then this package's templates, then the hub's own.""",
    )

    @default("log_level")
    def _default_log_level(self):
        return logging.INFO

    def initialize(self, argv=None):
        super().initialize(argv)
        self.store = KeyStore(Path(self.data_dir) / "ssh" / "keys.sqlite", self.max_keys_per_user)
        self._token = self.api_token
        self.hub = HubClient(self.hub_api_url, self._token, self.public_url)
        self.invites = InviteBook(ttl=self.invite_ttl)
        self.challenges = Challenges(os.urandom(32))
        self.gateway = SSHGateway(
            self.store,
            self.hub,
            self._token,
            self.data_dir,
            invites=self.invites,
            registrar=self.register_invited_device,
            parent=self,
        )
        self.cookie_secret = os.urandom(32)
        self.host_key_fingerprint = ""
        self.name_in_hub = self.service_name

    @property
    def ssh_port(self) -> int:
        """The port users connect to."""
        return self.public_port or self.gateway.bound_port or self.gateway.port

    # -- key actions (shared by pages and API) ------------------------------------
    async def identity(self, user: str) -> UserIdentity:
        """The hub user as it is now (SessionUnavailable if the hub does not know them)."""
        created = await self.hub.user_identity(user)
        if created is None:
            raise SessionUnavailable(f"the hub has no user {user!r}")
        return UserIdentity(user, created)

    async def add_key(self, user: UserIdentity, name, text, challenge, signature) -> StoredKey:
        """Register a pasted key; the signature of the user's challenge proves possession."""
        key = parse_public_key(text)
        name = validate_key_name(name, key)
        verify_possession(key, signature, self.challenges.check(user, challenge))
        stored = await self.store.add(user.name, user.created, name, key)
        self.log.info(
            "ssh: %s registered key '%s' %s (signed challenge)", user.name, stored.name, stored.fingerprint
        )
        return stored

    async def remove_key(self, user: UserIdentity, key_id: int) -> StoredKey | None:
        removed = await self.store.remove(user.name, user.created, key_id)
        if removed is not None:
            self.log.info("ssh: %s removed key '%s' %s", user.name, removed.name, removed.fingerprint)
        return removed

    def create_invite(self, user: UserIdentity, key_name, ssh_command: str) -> tuple[str, Invite]:
        """A single-use code; KeyValidationError for a bad key name."""
        if key_name is not None and not (isinstance(key_name, str) and not key_name.strip()):
            key_name = validate_key_name(key_name)
        else:
            key_name = None
        code, invite = self.invites.create(user, key_name, ssh_command)
        self.log.info("ssh: %s made a device invite (valid %ss)", user.name, self.invite_ttl)
        return code, invite

    async def register_invited_device(self, invite: Invite, key: asyncssh.SSHKey) -> tuple[int, str]:
        """After an `invite-CODE` login: register the key it authenticated with; (status, message)."""
        user = invite.user
        try:
            now = await self.identity(user.name)
        except (SessionUnavailable, OSError):
            now = None
        if now != user:
            return 1, "The user who made this invite no longer exists; nothing was registered."
        public = parse_public_key(key.export_public_key("openssh").decode())
        try:
            name = invite.key_name or await self._free_key_name(user, public)
            stored = await self.store.add(user.name, user.created, name, public)
        except KeyConflict as e:
            return 1, f"Nothing was registered: {e}"
        except (KeyLimit, KeyValidationError) as e:
            return 1, f"Nothing was registered: {e}"
        self.log.info("ssh: %s registered key '%s' %s (invite)", user.name, stored.name, stored.fingerprint)
        connect = f"Connect with: {invite.ssh_command}\n" if invite.ssh_command else ""
        return 0, (
            f"Registered this device's {stored.key_type} key {stored.fingerprint}\n"
            f"as '{stored.name}' for hub user {user.name}.\n{connect}"
            "The hub's SSH page shows the command for each of your sessions."
        )

    async def _free_key_name(self, user: UserIdentity, key: PublicKey) -> str:
        taken = await self.store.names(user.name, user.created)
        base = (
            validate_key_name(None, key) if key.comment else f"device {datetime.now(timezone.utc):%Y-%m-%d}"
        )
        for n in range(1, self.max_keys_per_user + 2):
            name = base if n == 1 else f"{base} ({n})"
            if name not in taken:
                return name
        return base

    # -- run ---------------------------------------------------------------------------
    async def run(self) -> None:
        await self.gateway.start()
        self.host_key_fingerprint = self.gateway.host_key_fingerprint
        prefix, base = self.service_prefix, self.hub_base_url
        server = self.listen(make_app(self, prefix, base + "hub/", base))
        self.log.info("ssh: service pages on %s%s", urlsplit(self.bind_url).netloc, prefix)
        await self.stop_on_signals().wait()
        server.stop()
        await self.gateway.stop()

    def start(self):
        asyncio.run(self.run())


main = SSHService.launch_instance
