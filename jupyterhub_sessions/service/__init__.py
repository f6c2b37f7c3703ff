"""The `sessions` hub service: culling, renewals and the sessions REST API.

`configure_hub(c, data_dir)` registers it with a hub config; `hub_service()`
returns the pieces (service entry, least-privilege role, user scope) for
configs that assemble them by hand.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from ..compat import add_user_scopes

SERVICE_NAME = "sessions"

# exactly what the service calls on the hub API: list users, read their
# servers (user_options, started, last_activity), stop servers, and read a
# user's groups (who a personal session type may be shared with)
SERVICE_SCOPES = ["list:users", "read:users:name", "read:users:groups", "read:servers", "delete:servers"]
BROWSER_SCOPES = ["read:servers", "delete:servers"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for the service's own listener."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user_scopes(name: str = SERVICE_NAME) -> set[str]:
    """Scopes every user (and so their sessions' server tokens) needs to call the service."""
    return {f"access:services!service={name}"}


def hub_service(
    name: str = SERVICE_NAME,
    *,
    data_dir: str | Path | None = None,
    profiles_dir: str | Path | None = None,
    port: int | None = None,
    cull_every: int = 60,
    args: list[str] | tuple = (),
    environment: dict | None = None,
) -> tuple[dict, dict]:
    """(entry for `c.JupyterHub.services`, role for `c.JupyterHub.load_roles`) of a managed service."""
    env = {
        var: os.environ[var]
        for var in (
            "PATH",
            "JUPYTERHUB_SESSIONS_SSH_SERVICES",
            "JUPYTERHUB_SESSIONS_TEST_HUB",
            "JUPYTERHUB_SESSIONS_USER_TYPES_STORE",
            "JUPYTERHUB_SESSIONS_USER_TYPES_NAMESPACE",
            "POD_NAMESPACE",
            "KUBERNETES_SERVICE_HOST",
            "KUBERNETES_SERVICE_PORT",
            "KUBECONFIG",
        )
        if os.environ.get(var)
    }
    env.update(environment or {})
    if data_dir is not None:
        env["JUPYTERHUB_SESSIONS_DATA_DIR"] = str(data_dir)
    if profiles_dir is not None:
        env["JUPYTERHUB_SESSIONS_PROFILES"] = str(profiles_dir)
    service = {
        "name": name,
        "url": f"http://127.0.0.1:{port or free_port()}",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_sessions.service",
            f"--cull-every={int(cull_every)}",
            *args,
        ],
        "environment": env,
        "oauth_no_confirm": True,
        # what a browser logged in to the service (the dashboard) may do through it: the user's own
        # servers, and an admin's every server (the hub intersects these with the user's scopes)
        "oauth_client_allowed_scopes": list(BROWSER_SCOPES),
        "display": False,
    }
    role = {
        "name": f"{name}-service",
        "description": "jupyterhub-sessions service: list sessions, stop expired ones",
        "scopes": list(SERVICE_SCOPES),
        "services": [name],
    }
    return service, role


def configure_hub(c, data_dir: str | Path | None = None, **kwargs) -> None:
    """Register the service, its role and the users' access scope on hub config `c`."""
    name = kwargs.get("name", SERVICE_NAME)
    kwargs.setdefault("profiles_dir", os.environ.get("JUPYTERHUB_SESSIONS_PROFILES"))
    service, role = hub_service(data_dir=data_dir, **kwargs)
    existing = c.JupyterHub.services
    if hasattr(existing, "to_dict"):  # traitlets LazyConfigValue: only appended to so far
        ops = existing.to_dict()
        existing = [*ops.get("prepend", []), *ops.get("extend", []), *(i for _, i in ops.get("inserts", []))]
    if any(s.get("name") == name for s in existing or []):
        return
    c.JupyterHub.services.append(service)
    c.JupyterHub.load_roles.append(role)
    # JupyterHub 5.5 has no extra_user_scopes: compat merges them into the user role there
    add_user_scopes(c, user_scopes(name))
