"""One hub per module for the dashboard tests, whose sessions service runs in the test process.

The hub is the embedded platform as shipped, except that the `sessions`
service is registered as an external service and run here, in a thread, so
a test can run a cull pass with an injected clock (`service.cull(now)`) and
the dashboard shows what that pass recorded. The profiles are a copy the
tests may edit, plus a type whose start fails (for members of the group
`fail-testers`). Screenshots go to $JHS_SCREENSHOT_DIR (default: a pytest
temporary directory); their paths are printed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import textwrap
import threading
from pathlib import Path

import pytest

from ..conftest import PROFILES
from ..hubtools import free_port, start_hub, wait_for

FAIL_GROUP = "fail-testers"


class InProcessService:
    """The sessions service (jupyterhub_sessions.service.app) on its own loop in a thread."""

    def __init__(self, hub_api_url: str, token: str, port: int, profiles: Path, state: Path):
        from jupyterhub_sessions.service.app import SessionsService

        self.app = SessionsService(
            hub_api_url=hub_api_url,
            api_token=token,
            service_name="sessions",
            service_prefix="/services/sessions/",
            bind_url=f"http://127.0.0.1:{port}",
            oauth_client_id="service-sessions",
            profiles_dir=str(profiles),
            state_file=str(state),
            cull_every=0,  # passes run when a test asks, with its clock
        )
        self.loop = asyncio.new_event_loop()
        self._stop = None
        self._thread = threading.Thread(target=self._run, name="sessions-service", daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def main():
            self._stop = asyncio.Event()
            await self.app.serve(self._stop)

        self.loop.run_until_complete(main())

    def start(self):
        self._thread.start()

    def call(self, coro, timeout=120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def cull(self, now):
        """One cull pass as of `now` (an aware datetime)."""
        return self.call(self.app.cull_once(now=now))

    def stop(self):
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def dash(tmp_path_factory):
    """(hub, service, profiles dir) with two users' worth of room; stopped at the end of the module."""
    root = tmp_path_factory.mktemp("dash")
    profiles = root / "profiles"
    shutil.copytree(PROFILES, profiles)
    failing = root / "failing-site"
    failing.mkdir()
    (failing / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import os, sys
            print("Loading the analysis toolkit", flush=True)
            print("ERROR: licence server license.example.org unreachable", file=sys.stderr, flush=True)
            os._exit(3)
            """
        )
    )
    (profiles / "analysis.yaml").write_text(
        textwrap.dedent(
            f"""
            display_name: Analysis toolkit
            description: JupyterLab with a licensed toolkit (its start fails here on purpose).
            image: {{default: example.org/analysis:1}}
            environment: {{PYTHONPATH: {str(failing)!r}}}
            timeouts: {{default: 3600, choices: [3600]}}
            access: {{groups: [{FAIL_GROUP}]}}
            """
        )
    )
    token, port = secrets.token_hex(32), free_port()
    extra = textwrap.dedent(
        f"""
        for _s in c.JupyterHub.services:
            if _s["name"] == "sessions":  # external: the test process runs it
                _s.pop("command", None)
                _s.pop("environment", None)
                _s["url"] = "http://127.0.0.1:{port}"
                _s["api_token"] = {token!r}
                if "timeout" in _s:  # the hub's start would wait that long: the service starts after it
                    _s["timeout"] = 1
        # the failing toolkit is installed outside the sandbox's default view
        c.LocalSessionSpawner.sandbox_readable_paths = [{str(failing)!r}]
        """
    )
    hub = start_hub(
        root / "hub",
        extra_config=extra,
        env={"JUPYTERHUB_SESSIONS_PROFILES": str(profiles), "JUPYTERHUB_SESSIONS_ADMINS": "admin"},
        timeout=180,
    )
    service = InProcessService(hub.api_url, token, port, profiles, root / "service-state.json")
    try:
        service.start()
        wait_for(
            lambda: hub.request("GET", "services/sessions/api/sessions").status_code == 200,
            timeout=30,
            what="the in-process sessions service behind the proxy",
        )
        yield hub, service, profiles
    finally:
        service.stop()
        hub.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Where screenshots go; a function that takes one and prints its path."""
    base = Path(os.environ.get("JHS_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    base.mkdir(parents=True, exist_ok=True)

    def take(page, name):
        path = base / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    take.dir = base
    return take


@pytest.fixture
def new_context(browser):
    """Fresh browser contexts (own cookies), closed after the test."""
    made = []

    def make(**kw):
        ctx = browser.new_context(viewport={"width": 1300, "height": 900}, **kw)
        ctx.set_default_timeout(30_000)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def stop_all_sessions(hub, user):
    for name, server in list(hub.user_model(user)["servers"].items()):
        if server.get("ready") or server.get("pending"):
            hub.stop_session(user, name)
