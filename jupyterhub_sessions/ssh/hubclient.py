"""What the gateway asks the hub: what a token may do, a user's identity and sessions, start one.

All calls use the ssh service's own token (scopes in `hub_service()`'s role),
except `token_info`, which asks the hub about a token a user typed as
password, with that token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

log = logging.getLogger(__name__)


class SessionUnavailable(RuntimeError):
    """The session cannot be used over SSH now; the message is shown to the ssh user."""


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


class HubClient:
    def __init__(self, api_url: str, token: str, public_url: str, request_timeout: float = 30):
        self.api_url = api_url.rstrip("/") + "/"
        self._token = token
        self.public_url = public_url.rstrip("/") + "/"
        parts = urlsplit(self.public_url)
        self.public_origin = f"{parts.scheme}://{parts.netloc}"
        self.request_timeout = request_timeout

    async def _fetch(self, url: str, method="GET", body=None, token=None, raise_error=True):
        headers = {"Authorization": f"token {token or self._token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        elif method in ("POST", "PUT", "PATCH"):
            body = ""
        req = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=body,
            request_timeout=self.request_timeout,
            allow_nonstandard_methods=method == "DELETE" and body is not None,  # DELETE with a JSON body
        )
        return await AsyncHTTPClient().fetch(req, raise_error=raise_error)

    async def token_info(self, token: str) -> dict | None:
        """What the hub says about `token` (`GET /user` with it): name, kind, scopes,
        session_id; None if it is not a valid token."""
        if not token or len(token) > 256 or not token.isprintable():
            return None
        try:
            r = await self._fetch(self.api_url + "user", token=token, raise_error=False)
        except OSError as e:
            log.warning("hub unreachable while checking a token: %s", e)
            return None
        if r.code != 200:
            return None
        model = json.loads(r.body)
        return model if isinstance(model, dict) else None

    async def _user_model(self, user: str) -> dict | None:
        r = await self._fetch(
            self.api_url + f"users/{quote(user, safe='')}?include_stopped_servers=1", raise_error=False
        )
        if r.code == 404:
            return None
        if r.code != 200:
            raise SessionUnavailable(f"the hub answered {r.code} when asked about {user}")
        return json.loads(r.body)

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
        path = f"users/{quote(target.user, safe='')}/" + (
            f"servers/{quote(target.server, safe='')}" if target.server else "server"
        )
        options = {k: v for k, v in (target.user_options or {}).items() if k != "new_drive"}
        r = await self._fetch(self.api_url + path, method="POST", body=options, raise_error=False)
        if r.code in (201, 202):
            return
        if r.code == 400 and (b"already running" in r.body or b"pending" in r.body):
            return  # another login (or the user) started it meanwhile: just wait for it
        try:
            message = json.loads(r.body).get("message", "")
        except ValueError:
            message = ""
        raise SessionUnavailable(f"the hub could not start {target.label}: {message or r.code}")

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
            r = await self._fetch(self.server_url(target) + "sessions-api/ports", raise_error=False)
        except OSError as e:
            log.warning("ssh: could not list ports of %s: %s", target.label, e)
            return set()
        if r.code != 200:
            log.warning("ssh: listing ports of %s answered %s", target.label, r.code)
            return set()
        try:
            return {int(p["port"]) for p in json.loads(r.body)}
        except (ValueError, TypeError, KeyError):
            return set()

    async def ssh_connection(self, service: str, target: SessionTarget, connection: str, open_: bool) -> bool:
        """Tell the sessions service an SSH connection to the session opened (absolute timeout
        while any is open) or closed (idle timeout from now when it was the last). Only warns
        if the service is absent; True if it took note."""
        url = self.public_url + (
            f"services/{quote(service)}/api/sessions/{quote(target.user, safe='')}/"
            f"{quote(target.server, safe='')}/ssh"
        )
        method = "POST" if open_ else "DELETE"
        try:
            r = await self._fetch(url, method=method, body={"connection": connection}, raise_error=False)
        except OSError as e:
            log.warning("ssh: could not tell the %s service about %s: %s", service, target.label, e)
            return False
        if r.code >= 300 and not (r.code == 404 and not open_):
            log.warning("ssh: the %s service answered %s to %s for %s", service, r.code, method, target.label)
            return False
        return True

    async def forget_ssh_connections(self, service: str) -> bool:
        """Tell the sessions service none of this gateway's connections is open (at start-up)."""
        try:
            r = await self._fetch(
                self.public_url + f"services/{quote(service)}/api/ssh-connections",
                method="DELETE",
                raise_error=False,
            )
        except OSError:
            return False
        return r.code < 300
