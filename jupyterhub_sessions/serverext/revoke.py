"""Make a revoked share take effect at once, open connections included.

The hub only decides who may *open* a request; a collaborator's websockets
(collaboration room, kernel, terminal, proxied app) stay open after a
revoke. After the owner revokes access, every open websocket of someone
other than the owner is checked again with the hub and closed if its user
lost access. Tornado keeps no registry of open websockets and revokes are
rare, so they are found by walking live objects.
"""

from __future__ import annotations

import gc
import logging

from tornado.websocket import WebSocketHandler

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008


def open_websockets() -> list[WebSocketHandler]:
    return [
        o
        for o in gc.get_objects()
        if isinstance(o, WebSocketHandler) and getattr(o, "ws_connection", None) is not None
    ]


async def still_allowed(hub_auth, handler) -> bool:
    """Ask the hub (no cache) whether the handler's user still has access."""
    token = hub_auth.get_token(handler)
    if not token:
        return False
    model = await hub_auth.user_for_token(
        token, use_cache=False, session_id=hub_auth.get_session_id(handler), sync=False
    )
    return bool(model) and bool(hub_auth.check_scopes(hub_auth.access_scopes, model))


def forget_identities(serverapp) -> None:
    """Drop the hub's cached answers, so a share change applies to the next request."""
    hub_auth = getattr(serverapp.identity_provider, "hub_auth", None)
    if hub_auth is not None:
        hub_auth.cache.clear()


async def close_revoked_connections(serverapp, owner: str, who: str = "") -> int:
    """Close open websockets whose (non-owner) user no longer has access; returns how many."""
    hub_auth = getattr(serverapp.identity_provider, "hub_auth", None)
    if hub_auth is None:
        return 0
    forget_identities(serverapp)
    verdicts: dict[str, bool] = {}
    closed = 0
    for handler in open_websockets():
        user = getattr(handler, "_jupyterhub_user", None) or getattr(handler, "current_user", None)
        name = getattr(user, "username", None)
        if name is None or name == owner:
            continue
        if name not in verdicts:
            try:
                verdicts[name] = await still_allowed(hub_auth, handler)
            except Exception as e:  # noqa: BLE001 - an unreachable hub must not keep access open
                log.warning("Could not re-check user=%s after a revoke (%s): closing", name, e)
                verdicts[name] = False
        if not verdicts[name]:
            handler.close(POLICY_VIOLATION, "access to this session was revoked")
            closed += 1
    if closed:
        log.info(
            "Closed %d connection(s) of revoked user(s) %s in %s",
            closed,
            ", ".join(sorted(n for n, ok in verdicts.items() if not ok)),
            who,
        )
    return closed
