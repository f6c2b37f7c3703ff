"""The session's web-app launcher, configured when the server extension links.

Web-app / desktop session types open on their app at `/<name>/` (the default URL is passed on the
command line by the spawner, `hub.args.server_args`); the app itself is started by
jupyter-server-proxy from the `ServerProxy.servers` entry built here, from the session's
`SessionInfo`, before jupyter-server-proxy loads.
"""

from __future__ import annotations

from ..profiles import Interface
from ..session_info import SessionInfo


def proxy_server_entry(interface: Interface) -> dict:
    """jupyter-server-proxy `ServerProxy.servers` entry for a web-app interface."""
    return {
        "command": list(interface.command),
        "timeout": int(interface.timeout),
        "absolute_url": False,
        "launcher_entry": {
            "enabled": True,
            "title": interface.title or interface.name,
            "path_info": f"{interface.name}/" + interface.url_path.lstrip("/"),
        },
        "new_browser_tab": False,
    }


def proxy_servers(info: SessionInfo | None) -> dict:
    """`ServerProxy.servers` for the session: its web app, if we start it (a desktop
    without a command is served by its image, e.g. jupyter-remote-desktop-proxy)."""
    if info is None or not info.is_app or not info.interface.command:
        return {}
    return {info.interface.name: proxy_server_entry(info.interface)}
