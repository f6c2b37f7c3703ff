"""The ssh hub service process: key registration web app + SSH gateway in one event loop.

Run by the hub as a managed service (`python -m jupyterhub_sessions.ssh`);
configure with command-line traitlets, e.g. `--SSHGateway.auto_start=False`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from urllib.parse import urlsplit

from tornado.httpserver import HTTPServer
from traitlets import Integer, Unicode, default
from traitlets.config import Application

from .gateway import SSHGateway
from .hubclient import HubClient
from .keys import parse_public_key, validate_key_name
from .store import KeyStore, StoredKey
from .web import make_app


class SSHService(Application):
    name = "jupyterhub-sessions-ssh"
    description = "SSH access to jupyterhub-sessions: device keys and the SSH gateway."
    classes = [SSHGateway]

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

    bind_url = Unicode(
        config=True,
        help="""Where the key pages listen, e.g. http://0.0.0.0:8282 in a hub pod whose
        service URL names a Kubernetes Service. Default: $JUPYTERHUB_SERVICE_URL.""",
    )

    @default("bind_url")
    def _default_bind_url(self):
        return os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10202")

    max_keys_per_user = Integer(
        20,
        config=True,
        help="How many SSH keys one user may register.",
    )

    @default("log_level")
    def _default_log_level(self):
        return logging.INFO

    def initialize(self, argv=None):
        super().initialize(argv)
        # module loggers (hub client, terminals) log through the app's handlers
        pkg = logging.getLogger("jupyterhub_sessions")
        pkg.setLevel(self.log_level)
        for h in self.log.handlers:
            pkg.addHandler(h)
        pkg.propagate = False
        self.store = KeyStore(Path(self.data_dir) / "ssh" / "keys.sqlite", self.max_keys_per_user)
        self._token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        self.hub = HubClient(
            os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api"),
            self._token,
            self.public_url,
        )
        self.gateway = SSHGateway(self.store, self.hub, self._token, self.data_dir, parent=self)
        self.cookie_secret = os.urandom(32)
        self.host_key_fingerprint = ""

    @property
    def ssh_port(self) -> int:
        """The port users connect to."""
        return self.public_port or self.gateway.bound_port or self.gateway.port

    # -- key actions (shared by pages and API) ------------------------------------
    async def add_key(self, user: str, name, text) -> StoredKey:
        key = parse_public_key(text)
        name = validate_key_name(name, key)
        stored = await self.store.add(user, name, key)
        self.log.info("ssh: %s registered key '%s' %s", user, stored.name, stored.fingerprint)
        return stored

    async def remove_key(self, user: str, key_id: int) -> StoredKey | None:
        removed = await self.store.remove(user, key_id)
        if removed is not None:
            self.log.info("ssh: %s removed key '%s' %s", user, removed.name, removed.fingerprint)
        return removed

    # -- run ---------------------------------------------------------------------------
    async def run(self) -> None:
        await self.gateway.start()
        self.host_key_fingerprint = self.gateway.host_key_fingerprint
        service_url = urlsplit(self.bind_url)
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/ssh/")
        hub_prefix = os.environ.get("JUPYTERHUB_BASE_URL", "/") + "hub/"
        server = HTTPServer(make_app(self, prefix, hub_prefix), xheaders=True)
        server.listen(service_url.port or 80, service_url.hostname or "127.0.0.1")
        self.log.info("ssh: service pages on %s%s", service_url.netloc, prefix)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.stop()
        await self.gateway.stop()

    def start(self):
        asyncio.run(self.run())


main = SSHService.launch_instance
