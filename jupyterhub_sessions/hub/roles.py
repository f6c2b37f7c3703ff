"""Every role and scope jupyterhub-sessions grants, and the one way they are added to a hub config.

JupyterHub 6 sharing is off for ordinary users unless their role allows it,
and a session's own token (`JUPYTERHUB_API_TOKEN`) only gets the scopes in
`Spawner.server_token_scopes` that its owner holds. `apply(c)` grants:

- users: `shares!user` (manage sharing of their own servers) and, to share
  with a user or group by name, `read:users:name` / `read:groups:name`;
  `access:services` + `read:services` for the sessions service;
- each server's own token (`JUPYTERHUB_API_TOKEN`, readable by anyone with a
  terminal in the session, collaborators included): only what the server
  itself needs - report activity, read *its own* session from the sessions
  service (`read:servers!server`) and find that service. It can neither
  share, nor renew or stop anything;
- each server's OAuth client (`Spawner.oauth_client_allowed_scopes`): the
  owner's browser login to their session may also manage that one server's
  shares and renew it (`shares!server`, `delete:servers!server`, plus the
  service and name scopes). The hub intersects these with the visitor's own
  permissions, so a collaborator's login to the same server gets none of them.

It also makes group shares reach group members' tokens
(`fixes.include_group_shares_in_token_scopes`): without it a session
shared with a group lets none of the members in; and answers revoked or
expired share links with one clear 403 page (`fixes.refuse_dead_share_links`).

The hub services' own roles are built in `services`; they and the dashboard's token-only service
are added with `add_service` (once per name), users' extra scopes with `add_user_scopes`.
Every function merges into what is already configured and can be called twice.
"""

from __future__ import annotations

from . import compat, fixes

DEFAULT_SERVER_SCOPES = ["users:activity!user", "access:servers!server"]


def config_list(section, key: str) -> list:
    """A list-valued hub setting as a plain list (also when only appended to so far)."""
    if key not in section:
        return []
    value = section[key]
    if hasattr(value, "to_dict"):  # traitlets LazyConfigValue
        ops = value.to_dict()
        return [*ops.get("prepend", []), *ops.get("extend", []), *(i for _, i in ops.get("inserts", []))]
    return list(value or [])


def find_service(c, name: str) -> dict | None:
    """The `c.JupyterHub.services` entry called `name`, if any."""
    return next((s for s in config_list(c.JupyterHub, "services") if s.get("name") == name), None)


def add_service(c, service: dict, role: dict | None = None) -> bool:
    """Add a hub service entry (and its role) unless one of that name is there; True if added."""
    if find_service(c, service["name"]) is not None:
        return False
    # plain lists from here on (also where only appended to so far), so later parts can read them
    c.JupyterHub.services = [*config_list(c.JupyterHub, "services"), service]
    if role is not None:
        c.JupyterHub.load_roles = [*config_list(c.JupyterHub, "load_roles"), role]
    return True


def _user_role(roles: list, description: str = "") -> dict:
    """The `user` role in `roles` (added, keeping `self`, if missing: it replaces the default one)."""
    role = next((r for r in roles if r.get("name") == "user"), None)
    if role is None:
        role = {"name": "user", "scopes": ["self"]}
        if description:
            role["description"] = description
        roles.append(role)
    role["scopes"] = list(role.get("scopes") or ["self"])
    return role


def add_user_role_scopes(c, scopes, description: str = "") -> None:
    """Merge `scopes` into the `user` role in `load_roles`."""
    roles = config_list(c.JupyterHub, "load_roles")
    role = _user_role(roles, description)
    role["scopes"] += [s for s in scopes if s not in role["scopes"]]
    c.JupyterHub.load_roles = roles


def add_user_scopes(c, scopes) -> None:
    """Give every user `scopes`: `extra_user_scopes` where JupyterHub has it (6.0), else the
    `user` role (JupyterHub 5.5, see `compat`)."""
    if compat.has_extra_user_scopes():
        c.JupyterHub.extra_user_scopes.update(scopes)
    else:
        add_user_role_scopes(c, scopes)


def user_scopes(service: str = "sessions", share_by_name: bool = True) -> list[str]:
    scopes = [
        "self",
        "shares!user",
        f"access:services!service={service}",
        f"read:services!service={service}",
    ]
    if share_by_name:
        scopes += ["read:users:name", "read:groups:name"]
    return scopes


def server_token_scopes(service: str = "sessions") -> list[str]:
    return [
        *DEFAULT_SERVER_SCOPES,
        "read:servers!server",
        f"access:services!service={service}",
        f"read:services!service={service}",
    ]


def owner_login_scopes(service: str = "sessions", share_by_name: bool = True) -> list[str]:
    """What a browser login to a session may carry when its user owns the session."""
    scopes = [
        "shares!server",
        "read:servers!server",
        "delete:servers!server",
        f"access:services!service={service}",
    ]
    if share_by_name:
        scopes += ["read:users:name", "read:groups:name"]
    return scopes


def _merge(existing, extra) -> list[str]:
    out = list(existing or [])
    out += [s for s in extra if s not in out]
    return out


def apply(c, service: str = "sessions", share_by_name: bool = True, group_shares: bool = True) -> None:
    """Grant users and session tokens what sharing and the sessions API need."""
    if group_shares:
        fixes.include_group_shares_in_token_scopes()
    fixes.refuse_dead_share_links()
    add_user_role_scopes(
        c, user_scopes(service, share_by_name), "Standard user privileges, plus sharing own sessions"
    )
    current = c.Spawner.server_token_scopes if "server_token_scopes" in c.Spawner else []
    if not callable(current):  # a callable is an admin's own policy: leave it alone
        c.Spawner.server_token_scopes = _merge(current, server_token_scopes(service))
    allowed = c.Spawner.oauth_client_allowed_scopes if "oauth_client_allowed_scopes" in c.Spawner else []
    if not callable(allowed):
        c.Spawner.oauth_client_allowed_scopes = _merge(allowed, owner_login_scopes(service, share_by_name))
