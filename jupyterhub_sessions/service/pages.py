"""The sessions service's browser pages: what the dashboard links to, in the hub's look.

The dashboard (the hub's home page) is rendered by the hub, which cannot put
this service's XSRF token in its forms. So, without JavaScript, Stop, Delete
and Renew are links to a confirmation page here (a form with our token),
and "+ New session" is a GET form to `new`, which checks the name and
redirects to the hub's spawn form. With JavaScript the dashboard calls the
REST API instead, after `login` gave it the token (fetch follows the OAuth
redirects, so the first call logs the browser in to this service).

Authentication is the hub's OAuth, as in the API; permission checks are
the API's (`may`), made before a session is looked up.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

from jupyterhub.services.auth import HubOAuthenticated, UserNotAllowed, check_scopes
from tornado import web

from ..hubpage import HubLook
from . import actions
from .endings import duration
from .hubclient import HubAPIError
from .sessions import Session

TEMPLATES = Path(__file__).parent / "templates"
MAX_NAME = 255
# JupyterHub 6 refuses other names for new servers; 5.5 accepts them, so one rule for both
SESSION_NAME_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,29}$")
SESSION_NAME_RULE = "1-30 characters: lowercase letters, digits and single hyphens, starting with a letter"

ACTIONS = {
    "stop": ("Stop session", "danger", "Stop"),
    "delete": ("Delete session", "danger", "Delete"),
    "renew": ("Renew session", "primary", "Renew"),
}


class PageHandler(HubOAuthenticated, web.RequestHandler):
    """A browser page: OAuth login by redirect, XSRF-checked forms, errors in the hub's look."""

    def initialize(self, service):
        self.service = service
        self.hub_auth = service.hub_auth

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-store")

    async def prepare(self):
        model = await self.hub_auth.get_user(self, sync=False)
        if model:
            try:
                self._hub_auth_user_cache = self.check_hub_user(model)
            except UserNotAllowed:
                raise web.HTTPError(403, f"{model.get('name')} may not use this service") from None
        else:
            self._hub_auth_user_cache = None
            if self.request.method in ("GET", "HEAD"):
                self.redirect(self.get_login_url())
                return
            raise web.HTTPError(403, "Log in to the hub first")
        if self.request.method not in ("GET", "HEAD"):
            self.hub_auth.check_xsrf_cookie(self)

    @property
    def caller(self) -> dict:
        return self._hub_auth_user_cache

    @property
    def look(self) -> HubLook:
        look = getattr(self.service, "_hub_look", None)
        if look is None:
            look = self.service._hub_look = HubLook([TEMPLATES])
        return look

    @property
    def hub_home(self) -> str:
        return self.look.hub_prefix + "home"

    def may(self, action: str, user: str, server: str) -> bool:
        if self.caller.get("kind", "user") == "user" and self.caller["name"] == user:
            return True
        return bool(
            check_scopes({f"{action}:servers!server={user}/{server}"}, set(self.caller.get("scopes") or []))
        )

    def render_page(self, template: str, status: int = 200, **ns) -> None:
        xsrf = self.xsrf_token
        xsrf = xsrf.decode() if isinstance(xsrf, bytes) else xsrf
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(self.look.render(template, user=self.caller, xsrf=xsrf, **ns))

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.log_message if isinstance(exc, web.HTTPError) and exc.log_message else self._reason
        if status_code >= 500 and not isinstance(exc, web.HTTPError):
            message = "Something went wrong; the service log has the details."
        self.set_header("Content-Type", "text/html; charset=utf-8")
        user = getattr(self, "_hub_auth_user_cache", None)
        self.finish(self.look.render("sessions_error.html", user=user, status=status_code, message=message))

    def log_exception(self, typ, value, tb):
        if not isinstance(value, web.HTTPError):
            super().log_exception(typ, value, tb)


class LoginHandler(PageHandler):
    """GET login: logs the browser in to this service (by redirect) and hands its script the XSRF token."""

    def get(self):
        xsrf = self.xsrf_token
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(
            json.dumps(
                {"user": self.caller["name"], "xsrf": xsrf.decode() if isinstance(xsrf, bytes) else xsrf}
            )
        )


