"""The server extension's configuration and per-server state, and its load hook."""

from __future__ import annotations

import logging
import os
import sys

from traitlets import Enum, Float, Int, Unicode, default
from traitlets.config import LoggingConfigurable

from ..session_info import AUTH_CACHE_SECONDS, SessionInfo
from .exitwatch import stop_on_sigint, watch_exit
from .handlers import make_handlers
from .hubclient import HubClient
from .revoke import AccessWatch, refuse_own_token, track_websockets


class SessionsServerExtension(LoggingConfigurable):
    """Configuration of the jupyterhub-sessions server extension."""

    service_url = Unicode(
        config=True,
        help="""Base URL of the hub's sessions service including its prefix,
        e.g. http://proxy-public/services/sessions/ .

        Empty: $JUPYTERHUB_SESSIONS_SERVICE_URL, else asked of the hub API
        (needs read:services!service=sessions in the server's token).
        """,
    )

    @default("service_url")
    def _default_service_url(self):
        return os.environ.get("JUPYTERHUB_SESSIONS_SERVICE_URL", "")

    ports_scope = Enum(
        ["auto", "process-tree", "all"],
        "auto",
        config=True,
        help="""Which listening sockets `GET sessions-api/ports` reports.

        "process-tree": sockets of this server and its descendants (one
        machine shared by many sessions); "all": every socket (the session
        owns its network namespace, e.g. a pod). "auto": "all" inside
        Kubernetes, else "process-tree".
        """,
    )

    share_link_expires_in = Int(
        86400,
        config=True,
        help="Lifetime in seconds of a share link when the owner does not give one.",
    )

    hub_request_timeout = Int(10, config=True, help="Seconds to wait for the hub or the sessions service.")

    access_recheck_interval = Float(
        float(AUTH_CACHE_SECONDS),
        config=True,
        help="""Seconds between re-checks of every collaborator's open websockets with the hub.

        Access can end outside this session (a revoke through the hub's API
        or UI, a member leaving a shared group, a token revoked or expired);
        terminals, kernels, collaboration rooms, proxied apps and bridges a
        collaborator has open are closed at the next check after that. It is
        the bound stated in SECURITY.md, e.g. 30; 0 switches the re-check off
        (then only revokes through this session's API close connections).
        """,
    )


class SessionExtensionState:
    """What the handlers need: session info, owner, hub client, own ports."""

    def __init__(self, serverapp, config_obj: SessionsServerExtension, session_info: SessionInfo | None):
        self.serverapp = serverapp
        self.config_obj = config_obj
        self.session_info = session_info
        self.owner = os.environ.get("JUPYTERHUB_USER", "")
        self.server_name = os.environ.get(
            "JUPYTERHUB_SERVER_NAME", session_info.server_name if session_info else ""
        )
        self.under_hub = bool(os.environ.get("JUPYTERHUB_API_TOKEN")) and hasattr(
            serverapp.identity_provider, "hub_auth"
        )
        self.root_pid = os.getpid()
        self.access_watch: AccessWatch | None = None
        scope = config_obj.ports_scope
        if scope == "auto":
            scope = "all" if os.environ.get("KUBERNETES_SERVICE_HOST") else "process-tree"
        self.ports_scope = scope
        self.hub = HubClient(
            api_url=os.environ.get("JUPYTERHUB_API_URL", ""),
            token=os.environ.get("JUPYTERHUB_API_TOKEN", ""),
            user=self.owner,
            server_name=self.server_name,
            service_name=session_info.service if session_info else "sessions",
            service_url=config_obj.service_url,
            timeout=config_obj.hub_request_timeout,
        )

    def own_ports(self) -> set[int]:
        """Ports that are the server itself or its kernels, not user apps."""
        ports = {int(self.serverapp.port)}
        km = getattr(self.serverapp, "kernel_manager", None)
        for kid in list(getattr(km, "list_kernel_ids", list)()):
            try:
                kernel = km.get_kernel(kid)
            except KeyError:
                continue
            ports.update(p for p in getattr(kernel, "ports", []) if p)
        return ports


def link(serverapp):
    """Give jupyter-server-proxy the session's web-app launcher (it loads later)."""
    from .launch import proxy_servers

    servers = proxy_servers(SessionInfo.from_environ())
    if servers:
        configured = dict(serverapp.config.ServerProxy.get("servers", {}))
        configured.update(servers)
        serverapp.config.ServerProxy.servers = configured
        serverapp.log.info("jupyterhub-sessions: web-app launcher(s) %s", ", ".join(servers))


# the UI package (awareness rooms, user menu); docprovider already honours disableRTC
COLLABORATION_FRONTEND = ("@jupyter/collaboration-extension",)


