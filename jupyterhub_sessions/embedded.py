"""`jupyterhub-sessions local`: run the embedded platform on 127.0.0.1."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "hub_config" / "local_config.py"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="jupyterhub-sessions local",
        description="Run JupyterHub with jupyterhub-sessions on this machine (127.0.0.1).",
    )
    parser.add_argument("--data-dir", default=os.environ.get("JUPYTERHUB_SESSIONS_DATA_DIR", "data"),
                        help="all state: hub database, drives, service state (default ./data)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("JUPYTERHUB_SESSIONS_PORT", "8000")),
                        help="public port on 127.0.0.1 (default 8000)")
    parser.add_argument("--profiles", default=os.environ.get("JUPYTERHUB_SESSIONS_PROFILES"),
                        help="directory of session-type YAML files (default: the shipped profiles/)")
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
    print(f"jupyterhub-sessions: http://127.0.0.1:{args.port}/  (data in {data_dir})", flush=True)
    os.chdir(data_dir)
    os.execv(sys.executable, [sys.executable, "-m", "jupyterhub", "-f", args.config, *extra])
