"""A session as the service sees it: a hub server model plus our policy and records.

The hub REST API is the source of truth for what runs (`servers[name]` with
`user_options`, `started`, `last_activity`, `pending`, `ready`); the session
types give the lifetime; the store adds renewals and open SSH connections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..profiles import SessionType
from . import policy
from .state import Key, SessionStore, session_key


@dataclass(frozen=True)
class Session:
    user: str
    name: str
    server: dict

    @property
    def key(self) -> Key:
        return session_key(self.user, self.name, self.server.get("started"))

    @property
    def options(self) -> dict:
        opts = self.server.get("user_options")
        return opts if isinstance(opts, dict) else {}

    @property
    def session_type(self) -> str | None:
        st = self.options.get("session_type")
        return st if isinstance(st, str) else None

    @property
    def drive(self) -> str | None:
        d = self.options.get("drive")
        return d if isinstance(d, str) else None

    @property
    def label(self) -> str:
        """For log lines: user, session and drive."""
        return f"user={self.user} session={self.name or '(default)'} drive={self.drive or '-'}"


def sessions_of(user_model: dict) -> list[Session]:
    """The active servers of a hub user model, as sessions."""
    servers = user_model.get("servers") or {}
    return [Session(user_model["name"], name, server) for name, server in sorted(servers.items())]


class SessionPolicy:
    """Evaluates sessions against their types and the store's records."""

    def __init__(
        self,
        types: Callable[[], dict[str, SessionType]],
        store: SessionStore,
        default_timeout: int,
    ):
        self._types = types
        self.store = store
        self.default_timeout = default_timeout

    def session_type(self, session: Session) -> SessionType | None:
        slug = session.session_type
        return self._types().get(slug) if slug else None

    def verdict(self, session: Session, now: datetime) -> policy.Verdict:
        st = self.session_type(session)
        return policy.evaluate(
            started=policy.parse_time(session.server.get("started")),
            last_activity=policy.parse_time(session.server.get("last_activity")),
            timeout=policy.session_timeout(
                session.options, st.timeouts.default if st else None, self.default_timeout
            ),
            lifetime=st.lifetime if st else None,
            record=self.store.get(session.key),
            now=now,
        )

    def renew(self, session: Session, now: datetime) -> policy.Record:
        """Renew and record it (not yet saved); RenewError when refused."""
        st = self.session_type(session)
        record = policy.renew(
            started=policy.parse_time(session.server.get("started")),
            lifetime=st.lifetime if st else None,
            record=self.store.get(session.key),
            now=now,
            type_name=session.session_type or "(unknown)",
        )
        self.store.put(session.key, record)
        return record

    def to_json(self, session: Session, now: datetime) -> dict:
        """The session JSON of the REST API (docs/architecture.md)."""
        v = self.verdict(session, now)
        opts = session.options
        return {
            "user": session.user,
            "name": session.name,
            "session_type": session.session_type,
            "drive": session.drive,
            "timeout": v.timeout,
            "collaborative": bool(opts.get("collaborative", False)),
            "started": session.server.get("started"),
            "last_activity": session.server.get("last_activity"),
            "ready": bool(session.server.get("ready")),
            "pending": session.server.get("pending"),
            "mode": v.mode,
            "expires_at": policy.format_time(v.expires_at),
            "expiry_reason": v.reason,
            "deadlines": {reason: policy.format_time(at) for reason, at in v.deadlines.items()},
            "timeout_applies": v.timeout_applies,
            "timeout_basis": v.timeout_basis,
            "idle_from": policy.format_time(v.idle_from),
            "ssh_connections": v.ssh_connections,
            "ssh_closed_at": policy.format_time(v.ssh_closed_at),
            "renewals": v.renewals,
            "max_renewals": v.max_renewals,
            "renewable": v.renewable,
            "url": session.server.get("url"),
        }
