"""One cull pass: stop every running session whose idle, absolute or max-age deadline has passed.

A pass reads the hub's active users page by page and stops expired servers
concurrently (bounded by the hub client's semaphore). It skips servers that
are starting or stopping, never touches drives, and is idempotent: two
passes at the same time ask the hub to stop a server twice at most, and the
hub's "already stopping" (202) or "gone" (404) answers are not errors.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from . import policy
from .hubclient import HubAPIError, HubClient
from .sessions import Session, SessionPolicy, sessions_of

log = logging.getLogger("jupyterhub_sessions.service")


@dataclass
class CullReport:
    """What one pass saw and did (for logs, tests and the benchmark)."""

    checked: int = 0
    skipped_pending: int = 0
    stopped: list[tuple[str, str, str]] = field(default_factory=list)  # (user, server, reason)
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    pruned: int = 0


async def _cull_one(
    client: HubClient, session: Session, verdict: policy.Verdict, remove_named: bool, report: CullReport
) -> None:
    label = session.label
    age = verdict.reason or "expired"
    log.info(
        "Culling %s: %s deadline %s passed (timeout=%s)",
        label,
        age,
        policy.format_time(verdict.expires_at),
        verdict.timeout,
    )
    try:
        result = await client.stop_server(session.user, session.name, remove=remove_named)
    except HubAPIError as e:
        log.error("Failed to cull %s (%s): %s", label, age, e)
        report.errors.append((session.user, session.name, e.message))
        return
    if result == "gone":
        log.info("Session %s was already gone", label)
    elif result == "stopping":
        log.info("Session %s is stopping (slow stop)", label)
    report.stopped.append((session.user, session.name, age))


async def _confirm_gone(client: HubClient, candidates: set) -> set:
    """Of records the listing did not show, those whose session really is gone.

    Offset pagination can skip a user when another server stops mid-listing,
    so a record is only dropped after its user's own model confirms it.
    """
    by_user: dict[str, set] = {}
    for key in candidates:
        by_user.setdefault(key[0], set()).add(key)

    async def check(user: str, keys: set) -> set:
        try:
            model = await client.get_user(user)
        except HubAPIError as e:
            log.warning("Keeping session records of user=%s for now: %s", user, e)
            return set()
        alive = {s.key for s in sessions_of(model)} if model else set()
        return keys - alive

    results = await asyncio.gather(*(check(u, k) for u, k in by_user.items()))
    return set().union(*results) if results else set()


async def cull_pass(
    client: HubClient,
    sessions: SessionPolicy,
    now: datetime,
    *,
    remove_named_servers: bool = False,
) -> CullReport:
    """Run one pass as of `now`, then prune and save the store.

    The whole listing is read before anything is stopped: stopping shrinks
    the hub's `state=active` result, which would shift the offset pages
    under a listing still in progress and skip users.
    """
    report = CullReport()
    # records made during the pass (a renewal of a session that just started)
    # are not pruned: only those the listing could have seen
    known_before = set(sessions.store.records)
    alive = set()
    expired: list[tuple[Session, policy.Verdict]] = []
    async for user in client.iter_users(state="active"):
        for session in sessions_of(user):
            alive.add(session.key)
            server = session.server
            if server.get("pending"):
                report.skipped_pending += 1
                log.debug("Not culling %s: pending %s", session.label, server["pending"])
                continue
            if not server.get("ready"):
                continue
            report.checked += 1
            verdict = sessions.verdict(session, now)
            if verdict.expired:
                expired.append((session, verdict))
    await asyncio.gather(*(_cull_one(client, s, v, remove_named_servers, report) for s, v in expired))
    missing = {k for k in known_before if k not in alive}
    if missing:
        gone = await _confirm_gone(client, missing)
        report.pruned = sessions.store.prune(alive | (missing - gone), known_before)
    await sessions.store.save()
    log.info(
        "Cull pass: %d running sessions checked, %d stopped, %d starting/stopping skipped, %d errors",
        report.checked,
        len(report.stopped),
        report.skipped_pending,
        len(report.errors),
    )
    return report
