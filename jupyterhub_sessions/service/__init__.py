"""The `sessions` hub service: culling, renewals and the sessions REST API.

This package is what runs in the service's own process (`python -m jupyterhub_sessions.service`).
Its registration with a hub is hub config and lives in `jupyterhub_sessions.hub.services`;
`configure_hub`, `hub_service` and `user_scopes` here are the old names, kept for hub config
files that use them.
"""

from __future__ import annotations

# the old names (hub config files), resolved on first use: the service process never loads them
_MOVED = {
    "configure_hub": "configure_sessions_service",
    "hub_service": "sessions_service",
    "user_scopes": "sessions_user_scopes",
}


def __getattr__(name: str):
    if name in _MOVED:
        from ..hub import services

        return getattr(services, _MOVED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
