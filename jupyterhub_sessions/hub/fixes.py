"""Fixes to the JupyterHub we run on, applied from the hub's config file.

The sharing fixes are applied by `hub.roles.apply(c)`, the server
name rule by `hub.platform.configure_platform` (so all by the shipped hub
configs); each one is idempotent and only changes what it names, and
`compat.report()` logs at hub start which ones this JupyterHub needs.

Group shares and tokens (JupyterHub 5.0 to 6.1.1 at least)
----------------------------------------------------------
`jupyterhub.scopes.get_scopes_for(token)` adds what is shared with the
token's owner directly (`owner.shared_with_me`) but not what is shared with
the owner's groups, although the same function does count group shares
when asked about a user (and the OAuth consent page does too). So a member
of a group a session is shared with is offered the OAuth grant, but then
every request with the resulting token, and with their API tokens, is
refused: group sharing is granted and listed, yet lets nobody in.

`include_group_shares_in_token_scopes()` wraps `get_scopes_for` so a user's
token also gets its groups' share scopes, on exactly the terms the hub uses
for the user's own shares: intersected with what the token asked for (an
`inherit` token gets them all). A share's scopes are only ever
`access:servers!server=...` kinds, so the wrapper can add nothing beyond
access to servers shared with one of the user's groups. It reads
membership and shares at every call, as the hub does, so removing a member
from the group or revoking the share takes effect at the next request.

The wrapper only adds scopes, so it is harmless once JupyterHub counts group
shares itself (upstream: `owner.all_shared_with_me` in place of
`owner.shared_with_me`).

Dead share links get a 403 page
-------------------------------
A share link that was revoked or has expired (or never existed) gets
JupyterHub's 404 "Share not found or expired" when opened, and a 400
"Invalid share code: <code>" when the invitation page is submitted after the
owner revoked it. `refuse_dead_share_links()` turns both into one 403 page that
says what happened and what to do, the same for every dead code (so codes
cannot be probed) and without echoing the code.

New server names (JupyterHub 5.x)
---------------------------------
JupyterHub 6 refuses a new named server whose name is not a safe slug
(`jupyterhub.slugs.is_valid_safe_slug`: 1-30 lowercase letters, digits and
single hyphens, starting with a letter, ending with a letter or digit);
JupyterHub 5.5 (Zero to JupyterHub 4.4.0) only refuses a `/`, so
`<img src=x onerror=...>` became a server name, on every page and in SSH login
names. `refuse_unsafe_server_names()` applies JupyterHub 6's rule to new
servers there (existing ones keep working), before the server is created.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re

from tornado import web

log = logging.getLogger("JupyterHub")

_MARK = "_jupyterhub_sessions_fix"  # set on our wrappers, so each fix applies once


def group_share_scopes_for_token(token) -> frozenset[str]:
    """The scopes `token` gets from shares with its owner's groups."""
    import sqlalchemy as sa
    from jupyterhub import scopes

    user = token.user
    if user is None:
        return frozenset()
    shared = frozenset(
        scope for group in user.groups for share in group.shared_with_me for scope in share.scopes
    )
    if not shared:
        return frozenset()
    requested = set(token.scopes)
    if "inherit" in requested:
        return shared
    requested = set(scopes.expand_scopes(requested, owner=user, oauth_client=token.oauth_client))
    if token.client_id != "jupyterhub":
        # an OAuth token may be used on the server it was issued for
        requested |= scopes.access_scopes(token.oauth_client)
    return frozenset(scopes._intersect_expanded_scopes(requested, shared, db=sa.inspect(token).session))


