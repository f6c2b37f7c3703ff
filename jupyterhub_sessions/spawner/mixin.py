"""The session model both backends share, as a mixin over a JupyterHub Spawner.

It owns: loading session types, rendering the spawn form, turning form data
and REST `user_options` into validated `SessionOptions`, the one-drive-per-
running-session rule, and recording the options in user_options, spawner
state and the session's environment. A backend supplies `drive_backend` and
`apply_session()` (how options become a pod, or a local process).
"""

from __future__ import annotations

import os
import time

from tornado import web
from traitlets import Any, Unicode, default
from traitlets.config import LoggingConfigurable

from ..drives import DEFAULT_DRIVE, DriveBackend, DriveError, DriveInUse
from ..options import (
    OptionsError,
    SessionOptions,
    parse_session_options,
    visible_types,
)
from ..paths import PACKAGE_PROFILES
from ..profiles import USER_SLUG_RE, Interface, SessionType, TypesStatus, session_types_watcher
from ..session_info import ENV_SESSION, SessionInfo, default_url
from ..usertypes import UserTypes, user_types_for
from ..usertypes.store import store_namespace
from .form import form_to_options, refill_choices, render_spawn_form


def type_record(st: SessionType, opts: SessionOptions) -> dict:
    """What the spawner state keeps of the type a session started with (see `session_type_record`)."""
    return {
        "slug": st.slug,
        "digest": st.digest,
        "display_name": st.display_name,
        "author": st.author,
        "revision": st.revision,
        "image": opts.image,
        "image_custom": not st.image.is_listed(opts.image),
    }


def user_error(status: int, message: str) -> web.HTTPError:
    """An HTTPError whose message the hub shows as-is on the spawn and pending pages."""
    err = web.HTTPError(status, message)
    err.jupyterhub_message = message
    return err


