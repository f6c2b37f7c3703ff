"""What a session is told about itself: written by the spawner (hub), read by the server extension.

Kept light to import: the server extension links before every server starts, bare ones too.
"""

from __future__ import annotations

# the session's options as JSON in the session's environment
ENV_SESSION = "JUPYTERHUB_SESSIONS_SESSION"
# seconds the session caches the hub's answer about who may use it (and re-checks websockets)
AUTH_CACHE_SECONDS = 30


def is_app_interface(interface: dict) -> bool:
    """A session that opens on a web app or desktop at `/<name>/` rather than JupyterLab."""
    return interface.get("kind") in ("webapp", "desktop") and bool(interface.get("name"))


def app_default_url(interface: dict) -> str:
    """Where a web-app session opens: the app behind its launcher path."""
    url_path = interface.get("url_path") or "/"
    return "/" + interface["name"] + "/" + url_path.lstrip("/")