def _disable_collaboration_frontend(web_app) -> None:
    """Leave jupyter-collaboration's frontend plugins out of the page.

    `disableRTC` alone still lets them open awareness rooms on a server that
    has none (404s in the browser console). The hook wraps the one already
    set (JupyterHub's identity hook), so both apply.
    """
    previous = web_app.settings.get("page_config_hook")

    def hook(handler, page_config):
        if previous is not None:
            page_config = previous(handler, page_config)
        disabled = list(page_config.get("disabledExtensions") or [])
        disabled += [name for name in COLLABORATION_FRONTEND if name not in disabled]
        page_config["disabledExtensions"] = disabled
        return page_config

    web_app.settings["page_config_hook"] = hook


def keep_memory_private(log) -> None:
    """Make this server's memory unreadable to other processes of its user (Linux).

    Visitors' hub tokens (the owner's OAuth login included) pass through this
    process. `prctl(PR_SET_DUMPABLE, 0)` means a process of the same user
    without CAP_SYS_PTRACE - a terminal of a sandboxed embedded session, a
    shell in a pod - can neither ptrace it nor read its /proc/<pid>/mem or
    environ. Kernels and terminals are unaffected (exec makes them dumpable).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
            log.warning(
                "jupyterhub-sessions: could not make the server non-dumpable (errno %s)", ctypes.get_errno()
            )
    except (OSError, AttributeError) as e:
        log.warning("jupyterhub-sessions: could not make the server non-dumpable: %s", e)


def drop_unwritten_debug_records(log: logging.Logger) -> None:
    """Let the server's logger drop at once the records none of its handlers would write.

    traitlets sets an application's logger to DEBUG and filters at its console
    handler (INFO unless `--debug`), so each `log.debug(...)` on a request's
    path (jupyter-server logs every access and every token check at debug)
    still builds a LogRecord for the handler to throw away: 0.07 ms of CPU per
    proxied request on the benchmark machine (benchmarks/README.md). The
    logger's level goes up to the lowest level of the handlers its records
    reach, so `--debug`, or a `logging_config` handler at DEBUG, still gets
    everything.
    """
    levels = []
    logger: logging.Logger | None = log
    while logger is not None:
        levels += [h.level for h in logger.handlers]
        logger = logger.parent if logger.propagate else None
    if levels and log.getEffectiveLevel() < min(levels):  # never lets through more than before
        log.setLevel(min(levels))


def _stream_port_proxy(serverapp) -> None:
    """Make jupyter-server-proxy's routes stream (it loads before us: extensions load by name)."""
    from .streamproxy import install

    swapped = install(serverapp.web_app)
    if swapped:
        serverapp.log.debug("jupyterhub-sessions: %d port-proxy route(s) stream", swapped)
    else:
        serverapp.log.warning(
            "jupyterhub-sessions: jupyter-server-proxy's routes were not found; the port proxy buffers"
        )


def load(serverapp):
    """Add the sessions API and keep the frontend in step with collaboration mode."""
    config_obj = SessionsServerExtension(parent=serverapp)
    info = SessionInfo.from_environ()
    state = SessionExtensionState(serverapp, config_obj, info)
    web_app = serverapp.web_app
    web_app.settings["jupyterhub_sessions"] = state
    collaborative = bool(info and info.collaborative)
    if info and not collaborative:
        # the ydoc extension is not loaded (hub.args.server_args); tell the
        # frontend too, or it would try to open collaboration rooms.
        web_app.settings.setdefault("page_config_data", {})["disableRTC"] = True
        _disable_collaboration_frontend(web_app)
    web_app.add_handlers(".*$", make_handlers(web_app.settings["base_url"]))
    _stream_port_proxy(serverapp)
    if info is not None:  # a session's server (bare ones keep their logging as it is)
        drop_unwritten_debug_records(serverapp.log)
        who = f"session={state.owner or '-'}/{state.server_name or '(default)'}"
        stop_on_sigint(serverapp, who)
        watch_exit(serverapp, who)
    if state.under_hub:
        keep_memory_private(serverapp.log)
        refuse_own_token(serverapp, state.hub.token)
        track_websockets()
        who = f"session={state.owner}/{state.server_name or '(default)'}"
        state.access_watch = AccessWatch(serverapp, state.owner, who, config_obj.access_recheck_interval)
        state.access_watch.start()
    serverapp.log.info(
        "jupyterhub-sessions: user=%s session=%s type=%s drive=%s collaborative=%s",
        state.owner or "-",
        state.server_name or "(default)",
        info.session_type if info else "-",
        info.drive if info else "-",
        collaborative,
    )