class ConfirmHandler(PageHandler):
    """GET confirm/<action>/<user>/<server>: a form to confirm; POST: do it and go back to the dashboard."""

    async def lookup(self, action: str, user: str, server: str) -> tuple[Session | None, dict | None]:
        if len(user) > MAX_NAME or len(server) > MAX_NAME:
            raise web.HTTPError(404, "No such session")
        if not self.may("delete", user, server):
            raise web.HTTPError(403, f"You may not {action} sessions of user {user!r}")
        try:
            model = await self.service.client.get_user(user, include_stopped=action == "delete")
        except HubAPIError as e:
            raise web.HTTPError(502, f"The hub API failed: {e.message}") from None
        server_model = ((model or {}).get("servers") or {}).get(server)
        if server_model is None:
            raise web.HTTPError(404, f"No session {server or '(default)'!r} of user {user!r}")
        running = bool(server_model.get("ready") or server_model.get("pending"))
        session = Session(user, server, server_model) if running else None
        if action != "delete" and session is None:
            raise web.HTTPError(409, f"Session {server or '(default)'!r} is not running.")
        return session, server_model

    def describe(
        self, action: str, user: str, server: str, server_model: dict, session: Session | None
    ) -> str:
        label = f"“{server or 'default'}”" + ("" if user == self.caller["name"] else f" of {user}")
        drive = (server_model.get("user_options") or {}).get("drive")
        kept = f" Its drive “{drive}” and the files on it are kept." if drive else " Drives are kept."
        if action == "stop":
            return f"Stop session {label}? Unsaved work in open notebooks is lost.{kept}"
        if action == "delete":
            running = " It is running and will be stopped first." if session is not None else ""
            return f"Delete session {label}? It disappears from your list.{running}{kept}"
        st = self.service.policy.session_type(session)
        period = st.lifetime.effective_renewal_period if st else None
        return f"Renew session {label}? Its maximum age then ends {duration(period)} from now."

    async def get(self, action: str, user: str, server: str):
        session, server_model = await self.lookup(action, user, server)
        self.show(action, user, server, server_model, session)

    def show(self, action, user, server, server_model, session, error: str = "", status: int = 200):
        title, btn_class, button = ACTIONS[action]
        self.render_page(
            "sessions_confirm.html",
            status=status,
            title=title,
            text=self.describe(action, user, server, server_model, session),
            button=button,
            btn_class=btn_class,
            error=error,
            home=self.hub_home,
        )

    async def post(self, action: str, user: str, server: str):
        session, server_model = await self.lookup(action, user, server)
        try:
            if action == "stop":
                await actions.stop(self.service, session, self.caller)
            elif action == "delete":
                await actions.delete(self.service, user, server, self.caller)
            else:
                await actions.renew(self.service, session, self.caller)
        except web.HTTPError as e:
            if e.status_code != 409:
                raise
            return self.show(action, user, server, server_model, session, error=e.log_message, status=409)
        self.redirect(self.hub_home)


class NewSessionHandler(PageHandler):
    """GET new?name=<name>: the dashboard's "+ New session" without JavaScript: to the spawn form."""

    def get(self):
        name = self.get_argument("name", "").strip()
        if not SESSION_NAME_RE.match(name):
            shown = name if len(name) <= 60 else name[:60] + "…"
            raise web.HTTPError(400, f"“{shown}” is not a valid session name: {SESSION_NAME_RULE}.")
        user = self.caller["name"]
        if self.caller.get("kind", "user") != "user":
            raise web.HTTPError(403, "Only users have sessions")
        self.redirect(f"{self.look.hub_prefix}spawn/{quote(user, safe='')}/{name}")


def page_routes(prefix: str, service) -> list:
    from .usertypes_pages import usertype_page_routes  # its handlers subclass PageHandler

    p = prefix.rstrip("/") + "/"
    kw = {"service": service}
    action = "(" + "|".join(ACTIONS) + ")"
    return [
        (p + "login", LoginHandler, kw),
        (p + "new", NewSessionHandler, kw),
        (p + f"confirm/{action}/([^/]+)/([^/]*)", ConfirmHandler, kw),
        *usertype_page_routes(prefix, service),
    ]
