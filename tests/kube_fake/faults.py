"""Fault injection: make the next N matching requests fail, stall or hang."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class Fault:
    """One injected failure.

    `path` is a regular expression searched in the request path (not the
    query). `status` answers with that HTTP code and a Status body; `hang`
    holds the request open without an answer for `hang` seconds (a client
    with a shorter request timeout sees a timeout); `delay` answers normally
    after sleeping. `times` is how many requests it applies to (-1 = all).
    With `after`, the request is carried out first and only the response is
    lost (a create that happened although the client saw an error).
    """

    method: str
    path: str
    status: int | None = 500
    times: int = 1
    hang: float = 0.0
    delay: float = 0.0
    message: str = ""
    after: bool = False
    reason_override: str = ""
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and re.search(self.path, path) is not None

    @property
    def reason(self) -> str:
        return self.reason_override or REASONS.get(self.status or 500, "InternalError")


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        method: str,
        path: str,
        status: int | None = 500,
        times: int = 1,
        hang: float = 0.0,
        delay: float = 0.0,
        message: str = "",
        after: bool = False,
        reason: str = "",
    ) -> Fault:
        """Make the next `times` requests matching `method` and `path` fail.

        `reason` overrides the Status reason (e.g. "AlreadyExists" for a 409).
        """
        f = Fault(method.upper(), path, status, times, hang, delay, message, after, reason)
        with self._lock:
            self._faults.append(f)
        return f

    def take(self, method: str, path: str) -> Fault | None:
        """The first active fault for this request, consuming one use of it."""
        with self._lock:
            for f in self._faults:
                if f.times != 0 and f.matches(method, path):
                    f.hits += 1
                    if f.times > 0:
                        f.times -= 1
                    return f
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
