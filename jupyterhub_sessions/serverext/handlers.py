"""REST API of the server extension, under `{base_url}sessions-api/`.

Authenticated exactly like the server (jupyter-server auth: hub OAuth cookie
or token, XSRF for browsers). Owner-only endpoints answer collaborators with
403, and act on the hub with the owner's own token from the request (their
OAuth cookie for this server, or their API token), never with the server's
token: that one is readable from any terminal in the session, so a request
carrying it is not the owner. Bodies are validated before anything is sent
to the hub.
"""

from __future__ import annotations

import asyncio
import hmac
import json

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .execbridge import ExecHandler
from .hubclient import HubError
from .ports import listening_ports
from .revoke import close_revoked_connections, forget_identities
from .tcpbridge import SFTPBridgeHandler, TCPBridgeHandler

SHARE_CODE_MIN_SECONDS = 60
SHARE_CODE_MAX_SECONDS = 365 * 24 * 3600
MAX_NAME = 255
MAX_BODY = 1024 * 1024


class SessionsAPIHandler(APIHandler):
    """Base: the extension's state, owner check and JSON helpers."""

    @property
    def ext(self):
        return self.settings["jupyterhub_sessions"]

    @property
    def who(self) -> str:
        user = self.current_user
        return f"user={getattr(user, 'username', '?')} session={self.ext.owner}/{self.ext.server_name or '(default)'}"

    def request_token(self) -> str:
        """The hub token this request was authenticated with (header or OAuth cookie)."""
        hub_auth = getattr(self.identity_provider, "hub_auth", None)
        return (hub_auth.get_token(self) or "") if hub_auth is not None else ""

    def by_server_token(self) -> bool:
        """Whether the request carries this server's own API token."""
        own = self.ext.hub.token
        return bool(own) and hmac.compare_digest(self.request_token().encode(), own.encode())

    def is_owner(self) -> bool:
        """The session's owner, in person; on a plain (non-hub) server, whoever holds its token."""
        user = self.current_user
        if user is None:
            return False
        if hasattr(user, "hub_user"):
            return user.username == self.ext.owner and not self.by_server_token()
        return not self.ext.under_hub

    def require_owner(self, action: str) -> None:
        if not self.is_owner():
            reason = " with the server's own token" if self.by_server_token() else ""
            self.log.warning("Refused %s: %s is owner-only%s", self.who, action, reason)
            raise web.HTTPError(403, f"Only the session's owner ({self.ext.owner}) may {action}")

    def owner_hub(self):
        """A hub client acting as the owner, with the owner's own token from this request."""
        return self.ext.hub.as_caller(self.request_token())

    def json_body(self) -> dict:
        """The request's JSON object; small flat objects only, anything else is a 4xx."""
        raw = self.request.body
        if not raw:
            return {}
        if len(raw) > MAX_BODY:
            raise web.HTTPError(413, f"Request body is larger than {MAX_BODY} bytes")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise web.HTTPError(400, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Request body must be a JSON object")
        return body

    async def hub_call(self, coro):
        try:
            return await coro
        except HubError as e:
            self.log.warning("Hub call failed for %s: %s", self.who, e)
            raise web.HTTPError(e.status, e.message) from None

    def finish_json(self, data, status: int = 200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))


class SessionHandler(SessionsAPIHandler):
    @web.authenticated
    async def get(self):
        ext = self.ext
        user = self.current_user
        timing, timing_error = None, None
        try:
            timing = await ext.hub.session_timing()
        except HubError as e:
            timing_error = e.message
            self.log.info("No timing for %s from the %s service: %s", self.who, ext.hub.service_name, e)
        self.finish_json(
            {
                "session": ext.session_info.model_dump(mode="json") if ext.session_info else {},
                "owner": ext.owner,
                "server_name": ext.server_name,
                "you": getattr(user, "username", None),
                "is_owner": self.is_owner(),
                "collaborative": bool(ext.session_info and ext.session_info.collaborative),
                "timing": timing,
                "timing_error": timing_error,
            }
        )


class RenewHandler(SessionsAPIHandler):
    @web.authenticated
    async def post(self):
        self.require_owner("renew the session")
        result = await self.hub_call(self.owner_hub().renew())
        self.log.info("Renewed %s", self.who)
        self.finish_json(result or {})


def _share_entry(share: dict) -> dict:
    return {
        "kind": share.get("kind"),
        "user": (share.get("user") or {}).get("name"),
        "group": (share.get("group") or {}).get("name"),
        "scopes": share.get("scopes", []),
        "created_at": share.get("created_at"),
    }


def _code_entry(code: dict) -> dict:
    return {
        "id": code.get("id"),
        "created_at": code.get("created_at"),
        "expires_at": code.get("expires_at"),
        "exchange_count": code.get("exchange_count"),
        "last_exchanged_at": code.get("last_exchanged_at"),
    }


def _share_target(body: dict) -> tuple[str, str]:
    """Exactly one of {"user": name} or {"group": name}."""
    extra = set(body) - {"user", "group"}
    if extra:
        raise web.HTTPError(400, f"Unknown field(s): {', '.join(sorted(extra))}")
    given = [(k, body[k]) for k in ("user", "group") if k in body]
    if len(given) != 1:
        raise web.HTTPError(400, 'Give exactly one of "user" or "group"')
    kind, name = given[0]
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise web.HTTPError(400, f'"{kind}" must be a non-empty name of at most {MAX_NAME} characters')
    return kind, name


