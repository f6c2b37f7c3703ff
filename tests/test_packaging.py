"""The wheel alone is a working install: no source checkout, no node, the chart's versions.

This is also the proof of the hub image's install step (hub_config/kubernetes/Dockerfile
installs only the wheel into the chart's hub image, which has no node): a clean venv
with the versions pinned by the chart's hub image, PATH without node or npm, run from a
directory outside the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import psutil
import pytest
import requests

from tests.conftest import PROFILES, REPO
from tests.hub_config.chart import chart_dir, chart_pins, chart_python
from tests.hubtools import free_port, kill_processes_of, marked, wait_for

NODE_TOOLS = ("node", "nodejs", "npm", "npx", "corepack", "configurable-http-proxy")


def test_the_wheel_carries_what_the_code_needs(built_wheel):
    names = set(zipfile.ZipFile(built_wheel).namelist())
    for profile in PROFILES.glob("*.yaml"):
        assert f"jupyterhub_sessions/configs/profiles/{profile.name}" in names
    assert "jupyterhub_sessions/configs/local_config.py" in names
    assert "jupyterhub_sessions/spawner/templates/spawn_form.html" in names
    assert "jupyterhub_sessions/ssh/templates/ssh.html" in names
    data = "jupyterhub_sessions-0.1.0.data/data/"
    assert data + "etc/jupyter/jupyter_server_config.d/jupyterhub_sessions.json" in names
    lab = data + "share/jupyter/labextensions/jupyterhub-sessions/"
    assert lab + "package.json" in names and lab + "static/style.js" in names
    assert any(n.startswith(lab + "static/remoteEntry.") for n in names)  # the built extension itself
    assert not any("node_modules" in n or n.startswith(("tests/", "labextension/src")) for n in names)


def _path_without_node(tmp: Path) -> str:
    """A PATH with every tool of this machine except node, npm and the node-based proxy."""
    bin_dir = tmp / "bin-without-node"
    bin_dir.mkdir()
    for directory in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            target = bin_dir / entry.name
            if entry.name in NODE_TOOLS or target.exists():
                continue
            target.symlink_to(entry.path)
    path = str(bin_dir)
    for tool in NODE_TOOLS:
        assert shutil.which(tool, path=path) is None, tool
    return path


def _proxy_launcher(tmp: Path) -> str:
    """configurable-http-proxy (an npm program) for `jupyterhub-sessions local`, run by absolute path."""
    proxy = shutil.which("configurable-http-proxy")
    node = shutil.which("node")
    assert proxy and node, "configurable-http-proxy and node are needed to run the local platform"
    launcher_dir = tmp / "proxy-only"
    launcher_dir.mkdir()
    launcher = launcher_dir / "configurable-http-proxy"
    launcher.write_text(f'#!/bin/sh\nexec {node} {os.path.realpath(proxy)} "$@"\n')
    launcher.chmod(0o755)
    return str(launcher_dir)


@pytest.mark.slow
@pytest.mark.hub
def test_the_wheel_installs_without_node_and_runs_from_anywhere(built_wheel, tmp_path):
    chart = chart_dir()
    pins = chart_pins(chart)
    away = tmp_path / "elsewhere"  # outside the checkout
    away.mkdir()
    assert REPO not in away.parents
    path = _path_without_node(tmp_path)
    venv = tmp_path / "venv"
    env = {
        "PATH": path,
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CACHE_DIR": _pip_cache_dir(),  # this machine's downloads, not a fresh empty cache
    }
    subprocess.run([chart_python(), "-m", "venv", str(venv)], check=True, env=env, cwd=away, timeout=120)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{path}"
    constraints = chart / "images" / "hub" / "requirements.txt"
    r = subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--no-compile",
            "-c",
            str(constraints),
            str(built_wheel),
        ],
        env=env,
        cwd=away,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout + r.stderr

    # the package, its data and the chart's versions, imported from the venv
    probe = (
        "import jupyterhub, kubespawner, tornado, jupyterhub_sessions\n"
        "from jupyterhub_sessions.spawner.kube import SessionKubeSpawner\n"
        "from jupyterhub_sessions.paths import PACKAGE_PROFILES, LOCAL_CONFIG\n"
        "print(jupyterhub_sessions.__file__, jupyterhub.__version__, kubespawner.__version__,"
        " tornado.version, len(list(PACKAGE_PROFILES.glob('*.yaml'))), LOCAL_CONFIG.is_file())\n"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], env=env, cwd=away, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    where, hub_version, kube_version, tornado_version, n_types, has_config = out.stdout.split()
    assert Path(where).is_relative_to(venv), where
    assert (hub_version, kube_version, tornado_version) == (
        pins["jupyterhub"],
        pins["jupyterhub-kubespawner"],
        pins["tornado"],
    )
    assert int(n_types) == len(list(PROFILES.glob("*.yaml"))) and has_config == "True"

    # the server extension and the JupyterLab extension are enabled by the install alone
    server = subprocess.run(
        [str(venv / "bin" / "jupyter"), "server", "extension", "list"],
        env=env,
        cwd=away,
        capture_output=True,
        text=True,
    )
    assert "jupyterhub_sessions.serverext enabled" in _plain(server.stdout + server.stderr)
    lab = subprocess.run(
        [str(venv / "bin" / "jupyter"), "labextension", "list"],
        env=env,
        cwd=away,
        capture_output=True,
        text=True,
    )
    lab_out = _plain(lab.stdout + lab.stderr)
    assert any(
        "jupyterhub-sessions" in line and "enabled" in line and "OK" in line for line in lab_out.splitlines()
    ), lab_out

    # `jupyterhub-sessions local` from that directory: the login page answers, then nothing is left
    port = free_port()
    run_env = {
        **env,
        "PATH": f"{venv / 'bin'}{os.pathsep}{_proxy_launcher(tmp_path)}{os.pathsep}{path}",
        "JUPYTERHUB_SESSIONS_HUB_PORT": str(free_port()),
        "JUPYTERHUB_SESSIONS_PROXY_API_PORT": str(free_port()),
        "JUPYTERHUB_SESSIONS_TEST_HUB": str(away),  # marks every process it starts
    }
    log = open(tmp_path / "local.log", "wb")
    proc = subprocess.Popen(
        [str(venv / "bin" / "jupyterhub-sessions"), "local", "--port", str(port)],
        env=run_env,
        cwd=away,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:

        def login_page():
            assert proc.poll() is None, (tmp_path / "local.log").read_text()[-3000:]
            r = requests.get(f"http://127.0.0.1:{port}/hub/login", timeout=5)
            return r if r.status_code == 200 else None

        page = wait_for(login_page, 120, 0.5, "the login page")
        assert 'name="username"' in page.text
        assert (away / "data" / "jupyterhub.sqlite").is_file()  # ./data of that directory
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        left = [p for p in psutil.process_iter(["pid"]) if _marked(p, away)]
        kill_processes_of(away)
    assert proc.returncode == 0, (tmp_path / "local.log").read_text()[-3000:]
    assert left == [], [p.info for p in left]


def _pip_cache_dir() -> str:
    r = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else str(Path.home() / ".cache" / "pip")


def _plain(text: str) -> str:
    """Without the terminal colours `jupyter ... list` prints."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _marked(p: psutil.Process, marker: Path) -> bool:
    try:
        return marked(p.environ(), marker)
    except (psutil.Error, OSError):
        return False
