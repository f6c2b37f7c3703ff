"""What the running JupyterHub and KubeSpawner provide, and what we do where they lack it.

We support JupyterHub 5.5 + KubeSpawner 7.0 (what Zero to JupyterHub 4.4.0
ships in its hub image) and JupyterHub 6.x. The differences that matter here
are detected from the installed packages, not from version numbers, and every
one is reported once when the hub loads its config (`report()`, called by
`hub.platform.configure_platform`), so an admin reading the hub log sees what
this hub does differently. Nothing is dropped silently.

| feature | JupyterHub | without it |
|---|---|---|
| `start:servers` scope | 6.0 | the ssh service's role gets `servers` (start *and* stop) |
| `JupyterHub.extra_user_scopes` | 6.0 | the scopes are merged into the `user` role in `load_roles` |
| server-name rule (`jupyterhub.slugs`) | 6.0 | `fixes.refuse_unsafe_server_names` applies it to new servers |
| `Spawner.apply_user_options` | 5.3 | required: the hub does not start |
| `AcceptShareHandler` (share links) | 5.0 | dead share links keep JupyterHub's own 404/400 pages |

Group shares in token scopes are missing in every JupyterHub so far (5.5 to
6.1.1); `fixes.include_group_shares_in_token_scopes` adds them on both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from . import fixes

log = logging.getLogger("JupyterHub")

# scopes that a newer JupyterHub splits off a broader one: name -> the broader scope
_SCOPE_FALLBACKS = {"start:servers": "servers"}


def _scope_definitions() -> dict:
    from jupyterhub.scopes import scope_definitions

    return scope_definitions


def available_scope(scope: str) -> str:
    """`scope`, or the broader scope this JupyterHub grants the same through (see the table)."""
    base = scope.split("!", 1)[0]
    if base in _scope_definitions() or base not in _SCOPE_FALLBACKS:
        return scope
    return scope.replace(base, _SCOPE_FALLBACKS[base], 1)


def available_scopes(scopes) -> list[str]:
    """`available_scope` for each, without duplicates, order kept."""
    out: list[str] = []
    for s in scopes:
        s = available_scope(s)
        if s not in out:
            out.append(s)
    return out


def has_extra_user_scopes() -> bool:
    """JupyterHub >= 6.0 adds `JupyterHub.extra_user_scopes` to the default `user` role."""
    from jupyterhub.app import JupyterHub

    return "extra_user_scopes" in JupyterHub.class_traits(config=True)


def has_apply_user_options() -> bool:
    """JupyterHub >= 5.3 runs `Spawner.apply_user_options` before `start()`."""
    from jupyterhub.spawner import Spawner

    return "apply_user_options" in Spawner.class_traits() and hasattr(Spawner, "_run_apply_user_options")


def has_service_timeout() -> bool:
    """JupyterHub >= 6.0 waits `Service.timeout` seconds (30 by default) for a managed service to
    answer at start; 5.5 gives it ten one-second looks and then exits."""
    from jupyterhub.services.service import Service

    return "timeout" in Service.class_traits()


def has_accept_share_handler() -> bool:
    from jupyterhub.handlers import pages

    return hasattr(pages, "AcceptShareHandler")


def require_apply_user_options() -> None:
    """Session options are validated and applied in that hook: without it nothing would check them."""
    if not has_apply_user_options():
        import jupyterhub

        raise RuntimeError(
            f"jupyterhub-sessions needs JupyterHub >= 5.3 (Spawner.apply_user_options); "
            f"this is JupyterHub {jupyterhub.__version__}"
        )


@dataclass(frozen=True)
class Feature:
    name: str
    present: bool
    without: str  # what jupyterhub-sessions does when it is missing


def features() -> list[Feature]:
    """The JupyterHub features jupyterhub-sessions relies on, present or not."""
    return [
        Feature(
            "scope start:servers",
            "start:servers" in _scope_definitions(),
            "the ssh service's role gets 'servers' (it may also stop servers)",
        ),
        Feature(
            "JupyterHub.extra_user_scopes",
            has_extra_user_scopes(),
            "users' extra scopes are merged into the 'user' role in load_roles",
        ),
        Feature(
            "server-name rule (jupyterhub.slugs)",
            fixes.hub_checks_server_names(),
            "fixes.refuse_unsafe_server_names refuses new server names JupyterHub 6 refuses",
        ),
        Feature(
            "Service.timeout",
            has_service_timeout(),
            "our services get JupyterHub's ten one-second looks to answer at start (about 1 s is used "
            "on a quiet machine); a hub whose CPU is starved for longer exits and is restarted",
        ),
        Feature(
            "AcceptShareHandler",
            has_accept_share_handler(),
            "revoked or expired share links get JupyterHub's own 404/400 pages",
        ),
    ]


def versions() -> dict[str, str]:
    import jupyterhub

    out = {"jupyterhub": jupyterhub.__version__}
    try:
        import kubespawner

        out["kubespawner"] = kubespawner.__version__
    except ImportError:
        pass
    return out


_reported = False


def report(logger: logging.Logger | None = None, force: bool = False) -> list[Feature]:
    """Log, once per process, the versions and every missing feature with what we do instead.

    Raises if a required feature is missing (`require_apply_user_options`).
    """
    require_apply_user_options()
    global _reported
    found = features()
    if _reported and not force:
        return found
    _reported = True
    logger = logger or log
    logger.info(
        "jupyterhub-sessions on %s",
        ", ".join(f"{name} {version}" for name, version in versions().items()),
    )
    for f in found:
        if not f.present:
            logger.warning("jupyterhub-sessions: this JupyterHub has no %s: %s", f.name, f.without)
    return found
