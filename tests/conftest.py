"""Shared fixtures: paths to the shipped profiles and a scratch profiles dir."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"

# fake Kubernetes API fixtures: kube_api, kube, kube_client
pytest_plugins = ["tests.kube_fake.fixtures"]


@pytest.fixture
def shipped_types():
    from jupyterhub_sessions.profiles import load_session_types

    return load_session_types(PROFILES)


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


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> Path:
    """The project's wheel, built once per test run (`pip wheel . --no-deps`).

    Stand-in of the cluster branch; the packaging branch's fixture of the same name and
    signature replaces it.
    """
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True,
        timeout=600,
    )
    (wheel,) = out.glob("jupyterhub_sessions-*.whl")
    return wheel
