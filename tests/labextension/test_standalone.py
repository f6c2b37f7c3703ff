"""The JupyterLab extension in a session whose hub cannot be reached: a plain
`jupyter lab` (token auth, free port) started the way a non-collaborative
session is, with the server extension loaded but no hub behind it.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import signal
import subprocess
import sys

import pytest
import requests

from jupyterhub_sessions.hub.args import server_args
from jupyterhub_sessions.session_info import SessionInfo
from tests.hubtools import free_port, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# Hostile on purpose: must be shown as text.
DISPLAY_NAME = '<img src=x onerror="document.title=\'pwned\'">Notebook'
SESSION = {
    "session_type": "notebook",
    "display_name": DISPLAY_NAME,
    "drive": "home",
    "timeout": 3600,
    "collaborative": False,
    "interface": {"kind": "lab"},
    "server_name": "",
    "service": "sessions",
}


def _die_with_parent():
    # PR_SET_PDEATHSIG: the server goes away even if pytest is killed.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    env.update(
        JUPYTERHUB_SESSIONS_SESSION=json.dumps(SESSION),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTER_CONFIG_DIR=str(root / "config"),
        HOME=str(root),
    )
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={root / 'settings'}", f"--LabApp.workspaces_dir={root / 'workspaces'}",
        *server_args(SessionInfo.model_validate(SESSION)),
    ]
    log = open(root / "lab.log", "wb")
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent)
    url = f"http://127.0.0.1:{port}/"
    try:
        def up():
            if proc.poll() is not None:
                return "exited"
            return requests.get(url + "api/status", params={"token": token}, timeout=2).ok

        if wait_for(up, timeout=120, interval=0.3, what="jupyter lab") == "exited":
            pytest.fail("jupyter lab exited:\n" + (root / "lab.log").read_text(errors="replace")[-3000:])
        yield url, token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.close()


def test_without_hub_the_panel_says_why_and_hides_share(lab, browser):
    url, token = lab
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}lab?token={token}", timeout=120_000)

    status = page.locator(".jp-SessionsStatus-text")
    status.wait_for(state="visible", timeout=90_000)
    assert status.inner_text() == f"{DISPLAY_NAME} · time left unknown"

    status.click()
    panel = page.locator("#jupyterhub-sessions-panel")
    panel.wait_for(state="visible", timeout=30_000)
    assert panel.locator(".jp-SessionsPanel-type").inner_text() == DISPLAY_NAME
    assert panel.locator("img").count() == 0
    assert "no JupyterHub API token" in panel.locator(".jp-SessionsPanel-timingError").inner_text()
    assert panel.locator(".jp-SessionsPanel-timeLeft").inner_text() == "unknown"
    # Not collaborative: no Share section; no hub: nothing to renew.
    assert panel.locator(".jp-SessionsPanel-sharing").count() == 0
    assert panel.locator(".jp-SessionsPanel-renew").count() == 0
    panel.get_by_text("No web server is listening in this session.").wait_for(timeout=30_000)
    assert page.title() != "pwned"

    # Themes: the panel follows JupyterLab's colours.
    def brightness():
        rgb = panel.evaluate("el => getComputedStyle(el).backgroundColor")
        return sum(int(v) for v in re.findall(r"\d+", rgb)[:3]) / 3

    assert brightness() > 200
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-item[data-type='submenu']:has(.lm-Menu-itemLabel:text-is('Theme'))").hover()
    page.locator(".lm-Menu-item", has_text="JupyterLab Dark").first.click()
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    wait_for(lambda: brightness() < 80, timeout=15, what="dark panel")

    # with collaboration off, jupyter-collaboration's frontend is left out too:
    # no console errors at all (it used to open a room websocket and get 404)
    assert errors == [], errors
    page.close()


def test_notebook7_shows_the_countdown_in_its_header_and_opens_the_panel(lab, browser):
    url, token = lab
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"{e}\n{e.stack}"))
    page.goto(f"{url}tree?token={token}", timeout=120_000)

    # Notebook 7 has no status bar: the item lives in the header.
    status = page.locator("#jupyterhub-sessions-status .jp-SessionsStatus-text")
    status.wait_for(state="visible", timeout=90_000)
    assert status.inner_text() == f"{DISPLAY_NAME} · time left unknown"
    status.click()
    panel = page.locator("#jupyterhub-sessions-panel")
    panel.wait_for(state="visible", timeout=30_000)
    assert panel.locator(".jp-SessionsPanel-drive").inner_text() == "home"
    # Notebook 7 itself throws one settings error on /tree; count only ours.
    ours = [e for e in errors if "/extensions/jupyterhub-sessions/" in e]
    assert ours == [], errors
    page.close()
