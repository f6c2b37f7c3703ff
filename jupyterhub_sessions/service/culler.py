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
from datetime import datetime, timedelta

from . import endings, policy
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
    ended_elsewhere: list[tuple[str, str]] = field(default_factory=list)  # (user, server) noticed gone


async def _cull_one(
    client: HubClient,
    sessions: SessionPolicy,
    session: Session,
    verdict: policy.Verdict,
    now: datetime,
    remove_named: bool,
    report: CullReport,
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
    else:
        if result == "stopping":
            log.info("Session %s is stopping (slow stop)", label)
        st = sessions.session_type(session)
        sessions.store.record_end(endings.culled(session, verdict, st.lifetime.max_age if st else None, now))
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


def _ready_info(session: Session) -> dict:
    return {
        "started": session.server.get("started"),
        "session_type": session.session_type,
        "drive": session.drive,
    }


async def _notice_ends(client: HubClient, store, listed: dict, now: datetime, report: CullReport) -> None:
    """Record sessions that were ready at the last pass and have stopped without us since.

    Culls and stops through our API were recorded when they happened; what is
    left was stopped elsewhere (hub admin page or API, the process exited).
    Like pruning, a session missing from the listing only counts once its
    user's own model confirms it (offset pages can skip a user mid-listing).
    """
    previous = store.last_ready
    candidates = {
        (user, server, info.get("started") or "")
        for (user, server), info in previous.items()
        if (user, server) not in listed
    }
    gone = await _confirm_gone(client, candidates) if candidates else set()
    current: dict = {}
    for (user, server), session in listed.items():
        if session.server.get("ready") and not session.server.get("pending"):
            current[(user, server)] = _ready_info(session)
        elif (user, server) in previous:  # stopping or restarting: decide at a later pass
            current[(user, server)] = previous[(user, server)]
        old = store.ended.get((user, server))
        if old is not None and old.started != session.server.get("started") and session.server.get("ready"):
            store.forget_end(user, server)  # it runs again: that end was an earlier run's
    for user, server, started in candidates:
        if (user, server, started) not in gone:
            current[(user, server)] = previous[(user, server)]  # not confirmed: look again next pass
            continue
        recorded = store.ended.get((user, server))
        if recorded is not None and (recorded.started or "") == started:
            continue  # culled or stopped through the API: already recorded with its reason
        store.record_end(endings.gone(user, server, previous[(user, server)], now))
        report.ended_elsewhere.append((user, server))
        log.info(
            "Session user=%s session=%s stopped outside the sessions service", user, server or "(default)"
        )
    store.last_ready = current


async def cull_pass(
    client: HubClient,
    sessions: SessionPolicy,
    now: datetime,
    *,
    remove_named_servers: bool = False,
    ended_retention: timedelta = timedelta(days=30),
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
    listed: dict[tuple[str, str], Session] = {}
    expired: list[tuple[Session, policy.Verdict]] = []
    async for user in client.iter_users(state="active"):
        for session in sessions_of(user):
            alive.add(session.key)
            listed[(session.user, session.name)] = session
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
    await asyncio.gather(
        *(_cull_one(client, sessions, s, v, now, remove_named_servers, report) for s, v in expired)
    )
    await _notice_ends(client, sessions.store, listed, now, report)
    sessions.store.prune_ended(now - ended_retention)
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
