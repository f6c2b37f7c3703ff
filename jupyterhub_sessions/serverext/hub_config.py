"""Hub settings the server extension relies on, applied from hub config files.

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
(`hub_fixes.include_group_shares_in_token_scopes`): without it a session
shared with a group lets none of the members in; and answers revoked or
expired share links with one clear 403 page (`hub_fixes.refuse_dead_share_links`).

Call it once from `jupyterhub_config.py` (hub_setup.configure_platform does).
It merges into what is already configured and can be called twice.
"""

from __future__ import annotations

DEFAULT_SERVER_SCOPES = ["users:activity!user", "access:servers!server"]


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
    from .. import hub_fixes

    if group_shares:
        hub_fixes.include_group_shares_in_token_scopes()
    hub_fixes.refuse_dead_share_links()
    roles = list(c.JupyterHub.load_roles) if "load_roles" in c.JupyterHub else []
    for role in roles:
        if role.get("name") == "user":
            role["scopes"] = _merge(role.get("scopes") or ["self"], user_scopes(service, share_by_name))
            break
    else:
        roles.append(
            {
                "name": "user",
                "description": "Standard user privileges, plus sharing own sessions",
                "scopes": user_scopes(service, share_by_name),
            }
        )
    c.JupyterHub.load_roles = roles

    current = c.Spawner.server_token_scopes if "server_token_scopes" in c.Spawner else []
    if not callable(current):  # a callable is an admin's own policy: leave it alone
        c.Spawner.server_token_scopes = _merge(current, server_token_scopes(service))
    allowed = c.Spawner.oauth_client_allowed_scopes if "oauth_client_allowed_scopes" in c.Spawner else []
    if not callable(allowed):
        c.Spawner.oauth_client_allowed_scopes = _merge(allowed, owner_login_scopes(service, share_by_name))
