"""`jupyterhub-sessions local`: run the embedded platform on 127.0.0.1."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .hub.services import free_port
from .paths import LOCAL_CONFIG

CONFIG = LOCAL_CONFIG  # package data: works from a wheel, from any directory
PORTS_FILE = "ports.json"
# the hub's internal API and the proxy's API: env var, else remembered per data dir
INTERNAL_PORTS = {
    "hub_port": "JUPYTERHUB_SESSIONS_HUB_PORT",
    "proxy_api_port": "JUPYTERHUB_SESSIONS_PROXY_API_PORT",
}


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
            ports[key] = free_port()
    if ports != {k: saved.get(k) for k in INTERNAL_PORTS}:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(ports) + "\n")
    _chmod(path, 0o600)
    return ports


def _chmod(path: Path, mode: int) -> None:
    try:
        if path.stat().st_mode & 0o777 != mode:
            os.chmod(path, mode)
    except FileNotFoundError:
        pass


DB_FILE = "jupyterhub.sqlite"
PRIVATE_FILES = (DB_FILE, "jupyterhub_cookie_secret", PORTS_FILE, "proxy.pid")


def secure_data_dir(data_dir: Path) -> None:
    """Make the platform's state private to the hub's OS user, also when it already exists.

    The data directory and the drives (root, users' folders, drives) become
    0700; the hub database (created empty if new, with its journals), cookie
    secret, ports.json and proxy pid file 0600; and the hub's umask 077, so
    whatever it and its services write later is private too.
    """
    data_dir = Path(data_dir)
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _chmod(data_dir, 0o700)
    db = data_dir / DB_FILE
    if not db.exists():
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))  # SQLite fills an empty file
    for name in PRIVATE_FILES:
        _chmod(data_dir / name, 0o600)
    for journal in data_dir.glob(DB_FILE + "-*"):
        _chmod(journal, 0o600)
    drives = data_dir / "drives"
    for folder in [drives, *_dirs(drives), *(d for u in _dirs(drives) for d in _dirs(u))]:
        _chmod(folder, 0o700)


def _dirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def isolation_warning() -> str | None:
    """What to tell the admin at start-up when sessions will not be sandboxed (None: they will)."""
    from .spawner.sandbox import find_bwrap

    mode = os.environ.get("JUPYTERHUB_SESSIONS_SANDBOX", "auto")
    if mode == "off":
        return (
            "sessions are NOT isolated (JUPYTERHUB_SESSIONS_SANDBOX=off): any session can read every "
            "drive, the hub database and its cookie secret. Use this for one trusted person only."
        )
    if find_bwrap() is None:
        return (
            "sessions are NOT isolated: bubblewrap (bwrap) is missing or cannot build a sandbox here, so "
            "any session can read every drive, the hub database and its cookie secret. Install "
            "bubblewrap (Linux), or use this for one trusted person only."
        )
    return None


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
