"""The sessions REST API: tornado handlers authenticated by JupyterHub tokens or OAuth cookies.

Every request is hostile until proven otherwise: authentication first (401
without a token, 403 when the token may not use this service), then
permission on the named session (403, before we even look whether it
exists, so other users' session names do not leak), then existence (404).
Nothing is stopped or renewed unless all checks passed. Errors are JSON
`{"status": N, "message": "..."}`.

Who may do what is decided by the caller's hub scopes alone, never by its
name: reading a session needs `read:servers` on it, stopping or renewing it
`delete:servers` (the hub's scopes with their filters: a user's own API
token holds them as `!user=<name>`, an admin's everywhere). A session's own
server token carries `read:servers!server=<its user>/<its name>` only, so
it reads its own session and acts on nothing: anyone who can read that token
(a collaborator with a terminal) gets no handle on the owner's other
sessions. Reporting SSH connections opening and closing is reserved to the
services named in `ssh_services`.
"""

from __future__ import annotations

from jupyterhub.services.auth import (
    HubOAuthCallbackHandler,
    HubOAuthenticated,
    UserNotAllowed,
    check_scopes,
)
from tornado import web

from ..hubservice import JSONHandlerMixin
from . import actions, policy
from .hubclient import HubAPIError
from .pages import page_routes
from .sessions import Session, sessions_of

MAX_REQUEST_BODY = 64 * 1024
MAX_NAME = 255


@web.stream_request_body
class APIHandler(JSONHandlerMixin, HubOAuthenticated, web.RequestHandler):
    """JSON errors, hub authentication in async `prepare`, and session lookup.

    Bodies are streamed and kept only up to MAX_REQUEST_BODY; the rest of an
    oversized one is read and dropped, so the request still gets its 413
    through the proxy (answering before the upload ends makes the proxy
    report a 503 instead).
    """

    def initialize(self, service):
        self.service = service
        self.hub_auth = service.hub_auth
        self._body = bytearray()
        self._body_too_large = False

    def data_received(self, chunk: bytes) -> None:
        if self._body_too_large or len(self._body) + len(chunk) > MAX_REQUEST_BODY:
            self._body_too_large = True
            self._body.clear()
            return
        self._body += chunk

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    def log_exception(self, typ, value, tb):
        # expected HTTP errors are logged once, by the service's request log
        if not isinstance(value, web.HTTPError):
            super().log_exception(typ, value, tb)

    def get_current_user(self):
        # set by prepare; never the blocking sync lookup of the base class
        return getattr(self, "_caller", None)

    async def prepare(self):
        model = await self.hub_auth.get_user(self, sync=False)
        if not model:
            raise web.HTTPError(
                401, "Authentication required: send 'Authorization: token <JupyterHub API token>'"
            )
        try:
            self.check_hub_user(model)
        except UserNotAllowed:
            scopes = ", ".join(sorted(self.hub_scopes or []))
            raise web.HTTPError(
                403, f"{model.get('kind', 'user')} {model['name']} may not use this service (needs {scopes})"
            ) from None
        if self.request.method not in ("GET", "HEAD", "OPTIONS") and not getattr(
            self, "_token_authenticated", False
        ):
            self.hub_auth.check_xsrf_cookie(self)
        self._caller = model

    # ---- caller --------------------------------------------------------------

    @property
    def caller(self) -> dict:
        return self._caller

    @property
    def caller_label(self) -> str:
        return f"{self.caller.get('kind', 'user')} {self.caller['name']}"

    def owns_token(self, user: str) -> bool:
        """The caller's token belongs to `user` (says nothing about what it may do)."""
        return self.caller.get("kind", "user") == "user" and self.caller["name"] == user

    def has_scope(self, scope: str) -> bool:
        return bool(check_scopes({scope}, set(self.caller.get("scopes") or [])))

    def may(self, action: str, user: str, server: str) -> bool:
        """`action` is "read" or "delete": the matching hub scope on that very server.

        Deliberately no "owner may do anything" shortcut: the session's server
        token is owned by the owner too, and must not act on other sessions.
        """
        return self.has_scope(f"{action}:servers!server={user}/{server}")

    def check_may(self, action: str, user: str, server: str) -> None:
        if not self.may(action, user, server):
            verb = "see" if action == "read" else "change"
            raise web.HTTPError(403, f"You may not {verb} sessions of user {user!r}")

    # ---- input ----------------------------------------------------------------

    def json_body(self, allowed: dict[str, type] | None = None) -> dict:
        """The request body: empty, or a JSON object with only the `allowed` fields (name: type)."""
        body = self.parse_json_object(bytes(self._body), self._body_too_large)
        allowed = allowed or {}
        unexpected = sorted(str(k)[:40] for k in body if k not in allowed)
        if unexpected:
            raise web.HTTPError(400, f"Unexpected field {unexpected[0]!r} in request body")
        for key, kind in allowed.items():
            if key in body and not isinstance(body[key], kind):
                raise web.HTTPError(400, f"Field {key!r} must be a {kind.__name__}")
        return body

    # ---- hub lookups ------------------------------------------------------------

    async def hub(self, coro):
        try:
            return await coro
        except HubAPIError as e:
            self.service.log.error("Hub API error for %s: %s", self.caller_label, e)
            raise web.HTTPError(502, f"The hub API failed: {e.message}") from None

    async def find_session(self, user: str, server: str) -> Session:
        missing = web.HTTPError(404, f"No running session {server or '(default)'!r} of user {user!r}")
        if len(user) > MAX_NAME or len(server) > MAX_NAME or not user:
            raise missing
        model = await self.hub(self.service.client.get_user(user))
        if model is None:
            raise missing
        for session in sessions_of(model):
            if session.name == server:
                return session
        raise missing

    def session_json(self, session: Session) -> dict:
        return self.service.policy.to_json(session, self.service.now())


