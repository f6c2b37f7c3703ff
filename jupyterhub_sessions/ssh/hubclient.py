"""What the gateway asks the hub: what a token may do, a user's identity and sessions, start one.

All calls use the ssh service's own token (scopes in `hub_service()`'s role),
except `token_info`, which asks the hub about a token a user typed as
password, with that token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from ..hubapi import HubAPI, HubAPIError, server_path

log = logging.getLogger(__name__)


class SessionUnavailable(HubAPIError):
    """The session cannot be used over SSH now; the message is shown to the ssh user."""

    def __init__(self, message: str, status: int = 503):
        super().__init__(status, message)
        Exception.__init__(self, message)  # str(e) is what the ssh user reads


@dataclass
class SessionTarget:
    """One server of a user, as the hub reports it."""

    user: str
    server: str  # "" = default server
    exists: bool
    ready: bool
    pending: str | None
    url: str  # path, e.g. /user/alice/foo/
    user_options: dict
    identity: str = ""  # the hub user's `created`: who the user is, beyond the name

    @property
    def label(self) -> str:
        return f"{self.user}/{self.server}" if self.server else f"{self.user} (default session)"

    @property
    def drive(self) -> str | None:
        d = (self.user_options or {}).get("drive")
        return d if isinstance(d, str) else None


def _identity(model: dict) -> str:
    """The hub's REST API has no stable user id; `created` changes when a name is reused."""
    created = model.get("created")
    if not isinstance(created, str) or not created:
        # without read:users the hub leaves `created` out: no key could ever be tied to the user
        raise SessionUnavailable(
            "the hub did not say when the user was created (the ssh service needs read:users)"
        )
    return created


class HubClient(HubAPI):
    """The ssh service's calls: the hub API at `api_url`, sessions and services at `public_url`."""

    def __init__(self, api_url: str, token: str, public_url: str, request_timeout: float = 30):
        super().__init__(api_url, token, request_timeout=request_timeout, what="hub")
        self.public_url = public_url.rstrip("/") + "/"
        parts = urlsplit(self.public_url)
        self.public_origin = f"{parts.scheme}://{parts.netloc}"

    async def token_info(self, token: str) -> dict | None:
        """What the hub says about `token` (`GET /user` with it): name, kind, scopes,
        session_id; None if it is not a valid token."""
        if not token or len(token) > 256 or not token.isprintable():
            return None
        try:
            status, model = await self.fetch("user", token=token, allow=True)
        except HubAPIError as e:
            log.warning("hub unreachable while checking a token: %s", e.message)
            return None
        return model if status == 200 and isinstance(model, dict) else None

    async def _user_model(self, user: str) -> dict | None:
        try:
            status, model = await self.fetch(
                f"users/{quote(user, safe='')}?include_stopped_servers=1", allow=(404,)
            )
        except HubAPIError as e:
            raise SessionUnavailable(f"the hub answered {e.status} when asked about {user}") from None
        return None if status == 404 else model

    async def user_identity(self, user: str) -> str | None:
        """The user's identity (`created`), or None if there is no such user."""
        model = await self._user_model(user)
        return _identity(model) if model else None

    async def get_session(self, user: str, server: str) -> SessionTarget | None:
        """The user's server `server` (or None if the user does not exist)."""
        model = await self._user_model(user)
        if model is None:
            return None
        s = (model.get("servers") or {}).get(server)
        if s is None:
            return SessionTarget(user, server, False, False, None, "", {}, _identity(model))
        return SessionTarget(
            user=user,
            server=server,
            exists=True,
            ready=bool(s.get("ready")),
            pending=s.get("pending"),
            url=s.get("url") or "",
            user_options=s.get("user_options") or {},
            identity=_identity(model),
        )

    async def list_sessions(self, user: str) -> list[SessionTarget]:
        """All the user's servers (running or not), default server first."""
        try:
            model = await self._user_model(user)
        except SessionUnavailable:
            model = None
        if not model:
            return []
        servers = model.get("servers") or {}
        out = [
            SessionTarget(
                user,
                name,
                True,
                bool(s.get("ready")),
                s.get("pending"),
                s.get("url") or "",
                s.get("user_options") or {},
                _identity(model),
            )
            for name, s in servers.items()
        ]
        return sorted(out, key=lambda t: (t.server != "", t.server))

    async def start(self, target: SessionTarget) -> None:
        """Ask the hub to start the server, with the options it last ran with."""
        options = {k: v for k, v in (target.user_options or {}).items() if k != "new_drive"}
        try:
            await self.fetch(server_path(target.user, target.server), "POST", body=options)
        except HubAPIError as e:
            if e.status == 400 and ("already running" in e.message or "pending" in e.message):
                return  # another login (or the user) started it meanwhile: just wait for it
            raise SessionUnavailable(f"the hub could not start {target.label}: {e.message}") from None

    async def wait_ready(
        self, user: str, server: str, timeout: float, interval: float = 0.5
    ) -> SessionTarget:
        """Poll until the server is ready; SessionUnavailable if it stops or times out."""
        deadline = time.monotonic() + timeout
        while True:
            t = await self.get_session(user, server)
            if t is None or not t.exists:
                raise SessionUnavailable("the session disappeared while starting")
            if t.ready and not t.pending:
                return t
            if not t.pending:
                raise SessionUnavailable("the session failed to start; see the hub for details")
            if time.monotonic() > deadline:
                raise SessionUnavailable(f"the session did not become ready within {int(timeout)}s")
            await asyncio.sleep(interval)

    def server_url(self, target: SessionTarget) -> str:
        """Public URL of the session's single-user server (ends with /)."""
        return self.public_origin + (target.url if target.url.endswith("/") else target.url + "/")

    async def session_ports(self, target: SessionTarget) -> set[int]:
        """TCP ports listening inside the session (server extension's `sessions-api/ports`)."""
        try:
            _, ports = await self.fetch(self.server_url(target) + "sessions-api/ports")
            return {int(p["port"]) for p in ports}
        except HubAPIError as e:
            log.warning("ssh: could not list ports of %s: %s", target.label, e.message)
        except (ValueError, TypeError, KeyError):
            pass
        return set()

    async def ssh_connection(self, service: str, target: SessionTarget, connection: str, open_: bool) -> bool:
        """Tell the sessions service an SSH connection to the session opened (absolute timeout
        while any is open) or closed (idle timeout from now when it was the last). Only warns
        if the service is absent; True if it took note."""
        url = (
            self.public_url
            + f"services/{quote(service)}/api/sessions/"
            + (f"{quote(target.user, safe='')}/{quote(target.server, safe='')}/ssh")
        )
        method = "POST" if open_ else "DELETE"
        try:
            await self.fetch(url, method, body={"connection": connection}, allow=() if open_ else (404,))
        except HubAPIError as e:
            log.warning(
                "ssh: the %s service answered %s to %s for %s", service, e.status, method, target.label
            )
            return False
        return True

    async def forget_ssh_connections(self, service: str) -> bool:
        """Tell the sessions service none of this gateway's connections is open (at start-up)."""
        try:
            await self.fetch(self.public_url + f"services/{quote(service)}/api/ssh-connections", "DELETE")
        except HubAPIError:
            return False
        return True
