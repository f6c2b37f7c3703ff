"""The session's web-app launcher, configured when the server extension links.

Web-app / desktop session types open on their app at `/<name>/` (the default URL is passed on the
command line by the spawner, `hub.args.server_args`); the app itself is started by
jupyter-server-proxy from the `ServerProxy.servers` entry built here, from the session info in
the environment, before jupyter-server-proxy loads.
"""

from __future__ import annotations

from ..session_info import is_app_interface


def proxy_server_entry(interface: dict) -> dict:
    """jupyter-server-proxy `ServerProxy.servers` entry for a web-app interface."""
    name = interface["name"]
    url_path = interface.get("url_path") or "/"
    return {
        "command": list(interface["command"]),
        "timeout": int(interface.get("timeout") or 30),
        "absolute_url": False,
        "launcher_entry": {
            "enabled": True,
            "title": interface.get("title") or name,
            "path_info": name + "/" + url_path.lstrip("/"),
        },
        "new_browser_tab": False,
    }


def proxy_servers(session_info: dict) -> dict:
    """`ServerProxy.servers` for the session: its web app, if we start it (a desktop
    without a command is served by its image, e.g. jupyter-remote-desktop-proxy)."""
    interface = session_info.get("interface") or {}
    if not is_app_interface(interface) or not interface.get("command"):
        return {}
    return {interface["name"]: proxy_server_entry(interface)}
