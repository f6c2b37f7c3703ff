"""jupyterhub-sessions on one machine: the embedded platform.

Run with `jupyterhub-sessions local`. It ships inside the package
(`jupyterhub_sessions.paths.LOCAL_CONFIG`), so a config of your own can extend it
with `load_subconfig(str(LOCAL_CONFIG))`.
Everything lives under one data directory ($JUPYTERHUB_SESSIONS_DATA_DIR,
default ./data): the hub database, cookie secret, drives, service state.

Settings read from the environment (all optional):

| variable | default | |
|---|---|---|
| JUPYTERHUB_SESSIONS_DATA_DIR | ./data | all state |
| JUPYTERHUB_SESSIONS_PROFILES | the package's example types (`paths.PACKAGE_PROFILES`) | session-type YAML directory |
| JUPYTERHUB_SESSIONS_PORT | 8000 | public port on 127.0.0.1 |
| JUPYTERHUB_SESSIONS_HUB_PORT | free, kept in <data>/ports.json | hub's internal port |
| JUPYTERHUB_SESSIONS_PROXY_API_PORT | free, kept in <data>/ports.json | configurable-http-proxy API port |
| JUPYTERHUB_SESSIONS_ADMINS | admin | comma-separated admin user names |
| JUPYTERHUB_SESSIONS_DEMO_PASSWORD | (none) | password for the demo authenticator |
| JUPYTERHUB_SESSIONS_SERVER_LIMIT | 3 | named sessions per user |
| JUPYTERHUB_SESSIONS_CONCURRENT_SPAWNS | 2 × CPUs (at least 4) | sessions starting at once; more get HTTP 429 |
| JUPYTERHUB_SESSIONS_KEEP_SESSIONS | 0 | 1 = sessions and proxy outlive a hub restart |
| JUPYTERHUB_SESSIONS_SANDBOX | auto | auto / bwrap / off: sessions in a bubblewrap sandbox |

The demo authenticator is JupyterHub's DummyAuthenticator: anyone can log in
with any name (and the demo password, if set). Any real authenticator plugs
in unchanged: set `c.JupyterHub.authenticator_class` after loading this file.
"""

import os
import sys
from pathlib import Path

from jupyterhub_sessions.embedded import internal_ports, isolation_warning, secure_data_dir
from jupyterhub_sessions.hub.platform import configure_platform
from jupyterhub_sessions.paths import PACKAGE_PROFILES
from jupyterhub_sessions.profiles import session_types_watcher

c = get_config()  # noqa: F821 - provided by JupyterHub's config loader

env = os.environ
data_dir = Path(env.get("JUPYTERHUB_SESSIONS_DATA_DIR", "data")).resolve()
secure_data_dir(data_dir)  # 0700/0600 for state and drives, also when they already exist
os.environ["JUPYTERHUB_SESSIONS_DATA_DIR"] = str(data_dir)
_warning = isolation_warning()
if _warning:
    print(f"[W jupyterhub-sessions] WARNING: {_warning}", file=sys.stderr, flush=True)
profiles_dir = env.get("JUPYTERHUB_SESSIONS_PROFILES") or str(PACKAGE_PROFILES)
# a bad session-type file stops start-up here, naming file, field and reason
session_types_watcher(profiles_dir).status()  # and a later broken edit keeps this set

# -- network: loopback only ----------------------------------------------------
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(env.get("JUPYTERHUB_SESSIONS_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
# internal ports: chosen free once per data dir, so several platforms can run side by side
ports = internal_ports(data_dir)
c.JupyterHub.hub_port = ports["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{ports['proxy_api_port']}"
c.ConfigurableHTTPProxy.pid_file = str(data_dir / "proxy.pid")

# -- state under one directory ---------------------------------------------------
c.JupyterHub.db_url = f"sqlite:///{data_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(data_dir / "jupyterhub_cookie_secret")

keep = env.get("JUPYTERHUB_SESSIONS_KEEP_SESSIONS", "0") == "1"
c.JupyterHub.cleanup_servers = not keep
c.JupyterHub.cleanup_proxy = not keep

# -- authentication (demo) -------------------------------------------------------
c.JupyterHub.authenticator_class = "dummy"
if env.get("JUPYTERHUB_SESSIONS_DEMO_PASSWORD"):
    c.DummyAuthenticator.password = env["JUPYTERHUB_SESSIONS_DEMO_PASSWORD"]
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {
    u.strip() for u in env.get("JUPYTERHUB_SESSIONS_ADMINS", "admin").split(",") if u.strip()
}

# -- sessions ----------------------------------------------------------------------
c.JupyterHub.spawner_class = "jupyterhub_sessions.spawner.local.LocalSessionSpawner"
c.LocalSessionSpawner.data_dir = str(data_dir)
c.Spawner.session_types_dir = profiles_dir
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60
# sessions share this machine's CPUs: past a few simultaneous starts, every one of
# them slows down together until all miss http_timeout (50 at once on 2 cores all
# failed). Spawns beyond this limit get an immediate 429 "try again" instead.
c.JupyterHub.concurrent_spawn_limit = int(
    env.get("JUPYTERHUB_SESSIONS_CONCURRENT_SPAWNS", str(max(4, 2 * (os.cpu_count() or 1))))
)

configure_platform(
    c,
    data_dir=data_dir,
    server_limit=int(env.get("JUPYTERHUB_SESSIONS_SERVER_LIMIT", "3")),
)
