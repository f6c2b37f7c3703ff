"""The sessions REST API: tornado handlers authenticated by JupyterHub tokens or OAuth cookies.

Every request is hostile until proven otherwise: authentication first (401
without a token, 403 when the token may not use this service), then
permission on the named session (403, before we even look whether it
exists, so other users' session names do not leak), then existence (404).
Nothing is stopped or renewed unless all checks passed. Errors are JSON
`{"status": N, "message": "..."}`.

Who may do what: a token owned by user X acts as X on X's sessions (this
includes the session's own server token, which only carries
`access:services!service=sessions`). Other sessions need hub scopes on them
in the token: `read:servers` to read, `delete:servers` to stop or renew
(admins have both). Reporting SSH connections opening and closing is
reserved to the services named in `ssh_services`.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from jupyterhub.services.auth import (
    HubOAuthCallbackHandler,
    HubOAuthenticated,
    UserNotAllowed,
    check_scopes,
)
from tornado import web

from . import policy
from .hubclient import HubAPIError
from .policy import RenewError
from .sessions import Session, sessions_of

MAX_REQUEST_BODY = 64 * 1024
MAX_NAME = 255


@web.stream_request_body
class APIHandler(HubOAuthenticated, web.RequestHandler):
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

    def write_error(self, status_code, **kwargs):
        # a request refused before its body was read (in prepare) makes tornado close the
        # connection after the response without saying so; the proxy then reuses the socket for
        # the next request, which fails with a reset (a 503 to that user). Say it, on every error.
        self.set_header("Connection", "close")
        message = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif status_code >= 500:
            message = (
                HTTPStatus(status_code).phrase if status_code in HTTPStatus._value2member_map_ else "error"
            )
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"status": status_code, "message": message}))

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

    def is_owner(self, user: str) -> bool:
        return self.caller.get("kind", "user") == "user" and self.caller["name"] == user

    def has_scope(self, scope: str) -> bool:
        return bool(check_scopes({scope}, set(self.caller.get("scopes") or [])))

    def may(self, action: str, user: str, server: str) -> bool:
        """`action` is "read" or "delete": owner, or the matching hub scope on that server."""
        return self.is_owner(user) or self.has_scope(f"{action}:servers!server={user}/{server}")

    def check_may(self, action: str, user: str, server: str) -> None:
        if not self.may(action, user, server):
            verb = "see" if action == "read" else "change"
            raise web.HTTPError(403, f"You may not {verb} sessions of user {user!r}")

    # ---- input ----------------------------------------------------------------

    def json_body(self) -> dict:
        """The request body: empty or a JSON object without fields (no endpoint takes options)."""
        if self._body_too_large:
            raise web.HTTPError(413, f"Request body is larger than {MAX_REQUEST_BODY} bytes")
        raw = bytes(self._body)
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting fits in 64 kB
            raise web.HTTPError(400, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Request body must be a JSON object")
        if body:
            field = sorted(str(k)[:40] for k in body)[0]
            raise web.HTTPError(400, f"Unexpected field {field!r} in request body")
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
    """GET sessions: the caller's sessions; with hub-wide `read:servers`, everyone's."""

    async def get(self):
        wanted = self.get_argument("user", None)
        if wanted is not None and (not wanted or len(wanted) > MAX_NAME):
            raise web.HTTPError(400, "Query argument 'user' must be a user name")
        sessions: list[Session] = []
        if self.has_scope("read:servers") and wanted is None:

            async def collect():
                async for user in self.service.client.iter_users(state="active"):
                    sessions.extend(sessions_of(user))

            await self.hub(collect())
        else:
            name = (
                wanted
                if wanted is not None
                else (self.caller["name"] if self.is_owner(self.caller["name"]) else None)
            )
            if name is not None:
                if not (self.is_owner(name) or self.has_scope(f"read:servers!user={name}")):
                    raise web.HTTPError(403, f"You may not see sessions of user {name!r}")
                model = await self.hub(self.service.client.get_user(name))
                if model is not None:
                    sessions = sessions_of(model)
        self.finish(json.dumps([self.session_json(s) for s in sessions]))


class SessionHandler(APIHandler):
    """GET one session; DELETE stops it (its drive is kept)."""

    async def get(self, user, server):
        self.check_may("read", user, server)
        session = await self.find_session(user, server)
        self.finish(json.dumps(self.session_json(session)))

    async def delete(self, user, server):
        self.json_body()
        self.check_may("delete", user, server)
        session = await self.find_session(user, server)
        if session.server.get("pending") == "stop":
            self.set_status(202)
            self.finish(json.dumps({**self.session_json(session), "result": "stopping"}))
            return
        result = await self.hub(self.service.client.stop_server(user, server))
        self.service.log.info(
            "Stopped %s at the request of %s (%s)", session.label, self.caller_label, result
        )
        self.set_status(202 if result == "stopping" else 200)
        self.finish(json.dumps({**self.session_json(session), "result": result}))


class RenewHandler(APIHandler):
    """POST .../renew: extend the max-age expiry (see policy.renew for the rule)."""

    async def post(self, user, server):
        self.json_body()
        self.check_may("delete", user, server)
        session = await self.find_session(user, server)
        if session.server.get("pending") or not session.server.get("ready"):
            raise web.HTTPError(
                409, f"Session is {session.server.get('pending') or 'not ready'}; renew it once it runs"
            )
        try:
            record = self.service.policy.renew(session, self.service.now())
        except RenewError as e:
            self.service.log.info(
                "Refused renewal of %s by %s: %s", session.label, self.caller_label, e.message
            )
            raise web.HTTPError(e.status, e.message) from None
        await self.service.store.save()
        self.service.log.info(
            "Renewed %s by %s: renewal %d, max-age expiry now %s",
            session.label,
            self.caller_label,
            record.renewals,
            record.max_age_expires_at,
        )
        self.finish(json.dumps(self.session_json(session)))


MAX_CONNECTION_ID = 100


class SSHServiceHandler(APIHandler):
    """Only the ssh service reports SSH connections."""

    def check_ssh_service(self) -> None:
        if not (self.caller.get("kind") == "service" and self.caller["name"] in self.service.ssh_services):
            raise web.HTTPError(403, "Only the ssh service may report SSH connections")

    def connection_id(self) -> str:
        if self._body_too_large:
            raise web.HTTPError(413, f"Request body is larger than {MAX_REQUEST_BODY} bytes")
        try:
            body = json.loads(bytes(self._body) or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting fits in 64 kB
            raise web.HTTPError(400, "Request body is not valid JSON") from None
        if not isinstance(body, dict) or set(body) != {"connection"}:
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
        self.finish(json.dumps(self.session_json(session)))

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
        self.finish(json.dumps(self.session_json(session)))


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


class InfoHandler(web.RequestHandler):
    """GET the service root: what this is, without authentication (no data)."""

    def initialize(self, service):
        self.service = service

    def get(self):
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(
            json.dumps(
                {"service": self.service.service_name, "api": self.service.service_prefix + "api/sessions"}
            )
        )


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    """Completes the browser OAuth login with the service's own HubOAuth."""

    def initialize(self, service):
        self.hub_auth = service.hub_auth


def routes(prefix: str, service) -> list:
    """URL routes under the service prefix (e.g. /services/sessions/)."""
    p = prefix.rstrip("/") + "/"
    name = r"([^/]+)"
    server = r"([^/]*)"
    kw = {"service": service}
    return [
        (p, InfoHandler, kw),
        (p + "oauth_callback", OAuthCallbackHandler, kw),
        (p + "api/sessions/?", SessionListHandler, kw),
        (p + f"api/sessions/{name}/{server}/renew", RenewHandler, kw),
        (p + f"api/sessions/{name}/{server}/ssh", SSHHandler, kw),
        (p + "api/ssh-connections", SSHConnectionsHandler, kw),
        (p + f"api/sessions/{name}/{server}", SessionHandler, kw),
        (p + "api/.*", NotFoundHandler, kw),
    ]
