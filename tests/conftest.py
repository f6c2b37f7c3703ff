"""Shared fixtures: paths to the shipped profiles, the built wheel, a hub, a browser."""

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# the example session types and the local hub config ship inside the package
PROFILES = REPO / "jupyterhub_sessions" / "configs" / "profiles"

# fake Kubernetes API fixtures: kube_api, kube, kube_client
pytest_plugins = ["tests.kube_fake.fixtures"]


@pytest.fixture
def shipped_types():
    from jupyterhub_sessions.profiles import load_session_types

    return load_session_types(PROFILES)


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> Path:
    """The project's wheel, built once per test session (from this checkout, like `pip wheel .`).

    The JupyterLab extension is built into it by the build hook (npm, only here); installing
    the wheel needs no node. Tests install it into venvs of their own.
    """
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, f"building the wheel failed:\n{r.stdout}\n{r.stderr}"
    (wheel,) = out.glob("jupyterhub_sessions-*.whl")
    return wheel


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    """One running embedded platform shared by the whole test run (use hub.new_user())."""
    from .hubtools import start_hub

    h = start_hub(tmp_path_factory.mktemp("hub"), timeout=180)  # services start slowly on a busy box
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (never a downloaded browser).

    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop
    running in the main thread while it is open, and every async test
    (pytest-asyncio) after it would fail with "cannot be called from a
    running event loop". Closing it after each module keeps both kinds working.
    """
    from playwright.sync_api import sync_playwright

    from .hubtools import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class _SessionPod(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"session " + self.path.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def pod_server():
    """What every fake session pod serves (give the kubelet pod_ip 127.0.0.1, KubeSpawner this port):
    any answer tells the hub the server is up; the body names the path asked for."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SessionPod)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
