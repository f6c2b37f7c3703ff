"""The two hub services jupyterhub-sessions runs, as hub config: entries, roles, registration.

- `sessions` (`python -m jupyterhub_sessions.service`): culling, renewals, the sessions REST API;
- `ssh` (`python -m jupyterhub_sessions.ssh`): key pages and the SSH gateway.

`sessions_service(...)` / `ssh_service(...)` return `(entry for c.JupyterHub.services, role for
c.JupyterHub.load_roles)` for configs that assemble them by hand; `configure_sessions_service(c)`,
`configure_ssh_service(c)` and `configure_ssh_for_cluster(c)` add them (once per name) with the
users' access scopes. Both services read their own URL, prefix and token from the `JUPYTERHUB_*`
variables the hub gives managed services (`service/base.py`).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from .compat import available_scopes, has_service_timeout
from .roles import add_service, add_user_role_scopes, add_user_scopes, find_service

SESSIONS = "sessions"
# seconds the hub waits for our services to answer when it starts them (JupyterHub >= 6.0;
# 5.5 waits about ten): they import JupyterHub's auth stack before they listen (~1 s on a quiet
# machine), and a hub pod starved of CPU must not exit over that
SERVICE_START_TIMEOUT = 120
SSH = "ssh"

# exactly what the sessions service calls on the hub API: list users, read their
# servers (user_options, started, last_activity), stop servers, and read a
# user's groups (who a personal session type may be shared with)
SESSIONS_SCOPES = ["list:users", "read:users:name", "read:users:groups", "read:servers", "delete:servers"]
# what a browser logged in to the sessions service (the dashboard) may do through it: the user's own
# servers, and an admin's every server (the hub intersects these with the user's scopes)
SESSIONS_BROWSER_SCOPES = ["read:servers", "delete:servers"]

# what the ssh gateway needs from the hub, and nothing more
SSH_SCOPES = [
    "read:users",  # a user's `created`: keys belong to that user, not to whoever has the name later
    "read:servers",  # a user's servers: ready/pending, url, user_options (drive)
    "start:servers",  # auto-start a stopped session on login
    "access:servers",  # run commands, sftp and forwarded ports in sessions (their exec endpoint, bridges)
]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for a service's or the embedded hub's own listener)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _passed_on(*names: str) -> dict[str, str]:
    return {var: os.environ[var] for var in names if os.environ.get(var)}


def sessions_user_scopes(name: str = SESSIONS) -> set[str]:
    """Scopes every user (and so their sessions' server tokens) needs to call the sessions service."""
    return {f"access:services!service={name}"}


def sessions_service(
    name: str = SESSIONS,
    *,
    data_dir: str | Path | None = None,
    profiles_dir: str | Path | None = None,
    port: int | None = None,
    cull_every: int = 60,
    args: list[str] | tuple = (),
    environment: dict | None = None,
) -> tuple[dict, dict]:
    """(entry for `c.JupyterHub.services`, role for `c.JupyterHub.load_roles`) of the sessions service."""
    env = _passed_on(
        "PATH",
        "JUPYTERHUB_SESSIONS_SSH_SERVICES",
        # personal session types: where they are kept (ConfigMaps: the hub's namespace and cluster)
        "JUPYTERHUB_SESSIONS_USER_TYPES_STORE",
        "JUPYTERHUB_SESSIONS_USER_TYPES_NAMESPACE",
        "POD_NAMESPACE",
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
        "KUBECONFIG",
    )
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
        "oauth_client_allowed_scopes": list(SESSIONS_BROWSER_SCOPES),
        "display": False,
    }
    role = {
        "name": f"{name}-service",
        "description": "jupyterhub-sessions service: list sessions, stop expired ones",
        "scopes": list(SESSIONS_SCOPES),
        "services": [name],
    }
    return with_start_timeout(service), role


def with_start_timeout(service: dict) -> dict:
    """`service` with `timeout` set where JupyterHub has it (5.5 refuses unknown service keys)."""
    if has_service_timeout() and "timeout" not in service:
        return {**service, "timeout": SERVICE_START_TIMEOUT}
    return service


def configure_sessions_service(c, data_dir: str | Path | None = None, **kwargs) -> None:
    """Register the sessions service, its role and the users' access scope on hub config `c`."""
    kwargs.setdefault("profiles_dir", os.environ.get("JUPYTERHUB_SESSIONS_PROFILES"))
    service, role = sessions_service(data_dir=data_dir, **kwargs)
    if add_service(c, service, role):
        # JupyterHub 5.5 has no extra_user_scopes: merged into the user role there
        add_user_scopes(c, sessions_user_scopes(service["name"]))


