"""Command-line arguments a session's single-user server is started with.

The spawner (either backend) appends these to its args, so what runs inside
the session follows the options the user chose on the hub:

- collaboration off: the jupyter-collaboration server extension is not loaded
  at all (`disable_rtc` alone only hides it from the frontend: its document
  websockets would still be served);
- web-app / desktop types: the session opens on the app (`default_url`); its
  jupyter-server-proxy launcher is configured when the extension links
  (`proxy_servers`, from the same session info in the environment);
- the hub's answer about who may use the server is cached for at most
  `AUTH_CACHE_SECONDS`, so a share revoked on the hub stops working for new
  requests within that time; open websockets are re-checked at the same
  interval (`SessionsServerExtension.access_recheck_interval`).
"""

from __future__ import annotations

# the session's options as JSON, for the server extension (kept here, light to
# import: the extension links before every server starts, bare ones too)
ENV_SESSION = "JUPYTERHUB_SESSIONS_SESSION"
YDOC_EXTENSION = "jupyter_server_ydoc"
AUTH_CACHE_SECONDS = 30


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


def app_default_url(interface: dict) -> str:
    """Where a web-app session opens: the app behind its launcher path."""
    url_path = interface.get("url_path") or "/"
    return "/" + interface["name"] + "/" + url_path.lstrip("/")


def is_app_interface(interface: dict) -> bool:
    """A session that opens on a web app or desktop at `/<name>/` rather than JupyterLab."""
    return interface.get("kind") in ("webapp", "desktop") and bool(interface.get("name"))


def proxy_servers(session_info: dict) -> dict:
    """`ServerProxy.servers` for the session: its web app, if we start it (a desktop
    without a command is served by its image, e.g. jupyter-remote-desktop-proxy)."""
    interface = session_info.get("interface") or {}
    if not is_app_interface(interface) or not interface.get("command"):
        return {}
    return {interface["name"]: proxy_server_entry(interface)}


def server_args(session_info: dict) -> list[str]:
    """Extra jupyterhub-singleuser args for a session described by `session_info`."""
    args: list[str] = [f"--HubOAuth.cache_max_age={AUTH_CACHE_SECONDS}"]
    if not session_info.get("collaborative"):
        args.append(f"--ServerApp.jpserver_extensions={YDOC_EXTENSION}=False")
        args.append("--YDocExtension.disable_rtc=True")
    interface = session_info.get("interface") or {}
    if is_app_interface(interface):
        args.append("--ServerApp.default_url=" + app_default_url(interface))
    return args
