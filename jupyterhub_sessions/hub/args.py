"""Command-line arguments a session's single-user server is started with (hub side).

The spawner (either backend) appends these to its args (`SessionSpawnerMixin.get_args`), so what
runs inside the session follows the options the user chose on the hub:

- collaboration off: the jupyter-collaboration server extension is not loaded
  at all (`disable_rtc` alone only hides it from the frontend: its document
  websockets would still be served);
- web-app / desktop types: the session opens on the app (`SessionInfo.default_url`); its
  jupyter-server-proxy launcher is configured when the extension links
  (`serverext.launch.proxy_servers`, from the same `SessionInfo` in the environment);
- the hub's answer about who may use the server is cached for at most
  `AUTH_CACHE_SECONDS`, so a share revoked on the hub stops working for new
  requests within that time; open websockets are re-checked at the same
  interval (`SessionsServerExtension.access_recheck_interval`).
"""

from __future__ import annotations

from ..session_info import AUTH_CACHE_SECONDS, SessionInfo

YDOC_EXTENSION = "jupyter_server_ydoc"


def server_args(info: SessionInfo) -> list[str]:
    """Extra jupyterhub-singleuser args for the session `info` describes."""
    args: list[str] = [f"--HubOAuth.cache_max_age={AUTH_CACHE_SECONDS}"]
    if not info.collaborative:
        args.append(f"--ServerApp.jpserver_extensions={YDOC_EXTENSION}=False")
        args.append("--YDocExtension.disable_rtc=True")
    if info.is_app:
        args.append("--ServerApp.default_url=" + info.default_url)
    return args
