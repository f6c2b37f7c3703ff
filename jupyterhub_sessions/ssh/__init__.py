"""SSH access to sessions with registered device keys.

- `keys`: which public keys are accepted, fingerprints;
- `store`: the registered keys (sqlite under the data dir);
- `web`: pages and REST API of the `ssh` hub service (/services/ssh/);
- `devices`: invite codes and signed challenges (registration proves possession of the key);
- `gateway`, `tunnel`: the asyncssh gateway, carried into sessions over the server extension's
  exec endpoint and bridges;
- `app`: the service process (`python -m jupyterhub_sessions.ssh`).

Hub configs register the service with `configure_hub(c, data_dir=...)`, or
take the pieces from `hub_service(...)`.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from ..compat import available_scopes
from ..compat import config_list as _config_list

SERVICE_NAME = "ssh"

# what the gateway needs from the hub, and nothing more
SERVICE_SCOPES = [
    "read:users",  # a user's `created`: keys belong to that user, not to whoever has the name later
    "read:servers",  # a user's servers: ready/pending, url, user_options (drive)
    "start:servers",  # auto-start a stopped session on login
    "access:servers",  # run commands, sftp and forwarded ports in sessions (their exec endpoint, bridges)
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_service(
    data_dir: str | Path,
    public_url: str,
    name: str = SERVICE_NAME,
    port: int | None = None,
    ssh_port: int | None = None,
    ssh_ip: str = "127.0.0.1",
    sessions_service: str = "sessions",
    local: bool = True,
    extra_args: list[str] | None = None,
) -> tuple[dict, dict]:
    """The `c.JupyterHub.services` entry and the `c.JupyterHub.load_roles` role of the ssh service.

    `public_url` is the hub's public URL (the proxy), through which the gateway
    reaches sessions. `local=False` on Kubernetes: forwarded ports through the session too.
    """
    port = port or int(os.environ.get("JUPYTERHUB_SESSIONS_SSH_SERVICE_PORT", 0) or _free_port())
    args = [
        f"--SSHGateway.ip={ssh_ip}",
        f"--SSHGateway.sessions_service={sessions_service}",
    ]
    if ssh_port is not None:
        args.append(f"--SSHGateway.port={int(ssh_port)}")
    if not local:
        # sessions elsewhere (Kubernetes): their ports are not on this machine, so forwarded
        # connections go through the session's TCP bridge (commands and sftp always do)
        args.append("--SSHGateway.forward_through_session=True")
    env = {
        "JUPYTERHUB_SESSIONS_DATA_DIR": str(data_dir),
        "JUPYTERHUB_SESSIONS_PUBLIC_URL": public_url,
    }
    for var in ("JUPYTERHUB_SESSIONS_SSH_PORT", "PATH", "JUPYTERHUB_SESSIONS_TEST_HUB"):
        if os.environ.get(var):
            env[var] = os.environ[var]
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
        "scopes": [*available_scopes(SERVICE_SCOPES), f"access:services!service={sessions_service}"],
        "services": [name],
    }
    return service, role


def configure_hub_for_cluster(
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
    configure_hub(
        c,
        data_dir=data_dir,
        public_url=public_url,
        port=pages_port,
        ssh_port=ssh_port,
        ssh_ip=bind,
        local=False,
        extra_args=args,
    )
    for service in c.JupyterHub.services:
        if service.get("name") == SERVICE_NAME:
            service["url"] = f"http://{service_host}:{int(pages_port)}"


def _public_url(c) -> str:
    hub = c.JupyterHub
    if "bind_url" in hub:
        return hub.bind_url
    ip = hub.ip if "ip" in hub and hub.ip not in ("", "0.0.0.0") else "127.0.0.1"
    port = hub.port if "port" in hub else 8000
    base = hub.base_url if "base_url" in hub else "/"
    return f"http://{ip}:{port}{base}"


def configure_hub(c, data_dir: str | Path, **kwargs) -> None:
    """Register the ssh service and its role, and let users open its pages."""
    kwargs.setdefault("public_url", os.environ.get("JUPYTERHUB_SESSIONS_PUBLIC_URL") or _public_url(c))
    service, role = hub_service(data_dir, **kwargs)
    services = _config_list(c.JupyterHub, "services")
    if any(s.get("name") == service["name"] for s in services):
        return
    c.JupyterHub.services = [*services, service]
    roles = [*_config_list(c.JupyterHub, "load_roles"), role]
    access = f"access:services!service={service['name']}"
    user_role = next((r for r in roles if r.get("name") == "user"), None)
    if user_role is None:
        roles.append({"name": "user", "scopes": ["self", access]})
    elif access not in user_role.setdefault("scopes", ["self"]):
        user_role["scopes"].append(access)
    c.JupyterHub.load_roles = roles