class SessionListHandler(APIHandler):
    """GET sessions: the caller's sessions it may read; with hub-wide `read:servers`, everyone's."""

    NOBODY = ""  # a service without hub-wide read:servers and no ?user=: it has no sessions

    def wanted_user(self) -> str | None:
        """Whose records to list: None = everyone (hub-wide read:servers); 403 when not allowed."""
        wanted = self.get_argument("user", None)
        if wanted is not None and (not wanted or len(wanted) > MAX_NAME):
            raise web.HTTPError(400, "Query argument 'user' must be a user name")
        if wanted is None and self.has_scope("read:servers"):
            return None
        if wanted is None and not self.owns_token(self.caller["name"]):
            return self.NOBODY
        name = wanted if wanted is not None else self.caller["name"]
        if not (self.owns_token(name) or self.has_scope(f"read:servers!user={name}")):
            raise web.HTTPError(403, f"You may not see sessions of user {name!r}")
        return name

    async def get(self):
        name = self.wanted_user()
        sessions: list[Session] = []
        if name == self.NOBODY:
            pass
        elif name is None:

            async def collect():
                async for user in self.service.client.iter_users(state="active"):
                    sessions.extend(sessions_of(user))

            await self.hub(collect())
        else:
            model = await self.hub(self.service.client.get_user(name))
            if model is not None:
                # e.g. a server token: only the session it belongs to
                sessions = [s for s in sessions_of(model) if self.may("read", s.user, s.name)]
        self.write_json([self.session_json(s) for s in sessions])


class EndedListHandler(SessionListHandler):
    """GET ended: why sessions ended (the last end of each stopped or culled session), newest first."""

    async def get(self):
        name = self.wanted_user()
        ended = [] if name == self.NOBODY else self.service.store.ended_of(name)
        # e.g. a server token: only the session it belongs to
        ended = [r for r in ended if self.may("read", r.user, r.server)]
        self.write_json([r.to_json() for r in ended])


class SessionHandler(APIHandler):
    """GET one session; DELETE stops it, or with {"remove": true} deletes it (its drive is kept)."""

    async def get(self, user, server):
        self.check_may("read", user, server)
        session = await self.find_session(user, server)
        self.write_json(self.session_json(session))

    async def delete(self, user, server):
        body = self.json_body({"remove": bool})
        self.check_may("delete", user, server)
        if body.get("remove"):
            result = await actions.delete(self.service, user, server, self.caller)
            self.set_status(200 if result == "deleted" else 202)
            self.write_json({"user": user, "name": server, "result": result})
            return
        session = await self.find_session(user, server)
        if session.server.get("pending") == "stop":
            self.set_status(202)
            self.write_json({**self.session_json(session), "result": "stopping"})
            return
        result = await actions.stop(self.service, session, self.caller)
        self.set_status(202 if result == "stopping" else 200)
        self.write_json({**self.session_json(session), "result": result})


class RenewHandler(APIHandler):
    """POST .../renew: extend the max-age expiry (see policy.renew for the rule)."""

    async def post(self, user, server):
        self.json_body()
        self.check_may("delete", user, server)
        session = await self.find_session(user, server)
        await actions.renew(self.service, session, self.caller)
        self.write_json(self.session_json(session))


