"""Two user names whose drives collided before 0.2, found by brute force in the test's setup.

kubespawner's `safe_slug` keeps 32 bits of SHA-256: among a few hundred
thousand e-mail-like names that all read "bobexamplecom" (only the
punctuation differs), two share a slug by the birthday bound. The search is
deterministic and takes well under a second.
"""

from __future__ import annotations

from functools import cache

from jupyterhub_sessions.drives import legacy_user_slug

SEPARATORS = ".@_+"
LETTERS = "bobexamplecom"


def _name(i: int) -> str:
    parts = []
    for k, ch in enumerate(LETTERS):
        parts.append(ch)
        if k < len(LETTERS) - 1:
            parts.append(SEPARATORS[(i >> (2 * k)) & 3])
    return "".join(parts)


@cache
def legacy_collision() -> tuple[str, str]:
    """(victim, attacker): different names, the same pre-0.2 drive folder and PVC owner label."""
    seen: dict[str, str] = {}
    for i in range(4 ** (len(LETTERS) - 1)):
        name = _name(i)
        key = legacy_user_slug(name)
        if key in seen:
            return seen[key], name
        seen[key] = name
    raise AssertionError("no collision found")  # pragma: no cover - the birthday bound makes this unreachable
