"""Command-line arguments a session's single-user server is started with.

The spawner (either backend) appends these to its args, so what runs inside
the session follows the options the user chose on the hub.
"""

from __future__ import annotations


def server_args(session_info: dict) -> list[str]:
    """Extra jupyterhub-singleuser args for a session described by `session_info`."""
    args: list[str] = []
    if not session_info.get("collaborative"):
        args.append("--YDocExtension.disable_rtc=True")
    return args
