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
        label, age, policy.format_time(verdict.expires_at), verdict.timeout,
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


async def cull_pass(
    client: HubClient,
    sessions: SessionPolicy,
    now: datetime,
    *,
    remove_named_servers: bool = False,
) -> CullReport:
    """Run one pass as of `now`, then prune and save the store."""
    report = CullReport()
    # records made during the pass (a renewal of a session that just started)
    # are not pruned: only those the listing could have seen
    known_before = set(sessions.store.records)
    alive = set()
    tasks = []
    try:
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
                    tasks.append(
                        asyncio.ensure_future(
                            _cull_one(client, session, verdict, remove_named_servers, report)
                        )
                    )
    finally:
        # a failed listing still lets the stops already asked for finish
        if tasks:
            await asyncio.gather(*tasks)
    # only a complete listing may prune (an error above skips this)
    report.pruned = sessions.store.prune(alive, known_before)
    await sessions.store.save()
    log.info(
        "Cull pass: %d running sessions checked, %d stopped, %d starting/stopping skipped, %d errors",
        report.checked, len(report.stopped), report.skipped_pending, len(report.errors),
    )
    return report
