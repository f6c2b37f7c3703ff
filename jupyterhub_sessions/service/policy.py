"""When a session expires, and what a renewal does: pure functions of an explicit `now`.

Three deadlines can end a session; the earliest one wins:

- idle: ``idle_from + timeout``, where ``idle_from`` is the last activity, or
  the moment the last SSH connection closed if that is later (closing an ssh
  window must not leave a session that is suddenly past its idle time);
- absolute (while at least one SSH connection is open): ``started + timeout``,
  because traffic through the gateway is not hub activity we can trust as
  "idle"; it applies only as long as a connection is open;
- max_age (the session type's ``lifetime.max_age``): ``started + max_age``,
  moved by renewals.

``timeout == -1`` means no idle/absolute deadline. A renewal sets the max-age
deadline to ``now + renewal_period`` (never earlier than it was), counts one
renewal, and is refused once ``max_renewals`` is reached. Renewing does not
reset the idle timer: activity does that. Renewal state is keyed by
(user, server, started), so a restarted session starts with no renewals.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from ..profiles import NEVER, Lifetime

IDLE = "idle"
ABSOLUTE = "absolute"
MAX_AGE = "max_age"
# why the idle/absolute timeout counts from where it does (`Verdict.timeout_basis`)
BASIS_ACTIVITY = "activity"  # idle, from the last activity (or the start)
BASIS_SSH_CLOSED = "ssh_closed"  # idle, from when the last SSH connection closed
BASIS_SSH_CONNECTED = "ssh_connected"  # absolute, from the start, while SSH connections are open
BASIS_NEVER = "never"  # timeout -1


class RenewError(Exception):
    """A renewal is refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(message)


