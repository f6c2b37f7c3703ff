"""Old path of `jupyterhub_sessions.hub.roles` (hub config files call `hub_config.apply(c)`).

Nothing here runs in a session: the server extension never imports it.
"""

from ..hub.roles import apply, owner_login_scopes, server_token_scopes, user_scopes

__all__ = ["apply", "owner_login_scopes", "server_token_scopes", "user_scopes"]
