"""Helpers for tests of personal session types through a running hub."""

from __future__ import annotations

import itertools
import os
from urllib.parse import quote

import requests

from ..hubtools import wait_for

_groups = itertools.count(1)
API = "services/sessions/api/"
GOOD = {"name": "My R", "image": "quay.io/jupyter/r-notebook:2025-10-20"}


def types_api(hub, method: str, path: str = "", token: str | None = None, **kw):
    return hub.request(method, API + "user-types" + (f"/{path}" if path else ""), token=token, **kw)


def create_type(hub, user: str, **spec) -> dict:
    r = types_api(hub, "POST", token=hub.user_token(user), json={"spec": {**GOOD, **spec}})
    assert r.status_code == 201, r.text
    return r.json()


def new_group(hub, *members: str) -> str:
    name = f"grp{os.getpid()}x{next(_groups)}"
    r = hub.api("POST", f"groups/{quote(name)}", json={"users": list(members)})
    assert r.status_code == 201, r.text
    return name


def page_session(hub, name: str) -> requests.Session:
    """A browser-like session logged in through the hub's login form (pages do not take tokens)."""
    s = requests.Session()
    s.get(hub.url + "hub/login", timeout=30).raise_for_status()
    r = s.post(
        hub.url + "hub/login",
        data={
            "username": name,
            "password": hub.env.get("JUPYTERHUB_SESSIONS_DEMO_PASSWORD", "x"),
            "_xsrf": s.cookies.get("_xsrf"),
        },
        timeout=30,
    )
    r.raise_for_status()
    return s


def page(hub, user: str, path: str) -> str:
    """A hub page as `user` sees it, as text (the hub's pages are UTF-8)."""
    r = page_session(hub, user).get(hub.url + path, timeout=30)
    assert r.status_code == 200, r.status_code
    return r.content.decode("utf-8")


def session_env(hub, user: str, server: str) -> dict:
    """The environment of the running session server of user/server (its process)."""

    def find():
        for _, env in hub.session_processes():
            if env.get("JUPYTERHUB_USER") == user and env.get("JUPYTERHUB_SERVER_NAME") == server:
                return env
        return None

    return wait_for(find, timeout=30, what=f"the process of {user}/{server}")
