"""jupyterhub-sessions on Zero to JupyterHub: the hub config, run inside the chart's own loader.

The chart's `jupyterhub_config.py` runs every file in `jupyterhub_config.d/`
(where `hub.extraFiles` lands) and every `hub.extraConfig` snippet *in its own
namespace*, where `get_config` is z2jh's `get_config(key, default=None)` and
`__file__` is the chart's file. So our config is a function of the package,
and the snippet the chart runs is two lines (`hub_config/kubernetes/values.yaml`
ships it as `hub.extraFiles`; the hub image needs only the wheel):

    from jupyterhub_sessions.z2jh_config import configure_z2jh
    configure_z2jh(c)

Inside the chart it reads the chart's values through the chart's own `z2jh`
module (service names, `proxy.https`, `hub.baseUrl`, `singleuser.profileList`).
Outside it (`jupyterhub -f hub_config/kubernetes/jupyterhub_config.py`) only the
environment applies.

Settings read from the environment (all optional):

| variable | default | |
|---|---|---|
| JUPYTERHUB_SESSIONS_PROFILES | /etc/jupyterhub-sessions/profiles if it exists, else the shipped examples | session-type YAML directory |
| JUPYTERHUB_SESSIONS_DATA_DIR | /srv/jupyterhub-sessions | SSH host key, SSH key store, sessions-service state: a volume (values.yaml mounts one, whatever `hub.db.type` is) |
| JUPYTERHUB_SESSIONS_SERVER_LIMIT | 3 | named sessions per user |
| JUPYTERHUB_SESSIONS_SERVICE_HOST | the chart's `hub` Service name | host other pods reach the hub pod by |
| JUPYTERHUB_SESSIONS_SERVICE_PORT | 8181 | port of the sessions service on the hub pod |
| JUPYTERHUB_SESSIONS_SERVICE_BIND | 0.0.0.0 | address the services listen on in the hub pod |
| JUPYTERHUB_SESSIONS_SSH | 1 | `0` leaves the `ssh` service (key pages + SSH gateway) out |
| JUPYTERHUB_SESSIONS_SSH_PORT | 2222 | port the SSH gateway listens on in the hub pod (ssh-service.yaml exposes it) |
| JUPYTERHUB_SESSIONS_SSH_SERVICE_PORT | 8282 | port of the ssh service's key pages on the hub pod |
| JUPYTERHUB_SESSIONS_SSH_PUBLIC_HOST | (the host the page was opened on) | host name users `ssh` to, shown on the key page |
| JUPYTERHUB_SESSIONS_SSH_PUBLIC_PORT | 22 | port users `ssh` to |
| JUPYTERHUB_SESSIONS_PUBLIC_URL | from the chart's values, see `proxy_url()` | the proxy's URL from inside the cluster; the SSH gateway reaches sessions through it |
| JUPYTERHUB_SESSIONS_DRIVE_CAPACITY | 10Gi | size of new drives |
| JUPYTERHUB_SESSIONS_DRIVE_STORAGE_CLASS | (cluster default) | StorageClass of new drives |
| JUPYTERHUB_SESSIONS_USER_TYPES_STORE | configmap | personal session types: `configmap` (needs hub_config/kubernetes/user-types-rbac.yaml), a directory (e.g. on the state volume), or empty (off); used only when `_policy.yaml` has `user_types` |
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from .hub.platform import configure_platform
from .hub.services import configure_sessions_service, configure_ssh_for_cluster
from .paths import PACKAGE_PROFILES
from .profiles import PROFILE_LIST_CONFLICT, session_types_watcher

log = logging.getLogger("JupyterHub")

ETC_PROFILES = Path("/etc/jupyterhub-sessions/profiles")
DEFAULT_DATA_DIR = "/srv/jupyterhub-sessions"


class Z2JHConfigError(ValueError):
    """A setting that cannot work with jupyterhub-sessions; the hub does not start."""


class ChartValues:
    """The chart's values and resource names, read through the chart's `z2jh` module.

    `z2jh` is importable only inside the chart's loader (it puts its own
    directory on sys.path); elsewhere every value is its default.
    """

    def __init__(self, module=None):
        self.module = module

    @classmethod
    def from_chart(cls) -> ChartValues:
        try:
            module = importlib.import_module("z2jh")
        except ImportError:
            return cls(None)
        if not hasattr(module, "get_config") or not hasattr(module, "get_name"):
            return cls(None)
        return cls(module)

    @property
    def in_chart(self) -> bool:
        return self.module is not None

    def get(self, key: str, default=None):
        if self.module is None:
            return default
        value = self.module.get_config(key, default)
        return default if value is None else value

    def name(self, short: str) -> str:
        """The full name of one of the chart's resources (`hub`, `proxy-public`, ...)."""
        if self.module is None:
            return short
        try:
            return self.module.get_name(short)
        except Exception:  # noqa: BLE001 - an older chart without that name: its default
            return short


