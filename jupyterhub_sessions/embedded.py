"""`jupyterhub-sessions local`: run the embedded platform on 127.0.0.1."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

from .paths import LOCAL_CONFIG

CONFIG = LOCAL_CONFIG  # package data: works from a wheel, from any directory
PORTS_FILE = "ports.json"
# the hub's internal API and the proxy's API: env var, else remembered per data dir
INTERNAL_PORTS = {
    "hub_port": "JUPYTERHUB_SESSIONS_HUB_PORT",
    "proxy_api_port": "JUPYTERHUB_SESSIONS_PROXY_API_PORT",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def internal_ports(data_dir: Path, env=os.environ) -> dict[str, int]:
    """Ports of the hub API and the proxy API for the platform in `data_dir`.

    Picked free on the first run and remembered in `<data_dir>/ports.json`, so
    two platforms never collide, and a restart finds the proxy and sessions it
    left running (JUPYTERHUB_SESSIONS_KEEP_SESSIONS=1) at the same addresses.
    The environment variables win when set.
    """
    path = Path(data_dir) / PORTS_FILE
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            saved = {}
    except (OSError, ValueError):
        saved = {}
    ports = {}
    for key, var in INTERNAL_PORTS.items():
        if env.get(var):
            ports[key] = int(env[var])
        elif isinstance(saved.get(key), int) and 0 < saved[key] < 65536:
            ports[key] = saved[key]
        else:
            ports[key] = _free_port()
    if ports != {k: saved.get(k) for k in INTERNAL_PORTS}:
        path.write_text(json.dumps(ports) + "\n")
    return ports


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="jupyterhub-sessions local",
        description="Run JupyterHub with jupyterhub-sessions on this machine (127.0.0.1).",
    )
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("JUPYTERHUB_SESSIONS_DATA_DIR", "data"),
        help="all state: hub database, drives, service state (default ./data)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("JUPYTERHUB_SESSIONS_PORT", "8000")),
        help="public port on 127.0.0.1 (default 8000)",
    )
    parser.add_argument(
        "--profiles",
        default=os.environ.get("JUPYTERHUB_SESSIONS_PROFILES"),
        help="directory of session-type YAML files (default: the example types shipped in the package)",
    )
    parser.add_argument("--config", default=str(CONFIG), help="hub config file")
    args, extra = parser.parse_known_args(argv[1:])
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ["JUPYTERHUB_SESSIONS_DATA_DIR"] = str(data_dir)
    os.environ["JUPYTERHUB_SESSIONS_PORT"] = str(args.port)
    if args.profiles:
        os.environ["JUPYTERHUB_SESSIONS_PROFILES"] = str(Path(args.profiles).resolve())
    # sessions and services run with this interpreter's scripts on PATH
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    config = str(Path(args.config).resolve())  # before the chdir below
    print(f"jupyterhub-sessions: http://127.0.0.1:{args.port}/  (data in {data_dir})", flush=True)
    os.chdir(data_dir)
    os.execv(sys.executable, [sys.executable, "-m", "jupyterhub", "-f", config, *extra])
