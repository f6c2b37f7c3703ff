"""SSH access to sessions with registered device keys.

- `keys`: which public keys are accepted, fingerprints;
- `store`: the registered keys (sqlite under the data dir);
- `web`: pages and REST API of the `ssh` hub service (/services/ssh/);
- `devices`: invite codes and signed challenges (registration proves possession of the key);
- `gateway`, `tunnel`: the asyncssh gateway, carried into sessions over the server extension's
  exec endpoint and bridges;
- `app`: the service process (`python -m jupyterhub_sessions.ssh`).

Its registration with a hub is hub config and lives in `jupyterhub_sessions.hub.services`;
`configure_hub`, `configure_hub_for_cluster` and `hub_service` here are the old names, kept for
hub config files that use them.
"""

from __future__ import annotations

# the old names (hub config files), resolved on first use: the service process never loads them
_MOVED = {
    "configure_hub": "configure_ssh_service",
    "configure_hub_for_cluster": "configure_ssh_for_cluster",
    "hub_service": "ssh_service",
}


def __getattr__(name: str):
    if name in _MOVED:
        from ..hub import services

        return getattr(services, _MOVED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
