"""Hub configuration both ready-made configs share (local and Kubernetes).

`configure_platform(c, ...)` switches on what a sessions platform needs from
a stock JupyterHub: named servers with a per-user limit, the `sessions` hub
service (culler + REST API), the `ssh` service, the Sessions dashboard as the
home page, sharing for collaborative sessions, and the scopes each session's
own token needs.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from .. import dashboard
from . import compat, fixes, roles
from . import services as hub_services


def configure_platform(
    c,
    data_dir: Path,
    server_limit: int = 3,
    services: bool = True,
    user_types_store: str | None = None,
    embedded: bool = True,
) -> None:
    """Apply the shared platform settings to the JupyterHub config object `c`.

    `services=False`: the sessions and ssh services are registered by the caller (Kubernetes:
    reachable from other pods). `user_types_store`: where personal session types are kept (the
    spawner reads, the sessions service writes): default `<data_dir>/user-types`; "configmap" on
    Kubernetes. They are offered only when `_policy.yaml` has a `user_types` section.
    """
    # JupyterHub 5.5 (Zero to JupyterHub 4.4.0) and 6.x: say at hub start what differs
    compat.report()
    fixes.refuse_unsafe_server_names()
    # plain lists, so every part (and later config) can append to them
    for key in ("services", "load_roles"):
        if key not in c.JupyterHub:
            setattr(c.JupyterHub, key, [])
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = server_limit
    c.JupyterHub.default_url = "/hub/home"
    redact_tokens_in_logs()
    store = user_types_store if user_types_store is not None else str(Path(data_dir) / "user-types")
    if "user_types_store" not in c.SessionSpawnerMixin:
        c.SessionSpawnerMixin.user_types_store = store
    if services:
        args = [f"--user-types-store={store}"] + (["--embedded"] if embedded else [])
        hub_services.configure_sessions_service(c, data_dir=Path(data_dir), args=args)
        hub_services.configure_ssh_service(c, data_dir=Path(data_dir))
    # the home page; it finds the sessions service by name when a page renders
    dashboard.configure_hub(c, data_dir=Path(data_dir))
    roles.apply(c)


_TOKEN_IN_URL = re.compile(r"([?&](?:token|access_token)=)[^&\s\"']+", re.IGNORECASE)
# tornado logs refused requests (e.g. "403 GET /hub/api/users?token=..." when a
# token is sent in a URL, which JupyterHub refuses) with the raw URI; JupyterHub
# only scrubs its own access log
_REDACTED_LOGGERS = ("tornado.general", "tornado.access", "tornado.application", "JupyterHub")


class _RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - never break logging
            return True
        if "token=" in message.lower():
            record.msg = _TOKEN_IN_URL.sub(r"\1[secret]", message)
            record.args = ()
        return True


def redact_tokens_in_logs() -> None:
    """Replace `?token=...` in the hub's log lines with `[secret]` (idempotent)."""
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokens) for f in logger.filters):
            logger.addFilter(_RedactTokens())
