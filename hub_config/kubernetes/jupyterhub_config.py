"""jupyterhub-sessions on Kubernetes (Zero to JupyterHub).

Loaded by the hub after Zero to JupyterHub's own config (copy it into
/usr/local/etc/jupyterhub/jupyterhub_config.d/, see README.md here), or on its
own with `jupyterhub -f`. It selects SessionKubeSpawner, turns on named
servers, registers the `sessions` hub service and validates every session
type now, so a bad profile file stops the hub with file, field and reason.

Settings read from the environment (all optional):

| variable | default | |
|---|---|---|
| JUPYTERHUB_SESSIONS_PROFILES | /etc/jupyterhub-sessions/profiles, else the package's profiles | session-type YAML directory |
| JUPYTERHUB_SESSIONS_DATA_DIR | /srv/jupyterhub/sessions | service state (z2jh's hub volume) |
| JUPYTERHUB_SESSIONS_SERVER_LIMIT | 3 | named sessions per user |
| JUPYTERHUB_SESSIONS_SERVICE_HOST | hub | host other pods reach the hub pod by (z2jh's `hub` Service) |
| JUPYTERHUB_SESSIONS_SERVICE_PORT | 8181 | port of the sessions service on the hub pod |
| JUPYTERHUB_SESSIONS_SERVICE_BIND | 0.0.0.0 | address the sessions service listens on in the hub pod |
| JUPYTERHUB_SESSIONS_SSH | 1 | `0` leaves the `ssh` service (key pages + SSH gateway) out |
| JUPYTERHUB_SESSIONS_SSH_PORT | 2222 | port the SSH gateway listens on in the hub pod (expose it with ssh-service.yaml) |
| JUPYTERHUB_SESSIONS_SSH_SERVICE_PORT | 8282 | port of the ssh service's key pages on the hub pod |
| JUPYTERHUB_SESSIONS_SSH_PUBLIC_HOST | (the host the page was opened on) | host name users `ssh` to, shown on the key page |
| JUPYTERHUB_SESSIONS_SSH_PUBLIC_PORT | 22 | port users `ssh` to (ssh-service.yaml maps 22 to the gateway's port) |
| JUPYTERHUB_SESSIONS_PUBLIC_URL | http://proxy-public/ | the hub's URL from inside the cluster; the gateway reaches sessions through it |
| JUPYTERHUB_SESSIONS_DRIVE_CAPACITY | 10Gi | size of new drives |
| JUPYTERHUB_SESSIONS_DRIVE_STORAGE_CLASS | (cluster default) | StorageClass of new drives |
"""

import os
from pathlib import Path

from jupyterhub_sessions import ssh
from jupyterhub_sessions.hub_setup import configure_platform
from jupyterhub_sessions.paths import PACKAGE_PROFILES
from jupyterhub_sessions.profiles import load_session_types
from jupyterhub_sessions.service import configure_hub as _sessions_service

c = get_config()  # noqa: F821 - provided by JupyterHub's config loader
env = os.environ

_ETC_PROFILES = Path("/etc/jupyterhub-sessions/profiles")
profiles_dir = env.get("JUPYTERHUB_SESSIONS_PROFILES") or str(
    _ETC_PROFILES if _ETC_PROFILES.is_dir() else PACKAGE_PROFILES
)
os.environ["JUPYTERHUB_SESSIONS_PROFILES"] = profiles_dir  # the service reads it too
# a bad session-type file stops start-up here, naming file, field and reason
load_session_types(profiles_dir)

data_dir = Path(env.get("JUPYTERHUB_SESSIONS_DATA_DIR", "/srv/jupyterhub/sessions"))
try:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
except OSError as e:
    raise SystemExit(f"jupyterhub-sessions: cannot use data dir {data_dir}: {e.strerror}") from None

# -- sessions: pods via KubeSpawner ------------------------------------------------
c.JupyterHub.spawner_class = "jupyterhub_sessions.spawner.kube.SessionKubeSpawner"
c.SessionKubeSpawner.session_types_dir = profiles_dir
if env.get("JUPYTERHUB_SESSIONS_DRIVE_CAPACITY"):
    c.SessionKubeSpawner.drive_capacity = env["JUPYTERHUB_SESSIONS_DRIVE_CAPACITY"]
if env.get("JUPYTERHUB_SESSIONS_DRIVE_STORAGE_CLASS"):
    c.SessionKubeSpawner.drive_storage_class = env["JUPYTERHUB_SESSIONS_DRIVE_STORAGE_CLASS"]
# drives are our own PVCs (one per user and drive name), never z2jh's per-user PVC
c.KubeSpawner.storage_pvc_ensure = False
c.KubeSpawner.delete_pvc = False

# -- named servers, sharing, scopes (shared with the embedded config) ---------------
configure_platform(
    c,
    data_dir=data_dir,
    server_limit=int(env.get("JUPYTERHUB_SESSIONS_SERVER_LIMIT", "3")),
    services=False,  # registered below, reachable from other pods
)

# -- the `sessions` hub service (culler + REST API), run by the hub in its pod -------
host = env.get("JUPYTERHUB_SESSIONS_SERVICE_HOST", "hub")
port = int(env.get("JUPYTERHUB_SESSIONS_SERVICE_PORT", "8181"))
bind = env.get("JUPYTERHUB_SESSIONS_SERVICE_BIND", "0.0.0.0")
# listen on the pod's interfaces; the proxy and sessions reach it through the hub Service
_sessions_service(c, data_dir=data_dir, port=port, args=[f"--bind-url=http://{bind}:{port}"])
for service in c.JupyterHub.services:
    if service.get("name") == "sessions":
        service["url"] = f"http://{host}:{port}"

# -- the `ssh` hub service: key pages and the SSH gateway, run by the hub in its pod ---
# Shells, commands, sftp and forwarded ports reach session pods through the proxy
# (terminals and the sessions' TCP and SFTP bridges).
if env.get("JUPYTERHUB_SESSIONS_SSH", "1").lower() not in ("0", "false", "no", "off"):
    ssh.configure_hub_for_cluster(
        c,
        data_dir=data_dir,  # the host key lives here, on the hub's volume: stable across restarts
        service_host=host,
        pages_port=int(env.get("JUPYTERHUB_SESSIONS_SSH_SERVICE_PORT", "8282")),
        ssh_port=int(env.get("JUPYTERHUB_SESSIONS_SSH_PORT", "2222")),
        public_url=env.get("JUPYTERHUB_SESSIONS_PUBLIC_URL", "http://proxy-public/"),
        public_host=env.get("JUPYTERHUB_SESSIONS_SSH_PUBLIC_HOST", ""),
        public_port=int(env.get("JUPYTERHUB_SESSIONS_SSH_PUBLIC_PORT", "22")),
        bind=bind,
    )