MAX_CONNECTION_ID = 100


class SSHServiceHandler(APIHandler):
    """Only the ssh service reports SSH connections."""

    def check_ssh_service(self) -> None:
        if not (self.caller.get("kind") == "service" and self.caller["name"] in self.service.ssh_services):
            raise web.HTTPError(403, "Only the ssh service may report SSH connections")

    def connection_id(self) -> str:
        body = self.parse_json_object(bytes(self._body), self._body_too_large)
        if set(body) != {"connection"}:
            raise web.HTTPError(400, 'Request body must be {"connection": "<id>"}')
        conn = body["connection"]
        if not isinstance(conn, str) or not 0 < len(conn) <= MAX_CONNECTION_ID or not conn.isprintable():
            raise web.HTTPError(
                400, f'"connection" must be a printable id of at most {MAX_CONNECTION_ID} characters'
            )
        return self.owner_prefix + conn

    @property
    def owner_prefix(self) -> str:
        """Connections are kept per reporting service, so one service's restart forgets only its own."""
        return self.caller["name"] + ":"


class SSHHandler(SSHServiceHandler):
    """POST/DELETE .../ssh {"connection": id}: an SSH connection to the session opened/closed.

    While any is open the absolute timeout applies; when the last closes, the idle
    timeout counts again, from that moment (policy.ssh_opened/ssh_closed).
    """

    async def post(self, user, server):
        self.check_ssh_service()
        conn = self.connection_id()
        session = await self.find_session(user, server)
        record = self.service.store.update(session.key, lambda r: policy.ssh_opened(r, conn))
        await self.service.store.save()
        self.service.log.info(
            "SSH connection %s to %s opened (%d open): absolute timeout applies",
            conn,
            session.label,
            len(record.ssh_connections),
        )
        self.write_json(self.session_json(session))

    async def delete(self, user, server):
        self.check_ssh_service()
        conn = self.connection_id()
        session = await self.find_session(user, server)
        now = self.service.now()
        record = self.service.store.update(session.key, lambda r: policy.ssh_closed(r, conn, now))
        await self.service.store.save()
        self.service.log.info(
            "SSH connection %s to %s closed (%d open)%s",
            conn,
            session.label,
            len(record.ssh_connections),
            "" if record.ssh_connections else ": idle timeout applies again, counted from now",
        )
        self.write_json(self.session_json(session))


class SSHConnectionsHandler(SSHServiceHandler):
    """DELETE api/ssh-connections: the ssh service (re)started, none of its connections is open."""

    async def delete(self):
        self.check_ssh_service()
        self.json_body()
        now = self.service.now()
        changed = self.service.store.update_all(lambda r: policy.ssh_all_closed(r, now, self.owner_prefix))
        await self.service.store.save()
        self.service.log.info(
            "%s has no open SSH connections: %d session(s) back on the idle timeout",
            self.caller_label,
            changed,
        )
        self.set_status(204)
        self.finish()


class NotFoundHandler(APIHandler):
    async def prepare(self):
        raise web.HTTPError(404, "Not found")


class InfoHandler(JSONHandlerMixin, web.RequestHandler):
    """GET the service root: what this is, without authentication (no data)."""

    def initialize(self, service):
        self.service = service

    def get(self):
        self.write_json(
            {"service": self.service.service_name, "api": self.service.service_prefix + "api/sessions"}
        )


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    """Completes the browser OAuth login with the service's own HubOAuth."""

    def initialize(self, service):
        self.hub_auth = service.hub_auth


def routes(prefix: str, service) -> list:
    """URL routes under the service prefix (e.g. /services/sessions/)."""
    from .usertypes_api import usertype_routes  # its handlers subclass APIHandler

    p = prefix.rstrip("/") + "/"
    name = r"([^/]+)"
    server = r"([^/]*)"
    kw = {"service": service}
    return [
        (p, InfoHandler, kw),
        (p + "oauth_callback", OAuthCallbackHandler, kw),
        (p + "api/sessions/?", SessionListHandler, kw),
        (p + "api/ended/?", EndedListHandler, kw),
        (p + f"api/sessions/{name}/{server}/renew", RenewHandler, kw),
        (p + f"api/sessions/{name}/{server}/ssh", SSHHandler, kw),
        (p + "api/ssh-connections", SSHConnectionsHandler, kw),
        (p + f"api/sessions/{name}/{server}", SessionHandler, kw),
        *usertype_routes(prefix, service),
        (p + "api/.*", NotFoundHandler, kw),
        *page_routes(prefix, service),
    ]