def _service_port(service: str, port_name: str | None, default: int, env: Mapping) -> int:
    """A Service's port as Kubernetes tells pods (`<NAME>_SERVICE_PORT[_<PORT>]`), else `default`."""
    var = service.upper().replace("-", "_") + "_SERVICE_PORT"
    if port_name:
        var += "_" + port_name.upper().replace("-", "_")
    try:
        return int(env.get(var, default))
    except ValueError:
        return default


def proxy_url(values: ChartValues, env: Mapping = os.environ) -> str:
    """The proxy (configurable-http-proxy) as other pods reach it in plain HTTP.

    - default, and `proxy.https.type: offload`: `proxy-public` (port 80) is the proxy;
    - autohttps (`proxy.https.enabled`, `type: letsencrypt`, `hosts`): `proxy-public` is
      traefik, which redirects HTTP to HTTPS; the chart adds `proxy-http` (port 8000)
      in front of the proxy, and that is the URL;
    - `type: manual`/`secret`: the proxy itself serves HTTPS (HTTP only redirects), so
      the URL is `https://<first of proxy.https.hosts>/`.
    The path is `hub.baseUrl`.
    """
    base = "/" + str(values.get("hub.baseUrl", "/") or "/").strip("/") + "/"
    base = base.replace("//", "/")
    https = values.get("proxy.https", {}) or {}
    enabled = bool(https.get("enabled"))
    kind = https.get("type", "letsencrypt")
    hosts = https.get("hosts") or []
    if enabled and kind == "letsencrypt" and hosts:
        name = values.name("proxy-http")
        return f"http://{name}:{_service_port(name, None, 8000, env)}{base}"
    if enabled and kind in ("manual", "secret"):
        if not hosts:
            raise Z2JHConfigError(
                f"jupyterhub-sessions: proxy.https.type={kind} needs proxy.https.hosts (the SSH gateway "
                "reaches sessions at https://<host>/), or set JUPYTERHUB_SESSIONS_PUBLIC_URL"
            )
        return f"https://{hosts[0]}{base}"
    name = values.name("proxy-public")
    service = values.get("proxy.service", {}) or {}
    if service.get("disableHttpPort"):
        if enabled and kind == "offload":  # port 443 goes to the proxy's plain HTTP port then
            return f"http://{name}:{_service_port(name, 'https', 443, env)}{base}"
        raise Z2JHConfigError(
            "jupyterhub-sessions: proxy.service.disableHttpPort leaves no plain-HTTP way to the proxy; "
            "set JUPYTERHUB_SESSIONS_PUBLIC_URL"
        )
    return f"http://{name}:{_service_port(name, 'http', 80, env)}{base}"


def refuse_profile_list(c, values: ChartValues) -> None:
    """KubeSpawner's profile_list would override every session's image and resources: refuse it."""
    if values.get("singleuser.profileList"):
        raise Z2JHConfigError(PROFILE_LIST_CONFLICT.format(where="singleuser.profileList"))
    for section in ("KubeSpawner", "SessionKubeSpawner", "Spawner"):
        if section in c and "profile_list" in c[section] and c[section].profile_list:
            raise Z2JHConfigError(PROFILE_LIST_CONFLICT.format(where=f"c.{section}.profile_list"))


def profiles_dir(env: Mapping = os.environ) -> str:
    if env.get("JUPYTERHUB_SESSIONS_PROFILES"):
        return env["JUPYTERHUB_SESSIONS_PROFILES"]
    return str(ETC_PROFILES if ETC_PROFILES.is_dir() else PACKAGE_PROFILES)


def state_dir(env: Mapping = os.environ) -> Path:
    """The data directory, created; a warning if it is on no volume (it would not survive a restart)."""
    data_dir = Path(env.get("JUPYTERHUB_SESSIONS_DATA_DIR") or DEFAULT_DATA_DIR)
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise Z2JHConfigError(
            f"jupyterhub-sessions: cannot use data dir {data_dir}: {e.strerror}. Mount a volume there "
            "(values.yaml: hub.extraVolumes/extraVolumeMounts, hub-state-pvc.yaml) or set "
            "JUPYTERHUB_SESSIONS_DATA_DIR"
        ) from None
    if not any(os.path.ismount(p) for p in [data_dir, *data_dir.parents] if str(p) != "/"):
        log.warning(
            "jupyterhub-sessions: data dir %s is on no volume; the SSH host key, SSH keys and session "
            "renewals are lost when the hub pod restarts",
            data_dir,
        )
    return data_dir