def include_group_shares_in_token_scopes() -> bool:
    """Make the hub count group shares for tokens; returns False if already done."""
    from jupyterhub import orm, scopes
    from jupyterhub.apihandlers import base as api_base

    original = scopes.get_scopes_for
    if getattr(original, _MARK, False):
        return False

    def get_scopes_for(orm_object):
        expanded = original(orm_object)
        if isinstance(orm_object, orm.APIToken):
            extra = group_share_scopes_for_token(orm_object)
            if extra - expanded:
                expanded = set(expanded) | extra
        return expanded

    get_scopes_for.__doc__ = original.__doc__
    get_scopes_for.__wrapped__ = original
    setattr(get_scopes_for, _MARK, True)
    scopes.get_scopes_for = get_scopes_for
    # imported by name there: `from ..scopes import get_scopes_for`
    if getattr(api_base, "get_scopes_for", None) is original:
        api_base.get_scopes_for = get_scopes_for
    log.info("jupyterhub-sessions: tokens now include their owner's group shares")
    return True


DEAD_SHARE_LINK = (
    "This share link is no longer valid: the owner revoked it, or it has expired. "
    "Ask the session's owner for a new link."
)
# what JupyterHub raises for a code it cannot find (expired codes are not found)
_DEAD_CODE_ERRORS = {404: "Share not found", 400: "Invalid share code"}


def _refusing_dead_codes(method):
    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        except web.HTTPError as e:
            prefix = _DEAD_CODE_ERRORS.get(e.status_code)
            if prefix and (e.log_message or "").startswith(prefix):
                user = getattr(self.current_user, "name", "?")
                log.info("Refused a dead share link for user=%s (%s)", user, e.status_code)
                raise web.HTTPError(403, DEAD_SHARE_LINK) from None
            raise

    setattr(wrapper, _MARK, True)
    return wrapper


def refuse_dead_share_links() -> bool:
    """Answer revoked and expired share links with one clear 403; False if already done."""
    from jupyterhub.handlers import pages

    handler = getattr(pages, "AcceptShareHandler", None)
    if handler is None:
        log.warning(
            "jupyterhub-sessions: no AcceptShareHandler in this JupyterHub; share-link pages unchanged"
        )
        return False
    if getattr(handler.get, _MARK, False):
        return False
    handler.get = _refusing_dead_codes(handler.get)
    handler.post = _refusing_dead_codes(handler.post)
    return True


# JupyterHub 6's jupyterhub.slugs.is_valid_safe_slug, for JupyterHub versions without it
_SAFE_SLUG = re.compile(r"^[a-z](?:[a-z0-9]*(?:-[a-z0-9]+)*)$")
_SAFE_SLUG_MAX = 30
INVALID_SERVER_NAME = (
    "Invalid server name: use 1-30 lowercase letters, digits and single hyphens, "
    "starting with a letter and ending with a letter or digit"
)


def is_safe_server_name(name: str) -> bool:
    """JupyterHub 6's rule for new server names (empty = the default server)."""
    if not name:
        return True
    try:
        from jupyterhub.slugs import is_valid_safe_slug
    except ImportError:
        return len(name) <= _SAFE_SLUG_MAX and bool(_SAFE_SLUG.match(name))
    return is_valid_safe_slug(name)


def hub_checks_server_names() -> bool:
    """JupyterHub >= 6 refuses unsafe new server names itself."""
    try:
        import jupyterhub.slugs  # noqa: F401
    except ImportError:
        return False
    return True


def refuse_unsafe_server_names() -> bool:
    """On JupyterHub < 6: refuse new servers whose names JupyterHub 6 refuses; False if not needed."""
    if hub_checks_server_names():
        return False
    from jupyterhub.user import User

    original = User._new_orm_spawner
    if getattr(original, _MARK, False):
        return False

    @functools.wraps(original)
    def _new_orm_spawner(self, server_name, *args, **kwargs):
        if not is_safe_server_name(server_name):
            log.warning("Refused a new server for user=%s: unsafe server name", self.name)
            raise web.HTTPError(400, INVALID_SERVER_NAME)
        return original(self, server_name, *args, **kwargs)

    setattr(_new_orm_spawner, _MARK, True)
    User._new_orm_spawner = _new_orm_spawner
    log.info("jupyterhub-sessions: new server names follow JupyterHub 6's rule (this JupyterHub has none)")
    return True
