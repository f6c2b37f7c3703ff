"""`jupyterhub-sessions` command: one entry point, each sub-command in its own module."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "local": ("jupyterhub_sessions.embedded", "Run the embedded platform (hub on 127.0.0.1)."),
    "list": ("jupyterhub_sessions.service.cli", "List your sessions."),
    "get": ("jupyterhub_sessions.service.cli", "Show one session."),
    "start": ("jupyterhub_sessions.service.cli", "Start a session."),
    "renew": ("jupyterhub_sessions.service.cli", "Renew a session (extend its expiry)."),
    "delete": ("jupyterhub_sessions.service.cli", "Stop a session (its drive is kept)."),
    "z2jh-values": ("jupyterhub_sessions.z2jh_values", "Print the Zero to JupyterHub prePuller values."),
}


def usage() -> str:
    lines = ["usage: jupyterhub-sessions COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    cmd = argv[0]
    if cmd not in COMMANDS:
        print(f"jupyterhub-sessions: unknown command {cmd!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[cmd][0])
    return module.main(argv) or 0


if __name__ == "__main__":
    sys.exit(main())