def configure_z2jh(c, env: Mapping = os.environ) -> None:
    """Configure the hub config `c` for jupyterhub-sessions on Kubernetes (see the module doc)."""
    values = ChartValues.from_chart()
    refuse_profile_list(c, values)
    types_dir = profiles_dir(env)
    os.environ["JUPYTERHUB_SESSIONS_PROFILES"] = types_dir  # the sessions service reads it too
    # a bad file stops start-up here, naming file, field and reason; the set loaded now keeps
    # serving if a later edit breaks a file
    session_types_watcher(types_dir).status()
    data_dir = state_dir(env)

    # -- sessions: pods via KubeSpawner ---------------------------------------------
    c.JupyterHub.spawner_class = "jupyterhub_sessions.spawner.kube.SessionKubeSpawner"
    c.SessionKubeSpawner.session_types_dir = types_dir
    if env.get("JUPYTERHUB_SESSIONS_DRIVE_CAPACITY"):
        c.SessionKubeSpawner.drive_capacity = env["JUPYTERHUB_SESSIONS_DRIVE_CAPACITY"]
    if env.get("JUPYTERHUB_SESSIONS_DRIVE_STORAGE_CLASS"):
        c.SessionKubeSpawner.drive_storage_class = env["JUPYTERHUB_SESSIONS_DRIVE_STORAGE_CLASS"]
    # drives are our own PVCs (one per user and drive name), never z2jh's per-user PVC
    c.KubeSpawner.storage_pvc_ensure = False
    c.KubeSpawner.delete_pvc = False

    # -- named servers, sharing, scopes (shared with the embedded config) -----------
    user_types_store = env.get("JUPYTERHUB_SESSIONS_USER_TYPES_STORE", "configmap")
    configure_platform(
        c,
        data_dir=data_dir,
        server_limit=int(env.get("JUPYTERHUB_SESSIONS_SERVER_LIMIT", "3")),
        services=False,  # registered below, reachable from other pods
        user_types_store=user_types_store,
        embedded=False,
    )

    # -- the `sessions` hub service (culler + REST API), run by the hub in its pod ---
    host = env.get("JUPYTERHUB_SESSIONS_SERVICE_HOST") or values.name("hub")
    port = int(env.get("JUPYTERHUB_SESSIONS_SERVICE_PORT", "8181"))
    bind = env.get("JUPYTERHUB_SESSIONS_SERVICE_BIND", "0.0.0.0")
    # listen on the pod's interfaces; the proxy and sessions reach it through the hub Service
    args = [f"--bind-url=http://{bind}:{port}", f"--user-types-store={user_types_store}"]
    if env.get("POD_NAMESPACE"):  # the ConfigMaps of personal types live in the hub's namespace
        args.append(f"--user-types-namespace={env['POD_NAMESPACE']}")
    configure_sessions_service(c, data_dir=data_dir, port=port, args=args)
    for service in c.JupyterHub.services:
        if service.get("name") == "sessions":
            service["url"] = f"http://{host}:{port}"

    # -- the `ssh` hub service: key pages and the SSH gateway, run by the hub in its pod
    # Shells, commands, sftp and forwarded ports reach session pods through the proxy.
    if env.get("JUPYTERHUB_SESSIONS_SSH", "1").lower() not in ("0", "false", "no", "off"):
        configure_ssh_for_cluster(
            c,
            data_dir=data_dir,  # the host key lives here, on the state volume: stable across restarts
            service_host=host,
            pages_port=int(env.get("JUPYTERHUB_SESSIONS_SSH_SERVICE_PORT", "8282")),
            ssh_port=int(env.get("JUPYTERHUB_SESSIONS_SSH_PORT", "2222")),
            public_url=env.get("JUPYTERHUB_SESSIONS_PUBLIC_URL") or proxy_url(values, env),
            public_host=env.get("JUPYTERHUB_SESSIONS_SSH_PUBLIC_HOST", ""),
            public_port=int(env.get("JUPYTERHUB_SESSIONS_SSH_PUBLIC_PORT", "22")),
            bind=bind,
        )
