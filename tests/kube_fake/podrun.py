"""Run a session pod's container as a local process: what the pod spec promises, checked.

No container runtime runs here, so this plays the part of one for the
`notebook` container of a pod the spawner created in the fake cluster: every
volume becomes a directory (`volumes/<name>`), mount paths in the container's
arguments, environment and working directory are mapped onto those directories,
and the container's command runs from `bin_dir` (a venv standing in for the
image). `jupyterhub-singleuser` becomes `jupyter server` with token auth (no
hub runs here), told what jupyterhub-singleuser reads from the environment
(`JUPYTERHUB_ROOT_DIR`, `JUPYTERHUB_DEFAULT_URL`); every other argument is
passed as the pod has it, so the server's root, the session's server
arguments and its environment are the pod's own. Paths the pod does not mount land in `rootfs/` (the image's own
filesystem, lost when the pod goes).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from tests.hubtools import free_port
from tests.serverext.servertools import JupyterServer, jupyter_server_command, launch_jupyter

# the hub's connection details: a pod gets them, a local stand-in has no hub to talk to
HUB_ONLY_ENV = (
    "JUPYTERHUB_API_TOKEN",
    "JPY_API_TOKEN",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_ACTIVITY_URL",
    "JUPYTERHUB_OAUTH_CALLBACK_URL",
    "JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES",
    "JUPYTERHUB_OAUTH_ACCESS_SCOPES",
    "JUPYTERHUB_OAUTH_SCOPES",
    "JUPYTERHUB_CLIENT_ID",
    "JUPYTERHUB_SERVICE_PREFIX",
    "JUPYTERHUB_SERVICE_URL",
    "JUPYTERHUB_BASE_URL",
    "JUPYTERHUB_HOST",
    "JUPYTERHUB_PUBLIC_URL",
    "JUPYTERHUB_PUBLIC_HUB_URL",
)


class PodFS:
    """The pod's filesystem as local directories."""

    def __init__(self, pod: dict, root: Path, container: str = "notebook"):
        self.pod = pod
        self.root = root
        self.container = next(c for c in pod["spec"]["containers"] if c["name"] == container)
        self.mounts: dict[str, Path] = {}
        for m in self.container.get("volumeMounts") or []:
            d = root / "volumes" / m["name"] / (m.get("subPath") or "")
            d.mkdir(parents=True, exist_ok=True)
            self.mounts[m["mountPath"].rstrip("/") or "/"] = d
        (root / "rootfs").mkdir(parents=True, exist_ok=True)

    def volume(self, name: str) -> Path:
        return self.root / "volumes" / name

    def local(self, path: str) -> Path:
        """Where a path inside the container lives here (longest mount first)."""
        for mount in sorted(self.mounts, key=len, reverse=True):
            if path == mount or path.startswith(mount + "/"):
                return self.mounts[mount] / path[len(mount) :].lstrip("/")
        return self.root / "rootfs" / path.lstrip("/")

    def map_text(self, text: str) -> str:
        """Mount paths inside an argument or variable, rewritten to their directories."""
        for mount in sorted(self.mounts, key=len, reverse=True):
            text = text.replace(mount, str(self.mounts[mount]))
        return text


def run_notebook_container(
    pod: dict, root: Path, bin_dir: Path, timeout: float = 90, extra_env: dict | None = None
) -> tuple[JupyterServer, PodFS]:
    """Start the pod's notebook container here; returns the server (token auth) and its filesystem.

    `extra_env` adds to the process environment (e.g. a layer installed beside the venv)."""
    fs = PodFS(pod, root)
    c = fs.container
    argv = list(c.get("command") or []) + list(c.get("args") or [])
    assert argv and argv[0] == "jupyterhub-singleuser", argv
    port = free_port()
    token = secrets.token_hex(24)
    env = {e["name"]: fs.map_text(e.get("value", "")) for e in c.get("env") or [] if "value" in e}
    for name in HUB_ONLY_ENV:
        env.pop(name, None)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}/usr/bin:/bin",
        JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        LANG="C.UTF-8",
        **(extra_env or {}),
    )
    args = [
        *jupyter_server_command(bin_dir, port, token),
        *(fs.map_text(a) for a in argv[1:] if not a.startswith(("--ip=", "--port="))),
    ]
    # what jupyterhub-singleuser does with them (its command line wins)
    for var, option in (("JUPYTERHUB_ROOT_DIR", "root_dir"), ("JUPYTERHUB_DEFAULT_URL", "default_url")):
        if env.get(var) and not any(a.startswith(f"--ServerApp.{option}=") for a in args):
            args.append(f"--ServerApp.{option}={env[var]}")
    cwd = fs.local(c.get("workingDir") or "/")
    cwd.mkdir(parents=True, exist_ok=True)
    server = launch_jupyter(
        args,
        cwd=cwd,
        env=env,
        log_path=root / "container.log",
        port=port,
        token=token,
        timeout=timeout,
        what="the pod's jupyter server",
    )
    return server, fs
