"""Pages that hub services serve in the hub's own look: JupyterHub's page.html, its navbar and theme.

A service runs outside the hub process, so it cannot call the hub's
`render_template`. It can load the same templates (JupyterHub's installed
`share/jupyterhub/templates`, after the service's own) and fill in the
variables page.html reads: the hub prefix, static files (served by the hub
at /hub/static/), the user (from the service's OAuth identity) and the XSRF
token of the service's own form. The result looks and behaves like a hub
page; links in the navbar go back to the hub.

page.html prints "JupyterHub requires JavaScript" to browsers without it;
pages rendered here work without JavaScript, so `no_js_banner=False` hides
that banner (a template block can override it too).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

try:  # JupyterHub's installed data files (share/jupyterhub); the same lookup the hub makes
    from jupyterhub._data import DATA_FILES_PATH
except ImportError:  # pragma: no cover - jupyterhub is a dependency
    DATA_FILES_PATH = ""

HUB_TEMPLATES = Path(DATA_FILES_PATH) / "templates"


def json_escaped(name: str) -> str:
    """A name inside a JavaScript string literal in HTML (what page.html expects for the user)."""
    return json.dumps(name)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class _PageUser:
    """The attributes of JupyterHub's User that page.html reads."""

    def __init__(self, model: dict):
        self.name = model["name"]
        self.json_escaped_name = json_escaped(self.name)
        self.admin = bool(model.get("admin"))


class HubLook:
    """Render templates that extend JupyterHub's page.html, from a hub service."""

    def __init__(self, template_dirs: list[str | Path], base_url: str | None = None):
        base = base_url if base_url is not None else os.environ.get("JUPYTERHUB_BASE_URL", "/")
        self.base_url = base if base.endswith("/") else base + "/"
        self.hub_prefix = self.base_url + "hub/"
        loaders = [FileSystemLoader([str(d) for d in template_dirs])]
        if HUB_TEMPLATES.is_dir():
            loaders.append(FileSystemLoader(str(HUB_TEMPLATES)))
        self.env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(default=True))

    def static_url(self, path: str, include_version: bool = True) -> str:
        return self.hub_prefix + "static/" + path.lstrip("/")

    def namespace(self, user: dict | None, xsrf: str) -> dict:
        page_user = _PageUser(user) if user else None
        return {
            "base_url": self.hub_prefix,
            "prefix": self.base_url,
            "user": page_user,
            "login_url": self.hub_prefix + "login",
            "logout_url": self.hub_prefix + "logout",
            "static_url": self.static_url,
            "version_hash": "",
            "services": [],
            "parsed_scopes": {"admin-ui": True} if page_user and page_user.admin else {},
            "xsrf_token": xsrf,
            "xsrf": xsrf,
            "no_spawner_check": True,  # page.html would ask the hub's spawner about its options form
            "announcement": None,
            "no_js_banner": False,
        }

    def render(self, template: str, *, user: dict | None, xsrf: str = "", **ns) -> str:
        return self.env.get_template(template).render({**self.namespace(user, xsrf), **ns})
