"""Jupyter server extension run by every session (collaboration, sharing, ports).

Enabled for every jupyter-server on install (`jupyter-config/` ships the
`jpserver_extensions` switch). It reads the session it runs in from
`JUPYTERHUB_SESSIONS_SESSION` and adds the `sessions-api/` REST API. What
must be decided before extensions are even found (collaboration on/off, the
default URL) is passed as command-line args by the spawner
(`hub.args.server_args`); the web-app launcher is configured at link time,
before jupyter-server-proxy loads.
"""

from __future__ import annotations


def _jupyter_server_extension_points():
    return [{"module": "jupyterhub_sessions.serverext"}]


def _link_jupyter_server_extension(serverapp):
    # runs before any extension loads: jupyter-server-proxy reads this config
    from .extension import link

    link(serverapp)


def _load_jupyter_server_extension(serverapp):
    # imported here: linking needs none of this
    from .extension import load

    load(serverapp)


load_jupyter_server_extension = _load_jupyter_server_extension