class SessionSpawnerMixin(LoggingConfigurable):
    """Shared session behaviour; list it before a concrete Spawner class.

    It is a Configurable so its traits are real configurable traits
    (`c.SessionSpawnerMixin.session_types_dir` works for both backends).
    """

    session_types_dir = Unicode(
        config=True,
        help="""Directory of session-type YAML files (one type per file).

        Every file is validated when the hub starts (see `check_session_types`);
        a bad file names the file, field and reason.
        """,
    )

    @default("session_types_dir")
    def _default_types_dir(self):
        return os.environ.get("JUPYTERHUB_SESSIONS_PROFILES") or str(PACKAGE_PROFILES)

    default_drive_name = Unicode(
        DEFAULT_DRIVE,
        config=True,
        help="Drive used when the user names none; created on first use.",
    )

    user_types_store = Unicode(
        config=True,
        help="""Where users' own session types are kept: a directory, "configmap" (Kubernetes:
        ConfigMaps in the hub's namespace, $POD_NAMESPACE; see hub_config/kubernetes/user-types-rbac.yaml),
        or "" (none). They are offered only when `_policy.yaml` in `session_types_dir` has a
        `user_types` section; the sessions service writes them (its `user_types_store`).
        Default: $JUPYTERHUB_SESSIONS_USER_TYPES_STORE. E.g. '/srv/jupyterhub-sessions/user-types'.
        """,
    )

    @default("user_types_store")
    def _default_user_types_store(self):
        return os.environ.get("JUPYTERHUB_SESSIONS_USER_TYPES_STORE", "")

    sessions_service_name = Unicode(
        "sessions",
        config=True,
        help="Name of the jupyterhub-sessions hub service (culler + sessions API).",
    )

    session = Any(
        None,
        allow_none=True,
        help="The validated SessionOptions of the current (or last) start.",
    )

    session_drive = Any(
        None,
        allow_none=True,
        help="The drive (drives.Drive) of the current start, as its backend found it.",
    )

    session_type_obj = Any(
        None,
        allow_none=True,
        help="""The SessionType the current (or last) start used, as it was then.

        A running session keeps what it started with: an admin editing a file or a
        user editing a shared personal type changes the next start, not this one.
        """,
    )

    session_type_record = Any(
        None,
        allow_none=True,
        help="""{"slug", "digest", "display_name", "author", "revision", "image"} of the type the
        current (or last) start used; kept in the spawner state, so the dashboard can say
        when the type changed since (a restart uses the type as it is now).""",
    )

    launch_failure = Any(
        None,
        allow_none=True,
        help="""Why the last start failed: {"at", "message", "output": [last lines]}, or None.

        Kept in the spawner state (so it survives the stop that follows a failed
        start, and hub restarts) until the next start; the dashboard shows it.
        """,
    )

    # ---- backend hooks -------------------------------------------------

    @property
    def drive_backend(self) -> DriveBackend:  # pragma: no cover - abstract
        raise NotImplementedError

    async def apply_session(self, opts: SessionOptions, st: SessionType) -> None:
        """Configure the backend for this session (image, resources, mounts)."""
        raise NotImplementedError  # pragma: no cover

    # ---- session types -------------------------------------------------

    @property
    def session_types(self) -> dict[str, SessionType]:
        """The types being served: re-read when a file changes, the last good set if an edit broke it."""
        return self.session_types_status.types

    @property
    def session_types_status(self) -> TypesStatus:
        """Types plus the load error of the files on disk (shown to admins on the dashboard)."""
        return session_types_watcher(self.session_types_dir, self.log).status()

    @property
    def user_types(self) -> UserTypes | None:
        """This process's view of the personal types store, or None when there is none."""
        return user_types_for(self.user_types_store, self.log, store_namespace(self))

    def user_types_enabled(self) -> bool:
        return self.user_types is not None and self.session_types_status.policy.user_types is not None

    async def refresh_user_types(self, wanted: object = None) -> UserTypes | None:
        """Re-read the personal types if the store changed (call before `types_for_user`).

        `wanted`: the session type a request names; a personal one not seen yet (just
        created through the sessions service, another process) re-reads the store at once.
        A store that cannot be read keeps serving the last good set (and logs why);
        the admin types are never affected.
        """
        if not self.user_types_enabled():
            return None
        policy = self.session_types_status.policy
        reg = await self.user_types.refresh(policy)
        if isinstance(wanted, list) and len(wanted) == 1:
            wanted = wanted[0]
        if isinstance(wanted, str) and USER_SLUG_RE.match(wanted) and reg.get(wanted) is None:
            reg = await self.user_types.refresh(policy, force=True)
        return reg

    def types_for_user(self) -> dict[str, SessionType]:
        """Every type this spawner's user may start: the admin's they may see, their own
        personal types and those shared with their groups (as of the last refresh)."""
        types = visible_types(self.session_types, self.user.name, self.user_groups)
        if self.user_types_enabled():
            types.update(self.user_types.visible_to(self.user.name, self.user_groups))
        return types

    def check_session_types(self) -> dict[str, SessionType]:
        """Load all types now; call from hub config so bad files stop start-up (and the set
        loaded keeps serving if a later edit breaks a file)."""
        return session_types_watcher(self.session_types_dir, self.log).types()

    @property
    def user_groups(self) -> list[str]:
        return [g.name for g in getattr(self.user, "groups", [])]

    # ---- drives --------------------------------------------------------

    def _sibling_spawners(self):
        spawners = getattr(self.user, "spawners", {}) or {}
        return [s for name, s in spawners.items() if name != self.name]

    def drive_holder(self, drive: str) -> str | None:
        """Name of another active session of this user that holds `drive`."""
        for other in self._sibling_spawners():
            held = getattr(other, "session", None)
            if held is not None and other.active and held.drive == drive:
                return other.name
        return None

    async def list_drives_for_form(self):
        drives = await self.drive_backend.list_drives(self.user.name)
        for d in drives:
            d.in_use_by = self.drive_holder(d.name)
        return drives

    # ---- spawn form ----------------------------------------------------

    @default("options_form")
    def _default_options_form(self):
        return self._render_options_form

    async def _render_options_form(self, spawner=None):
        await self.refresh_user_types()
        types = self.types_for_user()
        drives = await self.list_drives_for_form()
        refused = self._take_refused_choices()
        previous = (refused or {}).get("choices") or self.user_options or {}
        unavailable = {slug: why for slug, t in types.items() if (why := self.type_unavailable_reason(t))}
        details = await self.type_details(types)
        return render_spawn_form(
            types,
            drives,
            previous=previous,
            default_drive=self.default_drive_name,
            unavailable=unavailable,
            unenforced=self.unenforced_choices(),
            failure=(refused or {}).get("failure"),
            me=self.user.name,
            broken=self.broken_own_types(),
            details=details,
        )

    def broken_own_types(self) -> list[dict]:
        """This user's personal types that do not load (shown to them, disabled, with why)."""
        if not self.user_types_enabled():
            return []
        out = []
        for e in self.user_types.owned_by(self.user.name):
            if e.type is None:
                name = e.record.spec.get("name") if isinstance(e.record.spec, dict) else None
                out.append(
                    {"slug": e.slug, "name": name if isinstance(name, str) else e.slug, "error": e.error}
                )
        return out

    async def options_from_form(self, formdata):
        """Form fields → user_options, checked now so the hub re-renders the form
        with the reason (HTTP 400/409) before anything is stored or started."""
        raw = form_to_options(formdata)
        await self.refresh_user_types(raw.get("session_type"))
        try:
            opts = self._parse_options(raw)
            self._refuse_drive_in_use(opts)
        except web.HTTPError:
            self._keep_refused_choices(raw)
            raise
        return raw

    # JupyterHub re-renders a refused form with `user.spawner` (the default
    # server's spawner), not this one: the choices are handed over on the
    # User object, for that one render only.
    _REFUSED_ATTR = "_jupyterhub_sessions_refused_form"
    _REFUSED_TTL = 30.0

    def _keep_refused_choices(self, raw: dict, failure: dict | None = None) -> None:
        try:
            kept = {"choices": refill_choices(raw), "failure": failure}
            setattr(self.user, self._REFUSED_ATTR, (time.monotonic(), kept))
        except AttributeError:  # a user object that takes no attributes: just don't refill
            pass

    def _take_refused_choices(self) -> dict | None:
        """{"choices": refused form choices, "failure": a failed start's record or None}, once."""
        kept = getattr(self.user, self._REFUSED_ATTR, None)
        if not isinstance(kept, tuple):
            return None
        setattr(self.user, self._REFUSED_ATTR, None)
        at, refused = kept
        return refused if time.monotonic() - at < self._REFUSED_TTL else None

    # ---- applying user options ------------------------------------------

    @default("apply_user_options")
    def _default_apply_user_options(self):
        return SessionSpawnerMixin._apply_session_options

    async def _apply_session_options(self, user_options):
        """Validate user_options, claim the drive, then configure the backend."""
        who = self._who()
        await self.refresh_user_types(
            (user_options or {}).get("session_type") if isinstance(user_options, dict) else None
        )
        try:
            opts = self._parse_options(user_options)
            self._refuse_drive_in_use(opts)
        except web.HTTPError:
            self._forget_refused_options()
            raise
        self.launch_failure = None
        # claim the drive before the first await: concurrent spawns on this
        # loop see the claim and refuse, so only one wins.
        self.session = opts
        self._store_user_options(self.recorded_user_options(opts))
        st = self.types_for_user()[opts.session_type]
        self.session_type_obj = st
        self.session_type_record = type_record(st, opts)
        self.default_url = self.session_default_url(st)
        try:
            # the drive as the backend found it, ownership checked (its `ref` is what to mount)
            self.session_drive = await self.drive_backend.ensure_drive(
                self.user.name, opts.drive, opts.create_drive
            )
            await self.apply_session(opts, st)
        except DriveError as e:
            self.session = self.session_drive = None
            self.log.warning("Drive refused for %s drive=%s: %s", who, opts.drive, e)
            raise user_error(400, str(e)) from None
        except BaseException:
            self.session = self.session_drive = None
            raise
        self.log.info(
            "Starting %s type=%s%s image=%s drive=%s timeout=%s collaborative=%s",
            who,
            opts.session_type,
            f" (by {st.author}, revision {st.revision})" if st.author else "",
            opts.image,
            opts.drive,
            opts.timeout,
            opts.collaborative,
        )

    def _forget_refused_options(self) -> None:
        """JupyterHub stores a spawn request's options before they are checked: put back the
        last good ones (none for a new session), so a refused request leaves nothing behind
        (no hostile text on the dashboard, nothing a Restart would send again)."""
        self._store_user_options(self.recorded_user_options(self.session) if self.session is not None else {})

    def _store_user_options(self, recorded: dict) -> None:
        """Keep `recorded` as this server's options (what a restart re-sends), committed at once."""
        self.user_options = recorded
        if getattr(self, "orm_spawner", None) is not None:
            self.orm_spawner.user_options = recorded
            # commit before the first await (JupyterHub's rule): a rollback by any other request
            # meanwhile would drop it, and a hub restarted later would load the raw request
            db = getattr(getattr(self, "user", None), "db", None)
            if db is not None:
                db.commit()

    def _who(self) -> str:
        return f"user={self.user.name} session={self.name or '(default)'}"

    def _parse_options(self, user_options) -> SessionOptions:
        """Validated options (HTTP 400 naming the field); the default drive is created on first use."""
        try:
            opts = parse_session_options(
                user_options,
                self.types_for_user(),
                self.user.name,
                self.user_groups,
                default_drive=self.default_drive_name,
            )
        except OptionsError as e:
            self.log.warning("Rejected options for %s: %s", self._who(), e)
            raise user_error(400, str(e)) from None
        if opts.drive == self.default_drive_name and not opts.create_drive:
            opts = SessionOptions.from_dict({**opts.to_dict(), "create_drive": True})
        st = self.types_for_user().get(opts.session_type)
        why = self.type_unavailable_reason(st) if st is not None else None
        if why:
            self.log.warning("Refused %s type=%s: %s", self._who(), opts.session_type, why)
            raise user_error(400, f"{st.display_name} is not available here: {why}")
        return opts

    def _refuse_drive_in_use(self, opts: SessionOptions) -> None:
        """HTTP 409 if another running session of this user mounts the drive."""
        holder = self.drive_holder(opts.drive)
        if holder is not None:
            err = DriveInUse(opts.drive, holder)
            self.log.warning("Refused %s drive=%s: %s", self._who(), opts.drive, err)
            raise user_error(409, str(err))

    @staticmethod
    def session_default_url(st: SessionType) -> str:
        """Where the user lands: JupyterLab, or the web app behind the server proxy."""
        return default_url(st.interface)

    @staticmethod
    def recorded_user_options(opts: SessionOptions) -> dict:
        """What is stored as user_options: re-parseable and read by the service.

        The image only when the user named it (one of the type's or their own): a
        restart re-posts these, and a type's default image follows the type as it is
        then (an admin or a personal type's author may have changed it).
        """
        d = opts.to_dict()
        d.pop("create_drive")
        if not d.pop("image_chosen"):
            d.pop("image")
        return d

    def current_type(self) -> SessionType | None:
        """The type of the current session as it started (or as it is now, after a hub restart)."""
        st = self.session_type_obj
        if st is not None and self.session is not None and st.slug == self.session.session_type:
            return st
        return self.types_for_user().get(self.session.session_type) if self.session else None

    def session_info(self) -> SessionInfo:
        """What the session (server extension, lab extension) is told about itself."""
        opts = self.session
        st = self.current_type()
        return SessionInfo(
            **{**self.recorded_user_options(opts), "image": opts.image},
            display_name=st.display_name if st else opts.session_type,
            interface=st.interface if st else Interface(),
            server_name=self.name,
            service=self.sessions_service_name,
            scratch=self.scratch_path(),
        )

    def scratch_path(self) -> str | None:
        """The session's private scratch directory as the session sees it ($SCRATCH), or None.

        Kubernetes: the emptyDir at `scratch_mount_path`; the embedded backend
        makes a directory per session (spawner/local.py).
        """
        return getattr(self, "scratch_mount_path", None)

    def session_environment(self) -> dict[str, str]:
        """Environment for the session process: the type's env and our options."""
        if self.session is None:
            return {}
        st = self.current_type()
        env = dict(st.environment) if st else {}
        env[ENV_SESSION] = self.session_info().to_json()
        if self.scratch_path():
            env["SCRATCH"] = self.scratch_path()
        return env

    # ---- what this backend can honour ------------------------------------

    def type_unavailable_reason(self, st: SessionType) -> str | None:
        """Why this backend cannot start sessions of type `st` here, or None if it can.

        The form shows such types disabled with the reason, and a REST spawn
        of one is a 400 with it, instead of a start that fails later.
        """
        return None

    def unenforced_choices(self) -> dict[str, str]:
        """Choices this backend records but does not enforce ({"cpu": why, ...}); labelled on the form."""
        return {}

    # ---- session-type details (spawner/preview.py) --------------------------------

    async def launch_preview(self, opts: SessionOptions, st: SessionType) -> dict | None:
        """What a start of `st` with `opts` runs (backends: the pod spec, the command line).

        Called on a preview spawner (`preview_spawner()`), never on one that runs a session.
        """
        return None

    def preview_spawner(self, name: str | None = None):
        """A fresh spawner of this class, config, user and session name, detached from the database."""
        from .preview import preview_orm_spawner

        return type(self)(
            user=self.user,
            hub=self.hub,
            config=self.config,
            orm_spawner=preview_orm_spawner(self.user, self.name if name is None else name),
            api_token="",
            oauth_client_id=getattr(self, "oauth_client_id", "") or "",
        )

    async def type_details(self, types: dict[str, SessionType], name: str | None = None) -> dict[str, dict]:
        """{slug: details} of `types` for this user and a session called `name` (default: this one).

        One preview spawner serves every type (each is configured from the base,
        as a start is); a type whose preview fails still gets its own facts.
        """
        from .preview import default_options, describe_type

        out: dict[str, dict] = {}
        preview = None
        for slug, st in types.items():
            facts = describe_type(st)
            facts["unenforced"] = self.unenforced_choices()
            opts = default_options(st, self.user.name, self.user_groups, self.default_drive_name)
            try:
                if preview is None:
                    preview = self.preview_spawner(name)
                facts["launch"] = await preview.launch_preview(opts, st) if opts else None
            except Exception as e:  # noqa: BLE001 - the details of one type must not break a page
                self.log.warning("No launch preview of type %s for %s: %s", slug, self._who(), e)
                facts["launch"] = {"kind": "error", "title": "Not available", "text": str(e)[:300]}
            out[slug] = facts
        return out

    # ---- launch failures -------------------------------------------------------

    async def start(self):
        self.launch_failure = None
        try:
            return await super().start()
        except BaseException as e:
            self.record_launch_failure(e)
            raise

    def record_launch_failure(self, error: BaseException, output: list[str] | None = None) -> None:
        """Keep why a start failed (message and the session's last output lines) for the dashboard."""
        from datetime import datetime, timezone

        if self.launch_failure is not None:
            return  # the first (innermost) record has the detail
        message = getattr(error, "jupyterhub_message", None) or str(error) or type(error).__name__
        if isinstance(error, BaseException) and not isinstance(error, Exception):
            message = "The start was cancelled (it took longer than the hub waits for)."
        self.launch_failure = {
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "message": message[:2000],
            "output": list(output if output is not None else getattr(error, "session_output", []))[-40:],
        }
        # a start that fails within the hub's slow_spawn_timeout re-renders the spawn form:
        # keep the choices and show the output there
        self._keep_refused_choices(dict(self.user_options or {}), self.launch_failure)
        self.log.warning("Start of %s failed: %s", self._who(), message[:500])

    def get_args(self):
        """The backend's args plus what the session's options ask of the server."""
        from ..hub.args import server_args

        args = list(super().get_args())
        if self.session is not None:
            args.extend(server_args(self.session_info()))
        return args

    # ---- state -----------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        if self.session is not None:
            state["session"] = self.session.to_dict()
        if self.session_type_record is not None:
            state["session_type"] = self.session_type_record
        if self.launch_failure is not None:
            state["launch_failure"] = self.launch_failure
        return state

    def load_state(self, state):
        super().load_state(state)
        if isinstance(state.get("launch_failure"), dict):
            self.launch_failure = state["launch_failure"]
        if isinstance(state.get("session_type"), dict):
            self.session_type_record = state["session_type"]
        if state.get("session"):
            try:
                self.session = SessionOptions.from_dict(state["session"])
            except (KeyError, TypeError):
                self.log.warning("Ignoring unreadable session state for %s", self._log_name)

    def clear_state(self):
        super().clear_state()
        # keep self.session: the hub clears state before start, and after a
        # stop the claim no longer counts because the spawner is not active.
