"""The dashboard's rules and its template, without a hub: states, actions, texts, escaping.

The template is rendered with the installed JupyterHub's own templates
(page.html), the way the hub renders home.html, so it is checked against
whichever JupyterHub version the suite runs with.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from html.parser import HTMLParser

import pytest
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from traitlets.config import Config

from jupyterhub_sessions import dashboard
from jupyterhub_sessions.dashboard import view
from jupyterhub_sessions.hubpage import HUB_TEMPLATES

NOW = "2026-01-01T12:00:00Z"


def server(name, **kw):
    base = {
        "user": "alice",
        "name": name,
        "user_options": {"session_type": "notebook", "drive": "home", "timeout": 3600, "cpu": 1.0},
        "running": False,
        "ready": False,
        "pending": None,
        "started": None,
        "last_activity": None,
        "url": f"/user/alice/{name}/",
        "launch_failure": None,
        "progress": None,
    }
    return {**base, **kw}


def facts(shipped_types, **kw):
    base = {
        "base_url": "/",
        "me": "alice",
        "admin": False,
        "now": NOW,
        "mine": [],
        "access": {},
        "shared": [],
        "timing": [],
        "ended": [],
        "types": shipped_types,
        "types_error": None,
        "unavailable": {"carta": "its app program 'carta' is not installed"},
        "drives": {},
        "limit": 3,
        "notes": [],
    }
    return {**base, **kw}


def timing(name, **kw):
    base = {
        "user": "alice",
        "name": name,
        "expires_at": "2026-01-01T12:53:00Z",
        "expiry_reason": "idle",
        "timeout": 3600,
        "renewable": True,
        "renewals": 0,
        "max_renewals": None,
        "mode": "browser",
        "deadlines": {"idle": "2026-01-01T12:53:00Z", "max_age": "2026-01-05T11:00:00Z"},
    }
    return {**base, **kw}


def test_states_and_the_actions_each_offers(shipped_types):
    model = view.build(
        facts(
            shipped_types,
            mine=[
                server("run", running=True, ready=True, started=NOW),
                server(
                    "collab",
                    running=True,
                    ready=True,
                    user_options={"session_type": "notebook", "collaborative": True},
                ),
                server("launch", running=True, pending="spawn", progress="Extension loaded: x"),
                server("stopping", running=True, pending="stop"),
                server("stopped"),
                server("fresh", user_options={}),
                server(
                    "failed",
                    launch_failure={"at": "2026-01-01T11:00:00Z", "message": "boom", "output": ["x"]},
                ),
                server("old-failure", launch_failure={"at": "2026-01-01T09:00:00Z", "message": "boom"}),
                server("viewer", user_options={"session_type": "carta", "drive": "home"}),
            ],
            timing=[timing("run"), timing("collab", renewable=False)],
            ended=[
                {
                    "user": "alice",
                    "name": "stopped",
                    "reason": "stopped",
                    "by": "alice",
                    "ended_at": "2026-01-01T10:00:00Z",
                },
                {
                    "user": "alice",
                    "name": "old-failure",
                    "reason": "idle",
                    "message": "Stopped after 1 hour idle.",
                    "ended_at": "2026-01-01T10:00:00Z",
                },
            ],
        )
    )
    rows = {r["name"]: r for r in model["sessions"]}
    assert {n: r["state"] for n, r in rows.items()} == {
        "run": "running",
        "collab": "running",
        "launch": "launching",
        "stopping": "stopping",
        "stopped": "stopped",
        "fresh": "new",
        "failed": "failed",
        "old-failure": "stopped",  # ended after the failed start was retried
        "viewer": "stopped",
    }
    assert rows["run"]["actions"] == ["open", "renew", "ssh", "stop"]
    assert rows["collab"]["actions"] == ["open", "ssh", "share", "stop"]  # not renewable, collaborative
    assert (
        rows["launch"]["actions"] == ["progress", "stop"]
        and rows["launch"]["progress"] == "Extension loaded: x"
    )
    assert rows["stopping"]["actions"] == []
    assert rows["stopped"]["actions"] == ["restart", "options", "delete"]
    assert rows["stopped"]["end"]["message"] == "Stopped by you."
    assert rows["old-failure"]["end"]["message"] == "Stopped after 1 hour idle."
    assert rows["fresh"]["actions"] == ["options", "delete"]
    assert rows["failed"]["actions"] == ["restart", "options", "delete"] and rows["failed"]["failure"][
        "output"
    ] == ["x"]
    assert "restart" not in rows["viewer"]["actions"] and rows["viewer"]["unavailable"].startswith("its app")
    assert rows["run"]["options"] == {
        "session_type": "notebook",
        "drive": "home",
        "timeout": 3600,
        "cpu": 1.0,
    }
    assert rows["run"]["spawn_url"] == "/hub/spawn/alice/run"


def test_time_left_says_why():
    now = NOW
    assert view.time_left(timing("x"), now)["left"] == "53 min"
    assert view.time_left(timing("x"), now)["why"] == "if idle (1 hour idle timeout)"
    ssh = view.time_left(
        timing("x", expiry_reason="absolute", timeout=14400, expires_at="2026-01-01T15:10:00Z"), now
    )
    assert (ssh["left"], ssh["why"]) == ("3 h 10 min", "4 hours timeout counted from the start (SSH session)")
    connected = view.time_left(
        timing(
            "x",
            expiry_reason="absolute",
            timeout=14400,
            expires_at="2026-01-01T15:10:00Z",
            timeout_applies="absolute",
            timeout_basis="ssh_connected",
            ssh_connections=2,
        ),
        now,
    )
    assert connected["why"] == (
        "4 hours timeout counted from the start while 2 SSH connections open; "
        "idle again once the last one closes"
    )
    after_ssh = view.time_left(
        timing("x", timeout_applies="idle", timeout_basis="ssh_closed", ssh_closed_at="2026-01-01T12:40:00Z"),
        now,
    )
    assert after_ssh["why"].startswith(
        "if idle (1 hour idle timeout), counted from the last SSH disconnect at "
    )
    age = view.time_left(timing("x", expiry_reason="max_age", expires_at="2026-01-03T16:00:00Z"), now)
    assert (age["left"], age["why"]) == ("2 days 4 h", "maximum age")
    never = view.time_left(timing("x", expires_at=None, expiry_reason=None, timeout=-1), now)
    assert (never["left"], never["why"], never["reason"]) == ("", "never times out", "never")
    assert view.time_left(timing("x", renewals=1, max_renewals=3), now)["renewals"] == "1 of 3 renewals used"


def test_the_limit_counts_what_it_says_and_how_to_free_a_slot():
    assert view.limit_text(1, 3)["text"].startswith(
        "You have 1 of 3 sessions (running, stopped and not yet started"
    )
    full = view.limit_text(3, 3)
    assert (
        full["full"]
        and "delete a session you no longer need to start a new one (its drive is kept)" in full["text"]
    )
    assert not view.limit_text(7, 0)["full"]
    assert view.suggested_name({"session-1", "session-2"}) == "session-3"


def test_access_text():
    assert view.access_text({}) == "not shared yet"
    assert view.access_text({"users": ["bob"], "groups": ["physics"], "links": 2}) == (
        "shared with bob, group physics, 2 open share links"
    )


EVIL = '<script>alert("x")</script>'


class _Page:
    def __init__(self, name):
        self.name = name
        self.json_escaped_name = json.dumps(name)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e")
        self.spawner = type("S", (), {"options_form": None})()


class _Dashboard:
    def __init__(self, model):
        self.model = model

    async def load(self):
        await asyncio.sleep(0)
        return self.model


def render_home(model, user="alice") -> str:
    """home.html as JupyterHub renders it (async Jinja, autoescape, its page.html)."""
    env = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(str(dashboard.TEMPLATES)), FileSystemLoader(str(HUB_TEMPLATES))]
        ),
        autoescape=True,
        enable_async=True,
    )
    ns = {
        "base_url": "/hub/",
        "prefix": "/",
        "user": _Page(user),
        "static_url": lambda p, include_version=True: "/hub/static/" + p,
        "login_url": "/hub/login",
        "logout_url": "/hub/logout",
        "services": [],
        "parsed_scopes": {},
        "xsrf_token": "x",
        "xsrf": "x",
        "version_hash": "",
        "sessions_dashboard": _Dashboard(model),
    }
    return asyncio.run(env.get_template("home.html").render_async(**ns))


class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline_scripts = []
        self._in = False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "script" and not dict(attrs).get("src")

    def handle_data(self, data):
        if self._in:
            self.inline_scripts.append(data)

    def handle_endtag(self, tag):
        self._in = False


def test_the_page_renders_in_jupyterhubs_page_and_escapes_hostile_names(shipped_types):
    model = view.build(
        facts(
            shipped_types,
            admin=True,
            me=EVIL,
            mine=[
                server(
                    "s",
                    user=EVIL,
                    running=True,
                    ready=True,
                    user_options={"session_type": "notebook", "drive": EVIL},
                )
            ],
            timing=[timing("s", user=EVIL)],
            shared=[{"owner": EVIL, "name": "x", "session_type": EVIL, "running": True, "via_group": EVIL}],
            everyone=[
                server(
                    "s",
                    user=EVIL,
                    running=True,
                    ready=True,
                    user_options={"session_type": EVIL, "drive": EVIL},
                )
            ],
            admin_drives={EVIL: [{"name": EVIL, "size": EVIL}]},
            types_error=EVIL,
            notes=[EVIL],
        )
    )
    html = render_home(model, user=EVIL)
    assert EVIL not in html and "&lt;script&gt;alert(" in html
    assert 'id="jhs-dashboard"' in html and 'id="jhs-admin"' in html and "jupyterhub-logo" in html
    parser = _Scripts()
    parser.feed(html)
    assert all("<script>alert" not in s for s in parser.inline_scripts)
    config = json.loads(html.split('id="jhs-config">', 1)[1].split("</script>", 1)[0])
    assert config["user"] == EVIL  # JSON in a script element: escaped for HTML, intact for the script
    assert "#noscript { display: none; }" in html


def test_configure_puts_the_templates_first_and_keeps_a_private_token(tmp_path):
    c = Config()
    c.JupyterHub.template_paths = ["/custom/templates"]
    c.JupyterHub.services = [{"name": "sessions", "url": "http://127.0.0.1:1"}]
    c.JupyterHub.load_roles = []
    dashboard.configure_hub(c, data_dir=tmp_path)
    dashboard.configure_hub(c, data_dir=tmp_path)  # idempotent
    assert c.JupyterHub.template_paths == [str(dashboard.TEMPLATES), "/custom/templates"]
    entries = [s for s in c.JupyterHub.services if s["name"] == "sessions-dashboard"]
    assert len(entries) == 1 and len(entries[0]["api_token"]) == 64
    token_file = tmp_path / "sessions-dashboard-token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert token_file.read_text().strip() == entries[0]["api_token"]
    (role,) = c.JupyterHub.load_roles
    assert sorted(role["scopes"]) == ["access:services!service=sessions", "read:servers"]
    vars_ = c.JupyterHub.template_vars.to_dict()["update"]["sessions_dashboard"]
    assert vars_(None) is None  # pages without a user (login) cost nothing
    assert vars_.find_service("sessions")["url"] == "http://127.0.0.1:1" and not vars_.has_ssh()


@pytest.mark.parametrize("name", ["a", "work-2", "x" * 30])
def test_session_names_the_service_accepts(name):
    from jupyterhub_sessions.service.pages import SESSION_NAME_RE

    assert SESSION_NAME_RE.match(name)


@pytest.mark.parametrize("name", ["", "A", "2x", "a--b", "a-", "a b", "x" * 31, "../x", "é"])
def test_session_names_the_service_refuses(name):
    from jupyterhub_sessions.service.pages import SESSION_NAME_RE

    assert not SESSION_NAME_RE.match(name)
