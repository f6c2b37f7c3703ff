"""hub.roles.apply: the hub settings sharing and the sessions API need."""

from traitlets.config import Config

from jupyterhub_sessions.hub import roles as hub_config


def _user_role(c):
    (role,) = [r for r in c.JupyterHub.load_roles if r["name"] == "user"]
    return role


def test_users_may_share_their_own_servers():
    c = Config()
    hub_config.apply(c)
    scopes = _user_role(c)["scopes"]
    assert "self" in scopes
    assert "shares!user" in scopes
    assert "access:services!service=sessions" in scopes


def test_server_token_reads_its_own_session_and_manages_nothing():
    # collaborators can read the server token from a terminal: it must not share, stop or renew
    c = Config()
    hub_config.apply(c)
    scopes = c.Spawner.server_token_scopes
    assert not [s for s in scopes if s.startswith(("shares", "delete:", "admin:", "servers"))], scopes
    assert {"users:activity!user", "access:servers!server", "read:servers!server"} <= set(scopes)
    assert "access:services!service=sessions" in scopes


def test_the_owners_login_to_a_session_may_manage_that_server_only():
    c = Config()
    hub_config.apply(c)
    allowed = c.Spawner.oauth_client_allowed_scopes
    assert {"shares!server", "delete:servers!server", "access:services!service=sessions"} <= set(allowed)
    assert not [s for s in allowed if s.split(":")[0] in ("shares", "servers", "delete") and "!" not in s]
    assert "shares!user" not in allowed and "delete:servers!user" not in allowed


def test_apply_merges_with_existing_config_and_is_idempotent():
    c = Config()
    c.JupyterHub.load_roles = [
        {"name": "user", "scopes": ["self", "read:groups"]},
        {"name": "teachers", "scopes": ["admin:users"], "groups": ["t"]},
    ]
    c.Spawner.server_token_scopes = ["custom:thing"]
    hub_config.apply(c)
    hub_config.apply(c)
    scopes = _user_role(c)["scopes"]
    assert scopes.count("shares!user") == 1
    assert "read:groups" in scopes
    assert [r["name"] for r in c.JupyterHub.load_roles] == ["user", "teachers"]
    assert c.Spawner.server_token_scopes.count("read:servers!server") == 1
    assert c.Spawner.oauth_client_allowed_scopes.count("shares!server") == 1
    assert "custom:thing" in c.Spawner.server_token_scopes


def test_scopes_are_known_to_jupyterhub():
    from jupyterhub.scopes import _check_scopes_exist

    _check_scopes_exist(hub_config.user_scopes())
    _check_scopes_exist([s.replace("!server", "") for s in hub_config.server_token_scopes()])
    _check_scopes_exist([s.replace("!server", "") for s in hub_config.owner_login_scopes()])


def test_other_service_name():
    c = Config()
    hub_config.apply(c, service="my-sessions", share_by_name=False)
    assert "access:services!service=my-sessions" in _user_role(c)["scopes"]
    assert "read:users:name" not in c.Spawner.server_token_scopes
    assert "read:users:name" not in c.Spawner.oauth_client_allowed_scopes
    assert "access:services!service=my-sessions" in c.Spawner.oauth_client_allowed_scopes
