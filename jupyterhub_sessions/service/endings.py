"""Why a session ended: one record per (user, server), kept after the session is gone.

A culled session used to just vanish. The service is where most ends are
decided or can be seen, so it records them:

- culled: the deadline that passed (idle / absolute / max_age), with the
  last activity and the timeout, recorded when the hub accepted the stop;
- stopped through the sessions API (the dashboard, the CLI): who asked, and
  whether that was the owner, an admin or a service;
- stopped some other way (JupyterHub's admin page or REST API, the session's
  process exiting): noticed by the next cull pass, so the time is "by then".

Pure data and text here; the store (state.py) persists the records and the
culler and handlers make them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from ..profiles import NEVER
from . import policy

CULLED = (policy.IDLE, policy.ABSOLUTE, policy.MAX_AGE)
STOPPED = "stopped"  # through the sessions API, by `by`
GONE = "gone"  # stopped outside the service; noticed by a cull pass


@dataclass(frozen=True)
class EndRecord:
    """How one run of a session ended."""

    user: str
    server: str
    reason: str  # idle | absolute | max_age | stopped | gone
    ended_at: datetime
    started: str | None = None  # the hub's `started` of the run that ended
    by: str | None = None  # who stopped it (STOPPED)
    by_role: str | None = None  # owner | admin | service (STOPPED)
    last_activity: str | None = None  # (idle) the last activity before the cull
    timeout: int | None = None  # seconds, the session's timeout (idle, absolute)
    max_age: int | None = None  # seconds, the type's maximum age (max_age)
    session_type: str | None = None
    drive: str | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d["ended_at"] = policy.format_time(self.ended_at)
        d["name"] = d.pop("server")
        d["message"] = describe(self)
        return d

    @classmethod
    def from_json(cls, d: dict) -> EndRecord:
        ended = policy.parse_time(d.get("ended_at"))
        if ended is None or not isinstance(d.get("user"), str) or not isinstance(d.get("name"), str):
            raise ValueError("end record without user, name or ended_at")

        def text(key):
            v = d.get(key)
            return v if isinstance(v, str) else None

        def number(key):
            v = d.get(key)
            return v if isinstance(v, int) and not isinstance(v, bool) else None

        return cls(
            user=d["user"],
            server=d["name"],
            reason=str(d.get("reason") or GONE),
            ended_at=ended,
            started=text("started"),
            by=text("by"),
            by_role=text("by_role"),
            last_activity=text("last_activity"),
            timeout=number("timeout"),
            max_age=number("max_age"),
            session_type=text("session_type"),
            drive=text("drive"),
        )


def duration(seconds: int | None) -> str:
    """'1 hour', '4 days', '90 seconds' (what the spawn form shows for timeouts)."""
    if seconds is None:
        return "?"
    if seconds == NEVER:
        return "never"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def describe(r: EndRecord) -> str:
    """One sentence for people (times in UTC; the dashboard shows them in local time too)."""
    if r.reason == policy.IDLE:
        since = policy.format_time(policy.parse_time(r.last_activity)) or "its start"
        return f"Stopped after {duration(r.timeout)} idle (idle since {since})."
    if r.reason == policy.ABSOLUTE:
        return f"Stopped when its {duration(r.timeout)} timeout ran out (SSH-connected sessions count from the start)."
    if r.reason == policy.MAX_AGE:
        return f"Stopped at its maximum age ({duration(r.max_age)})."
    if r.reason == STOPPED:
        if r.by_role == "owner":
            return f"Stopped by its owner {r.by}."
        if r.by_role == "admin":
            return f"Stopped by admin {r.by}."
        return f"Stopped by {r.by_role or 'someone'} {r.by or ''}".rstrip() + "."
    return "Stopped outside the sessions dashboard (JupyterHub's admin page or API, or the session exited)."


def culled(session, verdict: policy.Verdict, lifetime_max_age: int | None, now: datetime) -> EndRecord:
    """The record of a cull of `session` (a sessions.Session) for `verdict`."""
    return EndRecord(
        user=session.user,
        server=session.name,
        reason=verdict.reason or policy.IDLE,
        ended_at=now,
        started=session.server.get("started"),
        last_activity=session.server.get("last_activity") or session.server.get("started"),
        timeout=verdict.timeout,
        max_age=lifetime_max_age,
        session_type=session.session_type,
        drive=session.drive,
    )


def stopped(session, by: str, by_role: str, now: datetime) -> EndRecord:
    """The record of a stop through the sessions API."""
    return EndRecord(
        user=session.user,
        server=session.name,
        reason=STOPPED,
        ended_at=now,
        started=session.server.get("started"),
        by=by,
        by_role=by_role,
        session_type=session.session_type,
        drive=session.drive,
    )


def gone(user: str, server: str, seen: dict, now: datetime) -> EndRecord:
    """A session seen running by an earlier pass that has since stopped without us."""
    return EndRecord(
        user=user,
        server=server,
        reason=GONE,
        ended_at=now,
        started=seen.get("started"),
        session_type=seen.get("session_type"),
        drive=seen.get("drive"),
    )
