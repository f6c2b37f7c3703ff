"""The `sessions` hub service: a traitlets Application serving the REST API and culling periodically.

Run by the hub as a managed service (`python -m jupyterhub_sessions.service`),
which hands it its token, URLs and prefix in `JUPYTERHUB_*` environment
variables; every setting is also a configurable trait (command-line flags
such as `--cull-every=30`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jupyterhub.services.auth import HubOAuth
from tornado import web
from traitlets import Bool, Int, Set, TraitError, Unicode, default, validate

from ..hubservice import HubService
from ..paths import PACKAGE_PROFILES
from ..profiles import PlatformPolicy, ProfileError, SessionType, session_types_watcher
from ..usertypes import user_types_for
from ..usertypes.store import store_namespace
from .culler import CullReport, cull_pass
from .handlers import routes
from .hubclient import HubClient
from .sessions import SessionPolicy
from .state import SessionStore
from .usertypes import TypesService


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SessionsService(HubService):
    """Culls idle and expired sessions and serves the sessions REST API."""

    name = "jupyterhub-sessions-service"
    description = "JupyterHub service: cull, renew and list interactive sessions."

    default_service_name = "sessions"
    default_bind_url = "http://127.0.0.1:10101"

    oauth_client_id = Unicode(config=True, help="OAuth client id for browser logins to this service.")

    @default("oauth_client_id")
    def _default_oauth_client_id(self):
        return os.environ.get("JUPYTERHUB_CLIENT_ID") or f"service-{self.service_name}"

    profiles_dir = Unicode(
        config=True,
        help="Directory of session-type YAML files (lifetime.max_age, renewal_period, max_renewals).",
    )

    @default("profiles_dir")
    def _default_profiles_dir(self):
        return os.environ.get("JUPYTERHUB_SESSIONS_PROFILES") or str(PACKAGE_PROFILES)

    user_types_store = Unicode(
        config=True,
        help="""Where personal session types are kept: a directory, "configmap" (Kubernetes: one
        ConfigMap per type in `user_types_namespace`), or "" (personal types off).

        The hub's spawner reads the same store (`SessionSpawnerMixin.user_types_store`).
        Default: $JUPYTERHUB_SESSIONS_USER_TYPES_STORE, else none. E.g. /srv/sessions/user-types.
        """,
    )

    @default("user_types_store")
    def _default_user_types_store(self):
        return os.environ.get("JUPYTERHUB_SESSIONS_USER_TYPES_STORE", "")

    user_types_namespace = Unicode(
        config=True,
        help="Kubernetes namespace of the ConfigMaps of personal types (the hub's; $POD_NAMESPACE).",
    )

    @default("user_types_namespace")
    def _default_user_types_namespace(self):
        return store_namespace()

    embedded = Bool(
        False,
        config=True,
        help="Sessions are local processes (the embedded backend): the type editor labels the image, "
        "CPU, memory and GPU as recorded, not enforced (--embedded).",
    )

    @property
    def unenforced(self) -> dict[str, str]:
        from ..profiles import UNENFORCED_CHOICES

        return dict(UNENFORCED_CHOICES) if self.embedded else {}

    state_file = Unicode(
        config=True,
        help="JSON file with renewals and SSH marks of running sessions (replaced atomically).",
    )

    @default("state_file")
    def _default_state_file(self):
        data_dir = os.environ.get("JUPYTERHUB_SESSIONS_DATA_DIR") or os.getcwd()
        return str(Path(data_dir) / f"{self.service_name}-service-state.json")

    cull_every = Int(
        60,
        config=True,
        help="Seconds between cull passes; 0 switches periodic culling off (the API still works).",
    )

    @validate("cull_every")
    def _not_negative(self, proposal):
        if proposal["value"] < 0:
            raise TraitError("cull_every must not be negative (0 = no periodic culling)")
        return proposal["value"]

    @validate("concurrency", "api_page_size")
    def _positive(self, proposal):
        if proposal["value"] < 1:
            raise TraitError(f"{proposal['trait'].name} must be at least 1")
        return proposal["value"]

    concurrency = Int(
        10, config=True, help="At most this many hub API requests in flight (culls are bounded by it)."
    )
    api_page_size = Int(200, config=True, help="Users per page when listing the hub's users.")

    default_timeout = Int(
        3600,
        config=True,
        help="Idle timeout (seconds, -1 = never) for servers whose options name no valid timeout "
        "and whose session type is unknown.",
    )

    ended_retention_days = Int(
        30,
        config=True,
        help="Days to keep why a session ended (shown on the dashboard while the session stays stopped). "
        "Example: --ended-retention-days=7.",
    )

    remove_named_servers = Bool(
        False,
        config=True,
        help="Also remove culled named servers from the hub (their drives are kept either way).",
    )

    ssh_services = Set(
        Unicode(),
        config=True,
        help="Hub services allowed to mark sessions SSH-connected (POST .../ssh). "
        "Default: $JUPYTERHUB_SESSIONS_SSH_SERVICES (comma-separated), else {'ssh'}.",
    )

    @default("ssh_services")
    def _default_ssh_services(self):
        names = os.environ.get("JUPYTERHUB_SESSIONS_SSH_SERVICES", "ssh")
        return {n.strip() for n in names.split(",") if n.strip()}

    aliases = {
        "cull-every": "SessionsService.cull_every",
        "concurrency": "SessionsService.concurrency",
        "api-page-size": "SessionsService.api_page_size",
        "default-timeout": "SessionsService.default_timeout",
        "ended-retention-days": "SessionsService.ended_retention_days",
        "profiles-dir": "SessionsService.profiles_dir",
        "state-file": "SessionsService.state_file",
        "user-types-store": "SessionsService.user_types_store",
        "user-types-namespace": "SessionsService.user_types_namespace",
        "bind-url": "SessionsService.bind_url",
        "log-level": "Application.log_level",
    }
    flags = {
        "embedded": ({"SessionsService": {"embedded": True}}, "Sessions are local processes (no images)."),
        "remove-named-servers": (
            {"SessionsService": {"remove_named_servers": True}},
            "Remove culled named servers from the hub.",
        ),
    }

    # ---- parts -------------------------------------------------------------------

    def init_parts(self) -> None:
        """Build the store, hub client, policy and hub auth (no I/O but reading the state file)."""
        self._types_error: str | None = None
        self.store = SessionStore(self.state_file)
        self.store.load()
        self.client = HubClient(
            self.hub_api_url, self.api_token, concurrency=self.concurrency, page_size=self.api_page_size
        )
        self.policy = SessionPolicy(self.session_types, self.store, self.default_timeout)
        self.hub_auth = HubOAuth(
            parent=self,
            api_url=self.hub_api_url,
            api_token=self.api_token,
            base_url=self.service_prefix,
            oauth_client_id=self.oauth_client_id,
            access_scopes={f"access:services!service={self.service_name}"},
        )
        self._cull_lock = asyncio.Lock()
        self.now = utcnow
        registry = user_types_for(
            self.user_types_store, self.log, self.user_types_namespace, configure_kube=True
        )
        self.types_service = TypesService(self, registry)

    def session_types(self) -> dict[str, SessionType]:
        """Current types; a file broken while running keeps the last good set (and says so)."""
        try:
            status = session_types_watcher(self.profiles_dir, self.log).status()
        except ProfileError as e:
            if str(e) != self._types_error:
                self.log.error("Session types not loaded: %s", e)
            self._types_error = str(e)
            return {}
        self._types_error = status.error
        return status.types

    def platform_policy(self) -> PlatformPolicy:
        """`_policy.yaml` of the session-types directory (the last good one; empty if none ever loaded)."""
        try:
            return session_types_watcher(self.profiles_dir, self.log).status().policy
        except ProfileError:
            return PlatformPolicy()

    def make_app(self) -> web.Application:
        return web.Application(
            routes(self.service_prefix, self),
            cookie_secret=os.urandom(32),
            log_function=self._log_request,
        )

    def _log_request(self, handler):
        status = handler.get_status()
        level = logging.INFO if status < 400 else logging.WARNING
        if handler.request.uri.startswith(self.service_prefix + "api/") or status >= 400:
            self.log.log(
                level,
                "%d %s %s %.1fms",
                status,
                handler.request.method,
                handler.request.path,
                1000 * handler.request.request_time(),
            )

    # ---- culling -------------------------------------------------------------------

    async def cull_once(self, now: datetime | None = None) -> CullReport | None:
        """One pass; a pass still running from the last tick is not overlapped."""
        if self._cull_lock.locked():
            self.log.warning("Previous cull pass still running; skipping this one")
            return None
        async with self._cull_lock:
            return await cull_pass(
                self.client,
                self.policy,
                now or self.now(),
                remove_named_servers=self.remove_named_servers,
                ended_retention=timedelta(days=self.ended_retention_days),
            )

    async def _cull_forever(self) -> None:
        while True:
            try:
                await self.cull_once()
            except Exception:
                self.log.exception("Cull pass failed; trying again in %ss", self.cull_every)
            await asyncio.sleep(self.cull_every)

    # ---- running ----------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        """Serve until `stop` is set (default: until SIGTERM/SIGINT, in the main thread)."""
        self.init_parts()
        self.session_types()
        if self._types_error:
            self.log.error("Starting without session types: max-age culling and renewals are off")
        # bodies are streamed and capped by the handlers (413); the server-wide cap only stops
        # absurd uploads, which it can only answer by closing the connection
        server = self.listen(self.make_app(), max_body_size=1024 * 1024 * 1024)
        self.log.info(
            "Sessions service %s listening on %s%s (cull every %ss, state %s)",
            self.service_name,
            self.bind_url.rstrip("/"),
            self.service_prefix,
            self.cull_every,
            self.state_file,
        )
        if stop is None:
            stop = self.stop_on_signals()
        culling = asyncio.ensure_future(self._cull_forever()) if self.cull_every else None
        try:
            await stop.wait()
        finally:
            if culling:
                culling.cancel()
            server.stop()
            await self.store.save()
            self.client.close()
            self.log.info("Sessions service stopped")

    def start(self):
        asyncio.run(self.serve())


main = SessionsService.launch_instance
