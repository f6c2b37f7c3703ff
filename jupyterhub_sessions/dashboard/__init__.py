"""The Sessions dashboard: the hub's home page, as a JupyterHub template override.

`configure_hub(c, data_dir)` (called by `hub.platform.configure_platform`):

- puts our `templates/` first on `c.JupyterHub.template_paths`, so the hub
  renders our `home.html` (it extends JupyterHub's own `page.html`: the
  hub's navbar, theme and layout);
- adds `c.JupyterHub.template_vars["sessions_dashboard"]`: a callable the
  hub calls with the page's user; it returns a `Dashboard` whose async
  `load()` the template awaits for what the stock home handler does not
  pass (session types, drives, shares, and from the sessions service the
  time left and why sessions ended);
- registers `sessions-dashboard`, a token-only hub service with read-only
  scopes, whose token the hub-side loader uses to read the sessions service
  (the browser's own requests use the browser's own login).

The page is complete without JavaScript; `dashboard.js` (inlined) refreshes
it in place and calls the hub and sessions APIs for the actions. See
docs/architecture.md ("Dashboard") for why it is built this way.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..hub.roles import add_service, find_service
from .loader import DashboardVars

TEMPLATES = Path(__file__).parent / "templates"
DASHBOARD_SERVICE = "sessions-dashboard"
# read the sessions service's session and end records for any user (the page shows each
# user only theirs; admins everyone's), and nothing else
DASHBOARD_SCOPES = ["read:servers", "access:services!service=sessions"]


def dashboard_token(data_dir: str | Path) -> str:
    """The dashboard's service token, made once and kept in the data directory (mode 0600)."""
    path = Path(data_dir) / "sessions-dashboard-token"
    try:
        token = path.read_text().strip()
        if len(token) >= 32:
            return token
    except OSError:
        pass
    token = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def configure_hub(
    c,
    data_dir: str | Path,
    sessions_service: str = "sessions",
    ssh_service: str | None = "ssh",
    service_url: str | None = None,
) -> None:
    """Make the dashboard the hub's home page (see the module docstring).

    `service_url`: where the hub process reaches the sessions service, if not at the `url` of its
    service entry (e.g. "http://127.0.0.1:8181" when both run in one pod).
    """
    paths = list(c.JupyterHub.template_paths) if "template_paths" in c.JupyterHub else []
    if str(TEMPLATES) not in paths:
        c.JupyterHub.template_paths = [str(TEMPLATES), *paths]
    if find_service(c, DASHBOARD_SERVICE) is not None:
        return
    token = dashboard_token(data_dir)
    add_service(
        c,
        {"name": DASHBOARD_SERVICE, "api_token": token, "display": False},
        {
            "name": f"{DASHBOARD_SERVICE}-reader",
            "description": "The sessions dashboard reads time left and why sessions ended",
            "scopes": list(DASHBOARD_SCOPES),
            "services": [DASHBOARD_SERVICE],
        },
    )
    c.JupyterHub.template_vars.update(
        {
            "sessions_dashboard": DashboardVars(
                token=token,
                find_service=lambda name: find_service(c, name),
                sessions_service=sessions_service,
                ssh_service=ssh_service,
                service_url=service_url,
            )
        }
    )
