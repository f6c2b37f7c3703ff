"""Pages and REST API of the ssh hub service: devices, invites, and how to connect.

The page is rendered with the hub's own `page.html` (navbar, styles, dark
mode), found through jupyterhub's template directory (and
`SSHService.template_paths` first, for a customized hub), so it looks like
every other hub page. Forms work without JavaScript and are XSRF-protected;
JavaScript only adds copy buttons. The JSON API does the same and is what the
hub's home page calls for "Copy ssh command" and invites (docs/ssh.md).
Everything is scoped to the logged-in user; sessions come from the hub with
the service's own token.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from jupyterhub._data import DATA_FILES_PATH
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web

from ..hubservice import JSONHandlerMixin
from .devices import INVITE_PREFIX, UserIdentity
from .hubclient import SessionTarget, SessionUnavailable
from .keys import SIGNATURE_NAMESPACE, KeyValidationError
from .store import KeyConflict, KeyLimit

TEMPLATES = Path(__file__).parent / "templates"
HUB_TEMPLATES = Path(DATA_FILES_PATH) / "templates"
MAX_BODY = 32 * 1024
# fixed messages after a form action (never text from the URL, which anyone can craft)
NOTICES = {"added": "Key added.", "removed": "Key removed."}


def template_env(extra_paths=()) -> Environment:
    """Admin's templates, then ours, then the hub's (for `page.html`)."""
    loader = ChoiceLoader([FileSystemLoader([*extra_paths, str(TEMPLATES), str(HUB_TEMPLATES)])])
    return Environment(loader=loader, autoescape=select_autoescape(["html"], default=True))


def _alias_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def connection_info(host: str, port: int, user: str, server: str) -> dict:
    """The ssh command and ~/.ssh/config block for one session."""
    login = f"{user}+{server}" if server else user
    if "+" in user and not server:
        login = f"{user}+"
    alias = f"{_alias_part(host)}-{_alias_part(user)}" + (f"-{_alias_part(server)}" if server else "")
    port_opt = "" if port == 22 else f"-p {port} "
    target = shlex.quote(f"{login}@{host}")
    return {
        "server": server,
        "login": login,
        "ssh_command": f"ssh {port_opt}{target}",
        "sftp_command": f"sftp {port_opt.replace('-p', '-P')}{target}",
        "host_alias": alias,
        "ssh_config": f"Host {alias}\n    HostName {host}\n    Port {port}\n    User {login}\n",
    }


def challenge_command(challenge: str) -> str:
    """What the user runs to sign the challenge with their key."""
    return f"printf %s '{challenge}' | ssh-keygen -Y sign -n {SIGNATURE_NAMESPACE} -f ~/.ssh/id_ed25519"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


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

    async def identity(self) -> UserIdentity:
        try:
            return await self.service.identity(self.user_name())
        except (SessionUnavailable, OSError) as e:
            raise web.HTTPError(503, f"The hub could not be asked about you: {e}") from None

    def ssh_host(self) -> str:
        if self.service.public_host:
            return self.service.public_host
        return urlsplit("//" + self.request.host).hostname or "localhost"

    def ssh_port(self) -> int:
        return self.service.ssh_port

    def invite_command(self, code: str) -> str:
        port = self.ssh_port()
        port_opt = "" if port == 22 else f"-p {port} "
        return f"ssh {port_opt}{INVITE_PREFIX}{code}@{self.ssh_host()}"

    async def sessions_info(self, user: str) -> list[dict]:
        port = self.ssh_port()
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

    async def new_invite(self, user: UserIdentity, name) -> dict:
        default = connection_info(self.ssh_host(), self.ssh_port(), user.name, "")["ssh_command"]
        code, invite = self.service.create_invite(user, name, default)
        return {
            "login": INVITE_PREFIX + code,
            "command": self.invite_command(code),
            "key_name": invite.key_name,
            "expires_at": _iso(invite.expires_at),
            "expires_in": int(self.service.invite_ttl),
        }

    def new_challenge(self, user: UserIdentity) -> dict:
        challenge = self.service.challenges.make(user)
        return {
            "challenge": challenge,
            "namespace": SIGNATURE_NAMESPACE,
            "command": challenge_command(challenge),
            "expires_at": _iso(int(challenge.split(".")[0])),
        }

    @property
    def xsrf(self) -> str:
        token = self.xsrf_token
        return token.decode() if isinstance(token, bytes) else token


class PageHandler(BaseHandler):
    """GET: the user's sessions with ready commands, devices, invite and paste forms."""

    @web.authenticated
    async def get(self):
        await self.render_page()

    async def render_page(self, error: str = "", status: int = 200, form: dict | None = None, invite=None):
        identity = await self.identity()
        user = identity.name
        hub_prefix = self.settings["hub_prefix"]
        model = self.current_user
        html = (
            self.settings["jinja"]
            .get_template("ssh.html")
            .render(
                # what the hub's page.html expects
                base_url=hub_prefix,
                prefix=self.settings["base_prefix"],
                static_url=lambda path, include_version=True: url_path_join(hub_prefix, "static", path),
                version_hash="",
                user={"name": user, "json_escaped_name": json.dumps(user)[1:-1]},
                no_spawner_check=True,
                admin_access=bool(model.get("admin")),
                parsed_scopes={"admin-ui"} if model.get("admin") else set(),
                services=[{"name": self.service.name_in_hub, "href": self.settings["service_prefix"]}],
                logout_url=url_path_join(hub_prefix, "logout"),
                login_url=url_path_join(hub_prefix, "login"),
                logo_url="",
                announcement=None,
                xsrf_token=self.xsrf,
                # ours
                keys=await self.store.list(user, identity.created),
                sessions=await self.sessions_info(user),
                error=error,
                notice=NOTICES.get(self.get_argument("done", ""), "") if status == 200 else "",
                form=form or {},
                invite=invite,
                challenge=self.new_challenge(identity),
                service_prefix=self.settings["service_prefix"],
                xsrf=self.xsrf,
                host_key_fingerprint=self.service.host_key_fingerprint,
                max_keys=self.store.max_keys_per_user,
                auto_start=self.service.gateway.auto_start,
                invite_minutes=max(1, self.service.invite_ttl // 60),
            )
        )
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(html)


class AddKeyFormHandler(PageHandler):
    """POST (form): register a pasted key with its signed challenge, then back to the page."""

    @web.authenticated
    async def post(self):
        identity = await self.identity()
        form = {k: self.get_body_argument(k, "")[:10000] for k in ("name", "key", "signature")}
        try:
            await self.service.add_key(
                identity,
                form["name"][:200],
                form["key"],
                self.get_body_argument("challenge", ""),
                form["signature"],
            )
        except (KeyValidationError, KeyConflict, KeyLimit) as e:
            return await self.render_page(str(e), 400, form)
        self.redirect(f"{self.settings['service_prefix']}?done=added")


class RemoveKeyFormHandler(PageHandler):
    """POST (form): remove one of the user's keys."""

    @web.authenticated
    async def post(self, key_id: str):
        removed = await self.service.remove_key(await self.identity(), int(key_id))
        if removed is None:
            return await self.render_page("No such key (was it removed already?).", 404)
        self.redirect(f"{self.settings['service_prefix']}?done=removed")


class InviteFormHandler(PageHandler):
    """POST (form): a new invite command, shown once on the page."""

    @web.authenticated
    async def post(self):
        identity = await self.identity()
        name = self.get_body_argument("name", "")[:200]
        try:
            invite = await self.new_invite(identity, name)
        except KeyValidationError as e:
            return await self.render_page(str(e), 400, {"invite_name": name})
        await self.render_page(invite=invite)


class APIHandler(JSONHandlerMixin, BaseHandler):
    """JSON in, JSON out; errors are {"status", "message"}.

    Opened in a browser tab (a navigation), an API URL goes through the hub's
    OAuth like the page; anything else without credentials gets 401. Scripts on
    the hub's own pages call it with a short-lived token of the user scoped to
    this service (docs/ssh.md: JupyterHub refuses cookie-authenticated `fetch()`
    without this service's XSRF token, which other pages cannot read).
    """

    def get_login_url(self):
        if (
            self.request.method in ("GET", "HEAD")
            and self.request.headers.get("Sec-Fetch-Mode") == "navigate"
        ):
            return super().get_login_url()
        raise web.HTTPError(401, "Authentication required (token or hub login).")

    max_body = MAX_BODY

    def json_body(self) -> dict:
        return self.parse_json_object(self.request.body)


class KeysAPIHandler(APIHandler):
    @web.authenticated
    async def get(self):
        identity = await self.identity()
        keys = await self.store.list(identity.name, identity.created)
        self.write_json({"keys": [k.to_dict() for k in keys]})

    @web.authenticated
    async def post(self):
        identity = await self.identity()
        body = self.json_body()
        try:
            stored = await self.service.add_key(
                identity, body.get("name"), body.get("key"), body.get("challenge"), body.get("signature")
            )
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
        removed = await self.service.remove_key(await self.identity(), int(key_id))
        if removed is None:
            raise web.HTTPError(404, "No such key.")
        self.set_status(204)
        self.finish()


class ChallengeAPIHandler(APIHandler):
    """GET: a challenge to sign for registering a pasted key (valid 15 minutes)."""

    @web.authenticated
    async def get(self):
        self.write_json(self.new_challenge(await self.identity()))


class InvitesAPIHandler(APIHandler):
    """POST: a single-use invite command for one device."""

    @web.authenticated
    async def post(self):
        identity = await self.identity()
        body = self.json_body()
        try:
            invite = await self.new_invite(identity, body.get("name"))
        except KeyValidationError as e:
            raise web.HTTPError(400, str(e)) from None
        self.write_json(invite, 201)


class InfoAPIHandler(APIHandler):
    """How to connect: host, port, host key, each session's ssh command and config block."""

    @web.authenticated
    async def get(self):
        user = self.user_name()
        self.write_json(
            {
                "user": user,
                "host": self.ssh_host(),
                "port": self.ssh_port(),
                "host_key_fingerprint": self.service.host_key_fingerprint,
                "auto_start": self.service.gateway.auto_start,
                "invite_ttl": int(self.service.invite_ttl),
                "xsrf_token": self.xsrf,
                "sessions": await self.sessions_info(user),
            }
        )


def make_app(service, prefix: str, hub_prefix: str, base_prefix: str = "/") -> web.Application:
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    return web.Application(
        [
            (prefix, PageHandler),
            (prefix + "keys", AddKeyFormHandler),
            (prefix + r"keys/(\d{1,12})/delete", RemoveKeyFormHandler),
            (prefix + "invites", InviteFormHandler),
            (prefix + "api/keys", KeysAPIHandler),
            (prefix + r"api/keys/(\d{1,12})", KeyAPIHandler),
            (prefix + "api/challenge", ChallengeAPIHandler),
            (prefix + "api/invites", InvitesAPIHandler),
            (prefix + "api/info", InfoAPIHandler),
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
        ],
        ssh_service=service,
        service_prefix=prefix,
        hub_prefix=hub_prefix,
        base_prefix=base_prefix,
        jinja=template_env(service.template_paths),
        cookie_secret=service.cookie_secret,
        xsrf_cookies=False,  # HubOAuthenticated applies JupyterHub's XSRF checks to cookie auth
        max_body_size=MAX_BODY,
    )
