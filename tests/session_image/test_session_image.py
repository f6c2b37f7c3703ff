"""What the session images promise, proven without a Docker engine.

The image's own install step (`session-image/install-session.sh`, which its Dockerfile runs)
is run on the built wheel in a clean venv standing in for the image's Python environment;
then sessions of every shipped type are spawned in the fake cluster and their pods' notebook
container is run from that venv (tests.kube_fake.podrun): each answers `sessions-api/session`
as its type, lab sessions serve our JupyterLab extension, and the desktop layer
(desktop/requirements.txt, as its Dockerfile installs it) serves the page the desktop type
opens on. Timings here are this machine's, not a cluster's.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from jupyterhub_sessions.spawner.kube import SessionKubeSpawner
from tests.conftest import REPO
from tests.kube_fake.hub import FakeHub, spawn, spawner_config, stop
from tests.kube_fake.podrun import run_notebook_container

pytestmark = pytest.mark.slow

IMAGE_DIR = REPO / "hub_config" / "kubernetes" / "session-image"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean_env(root: Path, bin_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV", "PYTHON"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}/usr/bin:/bin",
        JUPYTER_CONFIG_DIR=str(root / "user-config"),  # no ~/.jupyter of the machine
        JUPYTER_DATA_DIR=str(root / "user-data"),
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def image_venv(built_wheel, tmp_path_factory):
    """A clean venv with the image's install step run in it: its bin/ stands for the image."""
    root = tmp_path_factory.mktemp("image")
    target = root / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    bin_dir = target / "bin"
    # the versions this checkout is tested with, so pip resolves (from its cache) what it knows
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    constraints = root / "constraints.txt"
    constraints.write_text(
        "".join(line + "\n" for line in frozen.splitlines() if not line.startswith("jupyterhub-sessions"))
    )
    result = subprocess.run(
        ["sh", str(IMAGE_DIR / "install-session.sh"), str(built_wheel), "-q", "-c", str(constraints)],
        env=clean_env(root, bin_dir),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root, bin_dir, result


def test_the_install_step_enables_our_server_and_lab_extensions(image_venv):
    root, bin_dir, result = image_venv
    assert "jupyterhub-sessions, jupyter-server-proxy and collaboration enabled" in result.stdout
    env = clean_env(root, bin_dir)

    def listed(*cmd) -> str:
        out = subprocess.run(
            [bin_dir / "jupyter", *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        return ANSI.sub("", out.stdout.decode())

    servers = listed("server", "extension", "list")
    assert re.search(r"^ +jupyterhub_sessions\.serverext enabled$", servers, re.M), servers
    assert re.search(r"^ +jupyterhub_sessions\.serverext +OK$", servers, re.M), servers
    labs = listed("labextension", "list")
    assert re.search(r"^ +jupyterhub-sessions v\S+ enabled OK", labs, re.M), labs
    assert (bin_dir / "jupyterhub-singleuser").exists()
    # nothing of the test machine's own install leaks in: the venv has its own copy
    out = subprocess.run(
        [bin_dir / "python", "-c", "import jupyterhub_sessions; print(jupyterhub_sessions.__file__)"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith(str(root)), out


def test_the_install_step_fails_when_an_extension_is_off(image_venv, built_wheel):
    """The check is real: without the file that enables our server extension, the build fails."""
    root, bin_dir, _ = image_venv
    (enable,) = (bin_dir.parent / "etc" / "jupyter" / "jupyter_server_config.d").glob(
        "jupyterhub_sessions.json"
    )
    hidden = enable.with_suffix(".off")
    enable.rename(hidden)
    try:
        result = subprocess.run(
            ["sh", str(IMAGE_DIR / "install-session.sh"), str(built_wheel), "-q", "--no-deps"],
            env=clean_env(root, bin_dir),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        hidden.rename(enable)
    assert result.returncode == 1
    assert "server extension jupyterhub_sessions.serverext is not enabled" in result.stderr


@pytest.fixture(scope="module")
def desktop_layer(image_venv):
    """The desktop image's Python layer, installed over the session venv like its Dockerfile does."""
    root, bin_dir, _ = image_venv
    prefix = root / "desktop-layer"
    subprocess.run(
        [
            bin_dir / "python",
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--prefix",
            str(prefix),
            "-r",
            str(IMAGE_DIR / "desktop" / "requirements.txt"),
        ],
        env=clean_env(root, bin_dir),
        check=True,
        timeout=300,
    )
    (site,) = prefix.glob("lib/python*/site-packages")
    return {"PYTHONPATH": str(site), "JUPYTER_CONFIG_PATH": str(prefix / "etc" / "jupyter")}


@pytest.fixture
def kube_hub(kube):
    return FakeHub(spawner_config(kube), SessionKubeSpawner)


@pytest.mark.parametrize("slug", ["notebook", "gpu", "carta", "firefly", "desktop"])
async def test_a_session_of_each_type_answers_from_the_image(
    kube, kube_hub, image_venv, desktop_layer, tmp_path, slug
):
    _, bin_dir, _ = image_venv
    sp = kube_hub.user("ada", groups=["gpu-users"]).spawner()
    await spawn(sp, {"session_type": slug})
    pod = kube.get("pods", sp.pod_name)
    extra = desktop_layer if slug == "desktop" else {}
    server, fs = await asyncio.to_thread(run_notebook_container, pod, tmp_path, bin_dir, 120, extra)
    try:
        r = await asyncio.to_thread(server.get, "sessions-api/session")
        assert r.status_code == 200, r.text
        info = r.json()["session"]
        assert info["session_type"] == slug and info["drive"] == "home"
        st = sp.session_types[slug]
        if st.interface.kind == "lab":
            page = await asyncio.to_thread(server.get, "lab")
            assert page.status_code == 200 and '"name": "jupyterhub-sessions"' in page.text.replace(
                '\\"', '"'
            )
        else:  # the session opens on its app
            home = await asyncio.to_thread(server.get, "")
            opens = f"/{st.interface.name}/" + st.interface.url_path.lstrip("/")
            assert home.status_code == 302 and home.headers["Location"].rstrip("?").endswith(opens), (
                home.headers
            )
        if slug == "desktop":  # jupyter-remote-desktop-proxy serves the page the type opens on
            page = await asyncio.to_thread(server.get, "desktop/")
            assert page.status_code == 200 and "<html" in page.text.lower(), page.text[:500]
    finally:
        server.stop()
        await stop(sp)
