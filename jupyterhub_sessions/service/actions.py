"""What the sessions API and the service's no-JavaScript pages do: stop, delete, renew.

Both kinds of handler authenticate and check permission first (handlers.py,
pages.py); these functions then act through the hub API, record why a
session ended, and log who did it. Errors are `web.HTTPError` with a
message for people.
"""

from __future__ import annotations

from tornado import web

from . import endings
from .hubclient import HubAPIError
from .policy import RenewError
from .sessions import Session


def caller_role(caller: dict, owner: str) -> str:
    """owner | admin | service: how an end record names who stopped a session."""
    if caller.get("kind", "user") == "service":
        return "service"
    return "owner" if caller["name"] == owner else "admin"


def caller_label(caller: dict) -> str:
    return f"{caller.get('kind', 'user')} {caller['name']}"


async def _hub(service, coro, caller: dict):
    try:
        return await coro
    except HubAPIError as e:
        service.log.error("Hub API error for %s: %s", caller_label(caller), e)
        raise web.HTTPError(502, f"The hub API failed: {e.message}") from None


async def stop(service, session: Session, caller: dict) -> str:
    """Stop a running session (drive kept); records who stopped it. "stopped" or "stopping"."""
    result = await _hub(service, service.client.stop_server(session.user, session.name), caller)
    if result != "gone":
        record = endings.stopped(session, caller["name"], caller_role(caller, session.user), service.now())
        service.store.record_end(record)
        await service.store.save()
    service.log.info("Stopped %s at the request of %s (%s)", session.label, caller_label(caller), result)
    return result


async def delete(service, user: str, server: str, caller: dict) -> str:
    """Stop (if running) and remove a named session; its drive is kept. "deleted" or "deleting"."""
    if not server:
        raise web.HTTPError(400, "The default session cannot be deleted, only stopped.")
    result = await _hub(service, service.client.stop_server(user, server, remove=True), caller)
    if result == "gone":
        raise web.HTTPError(404, f"No session {server!r} of user {user!r}")
    service.store.forget_end(user, server)
    await service.store.save()
    service.log.info(
        "Deleted user=%s session=%s at the request of %s (drive kept)", user, server, caller_label(caller)
    )
    return "deleted" if result == "stopped" else "deleting"


async def renew(service, session: Session, caller: dict):
    """Extend the max-age expiry (policy.renew); 409 with the reason when refused."""
    if session.server.get("pending") or not session.server.get("ready"):
        raise web.HTTPError(
            409, f"Session is {session.server.get('pending') or 'not ready'}; renew it once it runs"
        )
    try:
        record = service.policy.renew(session, service.now())
    except RenewError as e:
        service.log.info("Refused renewal of %s by %s: %s", session.label, caller_label(caller), e.message)
        raise web.HTTPError(e.status, e.message) from None
    await service.store.save()
    service.log.info(
        "Renewed %s by %s: renewal %d, max-age expiry now %s",
        session.label,
        caller_label(caller),
        record.renewals,
        record.max_age_expires_at,
    )
    return record