def ssh_service(
    data_dir: str | Path,
    public_url: str,
    name: str = SSH,
    port: int | None = None,
    ssh_port: int | None = None,
    ssh_ip: str = "127.0.0.1",
    sessions_service: str = SESSIONS,
    local: bool = True,
    extra_args: list[str] | None = None,
) -> tuple[dict, dict]:
    """The `c.JupyterHub.services` entry and the `c.JupyterHub.load_roles` role of the ssh service.

    `public_url` is the hub's public URL (the proxy), through which the gateway
    reaches sessions. `local=False` on Kubernetes: forwarded ports through the session too.
    """
    port = port or int(os.environ.get("JUPYTERHUB_SESSIONS_SSH_SERVICE_PORT", 0) or free_port())
    args = [f"--SSHGateway.ip={ssh_ip}", f"--SSHGateway.sessions_service={sessions_service}"]
    if ssh_port is not None:
        args.append(f"--SSHGateway.port={int(ssh_port)}")
    if not local:
        # sessions elsewhere (Kubernetes): their ports are not on this machine, so forwarded
        # connections go through the session's TCP bridge (commands and sftp always do)
        args.append("--SSHGateway.forward_through_session=True")
    env = {"JUPYTERHUB_SESSIONS_DATA_DIR": str(data_dir), "JUPYTERHUB_SESSIONS_PUBLIC_URL": public_url}
    env.update(_passed_on("JUPYTERHUB_SESSIONS_SSH_PORT", "PATH"))
    service = {
        "name": name,
        "url": f"http://127.0.0.1:{port}",
        "command": [sys.executable, "-m", "jupyterhub_sessions.ssh", *args, *(extra_args or [])],
        "environment": env,
        "oauth_no_confirm": True,
        "display": True,
        "info": {"description": "SSH keys and how to connect to your sessions"},
    }
    role = {
        "name": f"{name}-service",
        "description": "SSH gateway: read users and servers, start servers, run commands in sessions",
        # JupyterHub 5.5 has no start:servers: compat names the scope that grants it there
        "scopes": [*available_scopes(SSH_SCOPES), f"access:services!service={sessions_service}"],
        "services": [name],
    }
    return with_start_timeout(service), role


def _public_url(c) -> str:
    hub = c.JupyterHub
    if "bind_url" in hub:
        return hub.bind_url
    ip = hub.ip if "ip" in hub and hub.ip not in ("", "0.0.0.0") else "127.0.0.1"
    port = hub.port if "port" in hub else 8000
    base = hub.base_url if "base_url" in hub else "/"
    return f"http://{ip}:{port}{base}"


def configure_ssh_service(c, data_dir: str | Path, **kwargs) -> None:
    """Register the ssh service and its role, and let users open its pages."""
    kwargs.setdefault("public_url", os.environ.get("JUPYTERHUB_SESSIONS_PUBLIC_URL") or _public_url(c))
    service, role = ssh_service(data_dir, **kwargs)
    if add_service(c, service, role):
        add_user_role_scopes(c, [f"access:services!service={service['name']}"])


def configure_ssh_for_cluster(
    c,
    data_dir: str | Path,
    *,
    service_host: str,
    pages_port: int,
    ssh_port: int,
    public_url: str,
    public_host: str = "",
    public_port: int = 0,
    bind: str = "0.0.0.0",
) -> None:
    """Register the ssh service for a hub whose sessions run elsewhere (Kubernetes pods).

    The service listens on `bind` (key pages on `pages_port`, gateway on a fixed
    `ssh_port` behind a LoadBalancer that users reach at `public_host`:`public_port`)
    and is found by the proxy at `http://{service_host}:{pages_port}`. Shells,
    commands, sftp and forwarded ports go through the hub's `public_url`
    (the session's exec endpoint and bridges), because drives and ports are in the pods.
    """
    args = [
        f"--SSHService.bind_url=http://{bind}:{int(pages_port)}",
        f"--SSHService.public_port={int(public_port)}",
        "--SSHGateway.port_fallback=False",  # a LoadBalancer points at a fixed port
    ]
    if public_host:
        args.append(f"--SSHService.public_host={public_host}")
    configure_ssh_service(
        c,
        data_dir=data_dir,
        public_url=public_url,
        port=pages_port,
        ssh_port=ssh_port,
        ssh_ip=bind,
        local=False,
        extra_args=args,
    )
    service = find_service(c, SSH)
    if service is not None:
        service["url"] = f"http://{service_host}:{int(pages_port)}"