def never_logged_in(kind: str, name: str, error: HubError) -> str:
    """The hub's "No such user" for a share means: that person never logged in. Say what to do."""
    if kind == "user" and error.status == 400 and error.message.startswith("No such user"):
        return (
            f"{name} has never logged in to this hub, so sessions can't be shared with them by name yet. "
            "Create a share link and send it to them (they log in when they open it), "
            "or ask them to log in once and share again."
        )
    return error.message


class SharesHandler(SessionsAPIHandler):
    @web.authenticated
    async def get(self):
        self.require_owner("see who has access")
        hub = self.owner_hub()
        shares, codes = await self.hub_call(asyncio.gather(hub.list_shares(), hub.list_share_codes()))
        self.finish_json(
            {"shares": [_share_entry(s) for s in shares], "share_codes": [_code_entry(c) for c in codes]}
        )

    @web.authenticated
    async def post(self):
        self.require_owner("share the session")
        kind, name = _share_target(self.json_body())
        try:
            share = await self.owner_hub().grant_share(kind, name)
        except HubError as e:
            self.log.warning("Hub call failed for %s: %s", self.who, e)
            raise web.HTTPError(e.status, never_logged_in(kind, name, e)) from None
        forget_identities(self.ext.serverapp)
        self.log.info("Shared %s with %s %s", self.who, kind, name)
        self.finish_json(_share_entry(share), status=201)

    @web.authenticated
    async def delete(self):
        self.require_owner("revoke access")
        kind, name = _share_target(self.json_body())
        await self.hub_call(self.owner_hub().revoke_share(kind, name))
        self.log.info("Revoked %s %s from %s", kind, name, self.who)
        await close_revoked_connections(self.ext.serverapp, self.ext.owner, self.who)
        self.set_status(204)
        self.finish()


class ShareCodesHandler(SessionsAPIHandler):
    @web.authenticated
    async def post(self):
        self.require_owner("create share links")
        body = self.json_body()
        extra = set(body) - {"expires_in"}
        if extra:
            raise web.HTTPError(400, f"Unknown field(s): {', '.join(sorted(extra))}")
        expires_in = body.get("expires_in", self.ext.config_obj.share_link_expires_in)
        if (
            isinstance(expires_in, bool)
            or not isinstance(expires_in, int)
            or not SHARE_CODE_MIN_SECONDS <= expires_in <= SHARE_CODE_MAX_SECONDS
        ):
            raise web.HTTPError(
                400,
                f'"expires_in" must be whole seconds between {SHARE_CODE_MIN_SECONDS} and {SHARE_CODE_MAX_SECONDS}',
            )
        code = await self.hub_call(self.owner_hub().create_share_code(expires_in))
        accept_url = code.get("full_accept_url") or code.get("accept_url")
        self.log.info("Created share link for %s, expires %s", self.who, code.get("expires_at"))
        self.finish_json(
            {
                "id": code.get("id"),
                "code": code.get("code"),
                "accept_url": accept_url,
                "expires_at": code.get("expires_at"),
            },
            status=201,
        )

    @web.authenticated
    async def delete(self):
        self.require_owner("revoke share links")
        code_id = self.get_query_argument("id", None)
        if code_id is not None and (not code_id.startswith("sc_") or not code_id[3:].isdigit()):
            raise web.HTTPError(400, '"id" must look like sc_123')
        await self.hub_call(self.owner_hub().revoke_share_codes(code_id))
        self.log.info("Revoked share link(s) %s of %s", code_id or "(all unused)", self.who)
        self.set_status(204)
        self.finish()


class PortsHandler(SessionsAPIHandler):
    @web.authenticated
    async def get(self):
        ext = self.ext
        exclude = ext.own_ports()
        ports = await asyncio.to_thread(listening_ports, ext.root_pid, ext.ports_scope, exclude)
        base = self.base_url
        self.finish_json(
            [
                {
                    "port": p.port,
                    "address": p.address,
                    "process": p.process,
                    "proxy_url": url_path_join(base, "proxy", str(p.port)) + "/",
                    "absolute_proxy_url": url_path_join(base, "proxy", "absolute", str(p.port)) + "/",
                }
                for p in ports
            ]
        )


def make_handlers(base_url: str) -> list:
    prefix = url_path_join(base_url, "sessions-api")
    return [
        (url_path_join(prefix, "session"), SessionHandler),
        (url_path_join(prefix, "session", "renew"), RenewHandler),
        (url_path_join(prefix, "shares"), SharesHandler),
        (url_path_join(prefix, "share-codes"), ShareCodesHandler),
        (url_path_join(prefix, "ports"), PortsHandler),
        (url_path_join(prefix, "tcp", "([^/]+)"), TCPBridgeHandler),
        (url_path_join(prefix, "sftp"), SFTPBridgeHandler),
        (url_path_join(prefix, "exec"), ExecHandler),
    ]
