"""Make a loss of access take effect on open connections, whatever caused it.

The hub only decides who may *open* a request; a collaborator's websockets
(collaboration room, kernel, terminal, proxied app, TCP and sftp bridges)
would stay open after their access is gone. Two paths close them:

- at once, when the owner revokes through this session's API
  (`close_revoked_connections` after the hub call);
- every `SessionsServerExtension.access_recheck_interval` seconds
  (`AccessWatch`), for everything else that can remove access: a revoke
  through the hub's API or UI, a member removed from a shared group, the
  user's token revoked or expired, the user deleted.

Each check asks the hub about each connection's own token, bypassing the
identity cache; a connection whose token no longer grants access to this
server is closed (1008), and the cache is cleared so a reconnect is asked
afresh. A hub that cannot answer counts as "no access" (fail closed). The
owner's own connections are never touched. Tornado keeps no registry of open
websockets: `track_websockets` keeps one (a weak set filled as each is
accepted); without it they are found by walking live objects.

Also here: the server's own API token is not a way *into* the server
(`refuse_own_token`). Anyone with a terminal in the session can read it;
without this, a collaborator who copied it would keep the owner's access to
the session after being revoked.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import weakref

from tornado.ioloop import PeriodicCallback
from tornado.websocket import WebSocketHandler

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008


_registry: weakref.WeakSet[WebSocketHandler] | None = None


def track_websockets() -> None:
    """Remember every websocket this server accepts, so a check need not walk the heap.

    Every tornado websocket (terminals, kernels, collaboration rooms, proxied
    apps, our bridges) goes through `WebSocketHandler.get_websocket_protocol`
    when it is accepted; the wrapper adds the handler to a weak set (it
    leaves when the handler is collected). Installed once, in the session's
    server process only.
    """
    global _registry
    if _registry is not None:
        return
    original = getattr(WebSocketHandler, "get_websocket_protocol", None)
    if original is None:  # a tornado without the hook: open_websockets walks the heap instead
        return
    registry: weakref.WeakSet[WebSocketHandler] = weakref.WeakSet()

    def get_websocket_protocol(self):
        registry.add(self)
        return original(self)

    WebSocketHandler.get_websocket_protocol = get_websocket_protocol
    _registry = registry


def open_websockets() -> list[WebSocketHandler]:
    candidates = list(_registry) if _registry is not None else gc.get_objects()
    return [
        o
        for o in candidates
        if isinstance(o, WebSocketHandler) and getattr(o, "ws_connection", None) is not None
    ]


async def still_allowed(hub_auth, handler) -> bool:
    """Ask the hub (no cache) whether the handler's token still grants access to this server."""
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


def _user_of(handler) -> str | None:
    user = getattr(handler, "_jupyterhub_user", None) or getattr(handler, "current_user", None)
    return getattr(user, "username", None)


async def close_revoked_connections(serverapp, owner: str, who: str = "", clear_cache: bool = True) -> int:
    """Close open websockets whose (non-owner) user no longer has access; returns how many.

    Each distinct token is asked about once per call. `clear_cache=False` keeps
    the identity cache unless something was closed (the periodic check).
    """
    hub_auth = getattr(serverapp.identity_provider, "hub_auth", None)
    if hub_auth is None:
        return 0
    if clear_cache:
        forget_identities(serverapp)
    verdicts: dict[str, bool] = {}
    revoked: set[str] = set()
    closed = 0
    for handler in open_websockets():
        name = _user_of(handler)
        if name is None or name == owner:
            continue
        token = hub_auth.get_token(handler) or ""
        if token not in verdicts:
            try:
                verdicts[token] = await still_allowed(hub_auth, handler)
            except Exception as e:  # noqa: BLE001 - an unreachable hub must not keep access open
                log.warning("Could not re-check user=%s in %s (%s): closing", name, who, e)
                verdicts[token] = False
        if not verdicts[token] and handler.ws_connection is not None:
            handler.close(POLICY_VIOLATION, "access to this session was revoked")
            revoked.add(name)
            closed += 1
    if closed:
        forget_identities(serverapp)
        log.info(
            "Closed %d connection(s) of user(s) %s who lost access to %s",
            closed,
            ", ".join(sorted(revoked)),
            who,
        )
    return closed


class AccessWatch:
    """Re-checks every collaborator's open websockets with the hub every `interval` seconds."""

    def __init__(self, serverapp, owner: str, who: str, interval: float):
        self.serverapp = serverapp
        self.owner = owner
        self.who = who
        self.interval = interval
        self._callback: PeriodicCallback | None = None
        self._busy = False

    def start(self) -> None:
        if self.interval > 0 and self._callback is None:
            self._callback = PeriodicCallback(self.check, self.interval * 1000)
            self._callback.start()

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    async def check(self) -> int:
        """One pass (skipped while the previous one still runs, e.g. on a slow hub)."""
        if self._busy:
            return 0
        self._busy = True
        try:
            return await close_revoked_connections(self.serverapp, self.owner, self.who, clear_cache=False)
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one bad pass stop the watch
            log.exception("Access re-check failed in %s", self.who)
            return 0
        finally:
            self._busy = False


def refuse_own_token(serverapp, own_token: str) -> None:
    """Requests that carry the server's own API token are not let in as anyone.

    Wraps the identity provider's public `get_user`; the hub's own calls never
    use this token on the server (it checks readiness without one).
    """
    provider = serverapp.identity_provider
    hub_auth = getattr(provider, "hub_auth", None)
    if hub_auth is None or not own_token or getattr(provider, "_sessions_refuses_own_token", False):
        return
    original = provider.get_user
    expected = own_token.encode()

    async def get_user(handler):
        token = hub_auth.get_token(handler) or ""
        if token and hmac.compare_digest(token.encode(), expected):
            log.warning("Refused a request to %s made with the server's own API token", handler.request.path)
            handler._jupyterhub_user = None
            return None
        return await original(handler)

    provider.get_user = get_user
    provider._sessions_refuses_own_token = True