def parse_time(value) -> datetime | None:
    """A hub API timestamp ("...Z" or offset; naive = UTC) as an aware datetime."""
    if not value or not isinstance(value, str):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def format_time(dt: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, like the hub API."""
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Record:
    """What the service remembers about one running session (by user, server, started)."""

    renewals: int = 0
    max_age_expires_at: datetime | None = None
    # ids of the SSH connections open now, as the ssh service reported them
    ssh_connections: frozenset[str] = frozenset()
    # when the last SSH connection closed (the idle timer counts from then, if later)
    ssh_closed_at: datetime | None = None

    @property
    def ssh(self) -> bool:
        return bool(self.ssh_connections)


def ssh_opened(record: Record, connection: str) -> Record:
    """An SSH connection to the session opened: the absolute timeout applies from now on."""
    return replace(record, ssh_connections=record.ssh_connections | {connection})


def ssh_closed(record: Record, connection: str, now: datetime) -> Record:
    """An SSH connection closed; if it was the last, the idle timer restarts at `now`."""
    if connection not in record.ssh_connections:
        return record
    left = record.ssh_connections - {connection}
    return replace(record, ssh_connections=left, ssh_closed_at=record.ssh_closed_at if left else now)


def ssh_all_closed(record: Record, now: datetime, prefix: str = "") -> Record:
    """An ssh service restarted: none of its connections (ids starting with `prefix`) is open."""
    left = frozenset(c for c in record.ssh_connections if not c.startswith(prefix))
    if left == record.ssh_connections:
        return record
    return replace(record, ssh_connections=left, ssh_closed_at=record.ssh_closed_at if left else now)


@dataclass(frozen=True)
class Verdict:
    """A session's expiry as of `now`."""

    mode: str
    timeout: int
    expires_at: datetime | None
    reason: str | None
    expired: bool
    renewals: int
    max_renewals: int | None
    renewable: bool
    # every deadline that applies, by reason (expires_at is the earliest)
    deadlines: dict[str, datetime] = field(default_factory=dict)
    # which timeout applies ("idle" | "absolute" | None for -1) and why (BASIS_*)
    timeout_applies: str | None = None
    timeout_basis: str = BASIS_NEVER
    idle_from: datetime | None = None
    ssh_connections: int = 0
    ssh_closed_at: datetime | None = None


def session_timeout(user_options, type_default: int | None, fallback: int) -> int:
    """The session's timeout in seconds (-1 = never) from its recorded options.

    Options recorded by our spawner always carry a valid `timeout`; anything
    else (a server started some other way) gets the type's or the service's default.
    """
    value = (user_options or {}).get("timeout") if isinstance(user_options, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and (value == NEVER or value > 0):
        return value
    return type_default if type_default is not None else fallback


def max_age_deadline(started: datetime | None, lifetime: Lifetime | None, record: Record) -> datetime | None:
    """The current max-age expiry, or None when the type has no maximum age."""
    if lifetime is None or lifetime.max_age == NEVER or started is None:
        return None
    if record.max_age_expires_at is not None:
        return record.max_age_expires_at
    return started + timedelta(seconds=lifetime.max_age)


def renewable(lifetime: Lifetime | None, record: Record) -> bool:
    if lifetime is None or lifetime.max_age == NEVER or lifetime.effective_renewal_period <= 0:
        return False
    return lifetime.max_renewals is None or record.renewals < lifetime.max_renewals


def evaluate(
    *,
    started: datetime | None,
    last_activity: datetime | None,
    timeout: int,
    lifetime: Lifetime | None,
    record: Record,
    now: datetime,
) -> Verdict:
    """Which deadline ends this session first, and whether it has passed at `now`."""
    mode = "ssh" if record.ssh else "browser"
    deadlines: list[tuple[datetime, str]] = []
    applies, basis, idle_from = None, BASIS_NEVER, None
    if timeout != NEVER:
        if record.ssh:
            base, applies, basis = started, ABSOLUTE, BASIS_SSH_CONNECTED
        else:
            base, applies, basis = (last_activity or started), IDLE, BASIS_ACTIVITY
            closed = record.ssh_closed_at
            if closed is not None and (base is None or closed > base):
                base, basis = closed, BASIS_SSH_CLOSED
            idle_from = base
        if base is not None:
            deadlines.append((base + timedelta(seconds=timeout), applies))
    max_age = max_age_deadline(started, lifetime, record)
    if max_age is not None:
        deadlines.append((max_age, MAX_AGE))
    expires_at, reason = min(deadlines, key=lambda d: d[0]) if deadlines else (None, None)
    return Verdict(
        mode=mode,
        timeout=timeout,
        expires_at=expires_at,
        reason=reason,
        expired=expires_at is not None and now >= expires_at,
        renewals=record.renewals,
        max_renewals=lifetime.max_renewals if lifetime else None,
        renewable=renewable(lifetime, record),
        deadlines={r: at for at, r in deadlines},
        timeout_applies=applies,
        timeout_basis=basis,
        idle_from=idle_from,
        ssh_connections=len(record.ssh_connections),
        ssh_closed_at=record.ssh_closed_at,
    )


def renew(
    *, started: datetime | None, lifetime: Lifetime | None, record: Record, now: datetime, type_name: str
) -> Record:
    """The record after one renewal at `now`; RenewError(409) when refused."""
    if lifetime is None or lifetime.max_age == NEVER or started is None:
        raise RenewError(409, f"Sessions of type '{type_name}' have no maximum age: nothing to renew.")
    period = lifetime.effective_renewal_period
    if lifetime.max_renewals is not None and record.renewals >= lifetime.max_renewals:
        current = max_age_deadline(started, lifetime, record)
        raise RenewError(
            409,
            f"This session has been renewed {record.renewals} time(s), the maximum for type "
            f"'{type_name}'; it ends at {format_time(current)}.",
        )
    current = max_age_deadline(started, lifetime, record)
    new = now + timedelta(seconds=period)
    if current is not None and new <= current:
        raise RenewError(
            409,
            f"This session already runs until {format_time(current)}; renewing now would not extend it "
            f"(a renewal extends it to {period} seconds from the time you renew).",
        )
    return replace(record, renewals=record.renewals + 1, max_age_expires_at=new)
