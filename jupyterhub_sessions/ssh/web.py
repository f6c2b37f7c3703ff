"""Pages and REST API of the ssh hub service: register device keys, see how to connect.

Server-rendered forms (work without JavaScript, XSRF-protected) and a JSON
API for the same actions. Everything is scoped to the logged-in user; the
sessions list comes from the hub with the service's own token.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web

from .hubclient import SessionTarget
from .keys import KeyValidationError
from .store import KeyConflict, KeyLimit

TEMPLATES = Path(__file__).parent / "templates"
_jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
MAX_BODY = 32 * 1024
# fixed messages after a form action (never text from the URL, which anyone can craft)
NOTICES = {"added": "Key added.", "removed": "Key removed."}


def _alias_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def connection_info(host: str, port: int, user: str, server: str) -> dict:
    """The ssh command and ~/.ssh/config block for one session."""
    login = f"{user}+{server}" if server else user
    if "+" in user and not server:
        login = f"{user}+"
    alias = f"{_alias_part(host)}-{_alias_part(user)}" + (f"-{_alias_part(server)}" if server else "")
    port_opt = "" if port == 22 else f"-p {port} "
    return {
        "server": server,
        "login": login,
        "ssh_command": f"ssh {port_opt}{login}@{host}",
        "sftp_command": f"sftp {port_opt.replace('-p', '-P')}{login}@{host}",
        "host_alias": alias,
        "ssh_config": f"Host {alias}\n    HostName {host}\n    Port {port}\n    User {login}\n",
    }


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    @property
    def service(self):
        return self.settings["ssh_service"]

    @property
    def store(self):
        return self.service.store

    def user_name(self) -> str:
        user = self.current_user
        if not user or user.get("kind", "user") != "user":
            raise web.HTTPError(403, "Only users can manage SSH keys.")
        return user["name"]

    def ssh_host(self) -> str:
        if self.service.public_host:
            return self.service.public_host
        return urlsplit("//" + self.request.host).hostname or "localhost"

    async def sessions_info(self, user: str) -> list[dict]:
        port = self.service.ssh_port
        host = self.ssh_host()
        targets = await self.service.hub.list_sessions(user)
        if not any(t.server == "" for t in targets):
            targets.insert(0, SessionTarget(user, "", False, False, None, "", {}))
        out = []
        for t in targets:
            info = connection_info(host, port, user, t.server)
            info.update(
                ready=t.ready,
                pending=t.pending,
                drive=t.drive,
                state="running" if t.ready else (t.pending or "stopped"),
            )
            out.append(info)
        return out


class PageHandler(BaseHandler):
    """GET: the user's keys, the add form and each session's ssh command."""

    @web.authenticated
    async def get(self):
        await self.render_page()

    async def render_page(self, error: str = "", status: int = 200, form: dict | None = None):
        user = self.user_name()
        keys = await self.store.list(user)
        prefix = self.settings["service_prefix"]
        html = _jinja.get_template("ssh.html").render(
            user=user,
            keys=keys,
            sessions=await self.sessions_info(user),
            error=error,
            notice=NOTICES.get(self.get_argument("done", ""), "") if status == 200 else "",
            form=form or {},
            prefix=prefix,
            xsrf=self.xsrf_token.decode() if isinstance(self.xsrf_token, bytes) else self.xsrf_token,
            host_key_fingerprint=self.service.host_key_fingerprint,
            hub_url=url_path_join(self.settings["hub_prefix"], "home"),
            max_keys=self.store.max_keys_per_user,
            auto_start=self.service.gateway.auto_start,
        )
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(html)


class AddKeyFormHandler(PageHandler):
    """POST (form): register a key, then back to the page."""

    @web.authenticated
    async def post(self):
        user = self.user_name()
        name = self.get_body_argument("name", "")[:200]
        text = self.get_body_argument("key", "")
        try:
            await self.service.add_key(user, name, text)
        except (KeyValidationError, KeyConflict, KeyLimit) as e:
            return await self.render_page(str(e), 400, {"name": name, "key": text[:10000]})
        self.redirect(f"{self.settings['service_prefix']}?done=added")


class RemoveKeyFormHandler(PageHandler):
    """POST (form): remove one of the user's keys."""

    @web.authenticated
    async def post(self, key_id: str):
        user = self.user_name()
        removed = await self.service.remove_key(user, int(key_id))
        if removed is None:
            return await self.render_page("No such key (was it removed already?).", 404)
        self.redirect(f"{self.settings['service_prefix']}?done=removed")


class APIHandler(BaseHandler):
    """JSON in, JSON out; errors are {"status", "message"}."""

    def get_login_url(self):
        raise web.HTTPError(401, "Authentication required (token or hub login).")

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "message": message}))

    def write_json(self, data, status=200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def json_body(self) -> dict:
        if len(self.request.body) > MAX_BODY:
            raise web.HTTPError(413, "Request too large.")
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "Body must be JSON.") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Body must be a JSON object.")
        return body


class KeysAPIHandler(APIHandler):
    @web.authenticated
    async def get(self):
        keys = await self.store.list(self.user_name())
        self.write_json({"keys": [k.to_dict() for k in keys]})

    @web.authenticated
    async def post(self):
        user = self.user_name()
        body = self.json_body()
        try:
            stored = await self.service.add_key(user, body.get("name"), body.get("key"))
        except KeyValidationError as e:
            raise web.HTTPError(400, str(e)) from None
        except KeyConflict as e:
            raise web.HTTPError(409, str(e)) from None
        except KeyLimit as e:
            raise web.HTTPError(403, str(e)) from None
        self.write_json(stored.to_dict(), 201)


class KeyAPIHandler(APIHandler):
    @web.authenticated
    async def delete(self, key_id: str):
        removed = await self.service.remove_key(self.user_name(), int(key_id))
        if removed is None:
            raise web.HTTPError(404, "No such key.")
        self.set_status(204)
        self.finish()


class InfoAPIHandler(APIHandler):
    """How to connect: host, port, host key fingerprint, and each session's ssh command."""

    @web.authenticated
    async def get(self):
        user = self.user_name()
        self.write_json(
            {
                "host": self.ssh_host(),
                "port": self.service.ssh_port,
                "host_key_fingerprint": self.service.host_key_fingerprint,
                "auto_start": self.service.gateway.auto_start,
                "sessions": await self.sessions_info(user),
            }
        )


def make_app(service, prefix: str, hub_prefix: str) -> web.Application:
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    return web.Application(
        [
            (prefix, PageHandler),
            (prefix + "keys", AddKeyFormHandler),
            (prefix + r"keys/(\d{1,12})/delete", RemoveKeyFormHandler),
            (prefix + "api/keys", KeysAPIHandler),
            (prefix + r"api/keys/(\d{1,12})", KeyAPIHandler),
            (prefix + "api/info", InfoAPIHandler),
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
        ],
        ssh_service=service,
        service_prefix=prefix,
        hub_prefix=hub_prefix,
        cookie_secret=service.cookie_secret,
        xsrf_cookies=False,  # HubOAuthenticated applies JupyterHub's XSRF checks to cookie auth
        max_body_size=MAX_BODY,
    )
