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
from pathlib import Path

from tornado import web
from traitlets import Any, Unicode, default
from traitlets.config import LoggingConfigurable

from ..drives import DEFAULT_DRIVE, DriveBackend, DriveError, DriveInUse
from ..options import (
    ENV_SESSION,
    OptionsError,
    SessionOptions,
    parse_session_options,
    visible_types,
)
from ..profiles import SessionType, load_session_types
from .form import form_to_options, refill_choices, render_spawn_form

_types_cache: dict[str, tuple[tuple, dict[str, SessionType]]] = {}


def _dir_signature(directory: Path) -> tuple:
    entries = []
    for p in sorted(directory.iterdir()):
        if p.suffix in (".yaml", ".yml"):
            st = p.stat()
            entries.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(entries)


def cached_session_types(directory: str) -> dict[str, SessionType]:
    """Session types from `directory`, re-read only when a file changes."""
    path = Path(directory)
    try:
        sig = _dir_signature(path)
    except OSError:
        sig = None
    hit = _types_cache.get(directory)
    if hit and sig is not None and hit[0] == sig:
        return hit[1]
    types = load_session_types(path)
    if sig is not None:
        _types_cache[directory] = (sig, types)
    return types


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
        return os.environ.get(
            "JUPYTERHUB_SESSIONS_PROFILES",
            str(Path(__file__).resolve().parents[2] / "profiles"),
        )

    default_drive_name = Unicode(
        DEFAULT_DRIVE,
        config=True,
        help="Drive used when the user names none; created on first use.",
    )

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
        return cached_session_types(self.session_types_dir)

    def check_session_types(self) -> dict[str, SessionType]:
        """Load all types now; call from hub config so bad files stop start-up."""
        return load_session_types(self.session_types_dir)

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
        types = visible_types(self.session_types, self.user.name, self.user_groups)
        drives = await self.list_drives_for_form()
        previous = self._take_refused_choices() or self.user_options or {}
        return render_spawn_form(types, drives, previous=previous, default_drive=self.default_drive_name)

    def options_from_form(self, formdata):
        """Form fields → user_options, checked now so the hub re-renders the form
        with the reason (HTTP 400/409) before anything is stored or started."""
        raw = form_to_options(formdata)
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

    def _keep_refused_choices(self, raw: dict) -> None:
        try:
            setattr(self.user, self._REFUSED_ATTR, (time.monotonic(), refill_choices(raw)))
        except AttributeError:  # a user object that takes no attributes: just don't refill
            pass

    def _take_refused_choices(self) -> dict | None:
        kept = getattr(self.user, self._REFUSED_ATTR, None)
        if not isinstance(kept, tuple):
            return None
        setattr(self.user, self._REFUSED_ATTR, None)
        at, choices = kept
        return choices if time.monotonic() - at < self._REFUSED_TTL else None

    # ---- applying user options ------------------------------------------

    @default("apply_user_options")
    def _default_apply_user_options(self):
        return SessionSpawnerMixin._apply_session_options

    async def _apply_session_options(self, user_options):
        """Validate user_options, claim the drive, then configure the backend."""
        who = self._who()
        opts = self._parse_options(user_options)
        self._refuse_drive_in_use(opts)
        # claim the drive before the first await: concurrent spawns on this
        # loop see the claim and refuse, so only one wins.
        self.session = opts
        recorded = self.recorded_user_options(opts)
        self.user_options = recorded
        if getattr(self, "orm_spawner", None) is not None:
            self.orm_spawner.user_options = recorded
            # commit before the first await (JupyterHub's rule): a rollback by any other request
            # meanwhile would drop it, and a hub restarted later would load the raw request
            db = getattr(getattr(self, "user", None), "db", None)
            if db is not None:
                db.commit()
        st = self.session_types[opts.session_type]
        self.default_url = self.session_default_url(st)
        try:
            await self.drive_backend.ensure_drive(self.user.name, opts.drive, opts.create_drive)
            await self.apply_session(opts, st)
        except DriveError as e:
            self.session = None
            self.log.warning("Drive refused for %s drive=%s: %s", who, opts.drive, e)
            raise user_error(400, str(e)) from None
        except BaseException:
            self.session = None
            raise
        self.log.info(
            "Starting %s type=%s drive=%s timeout=%s collaborative=%s",
            who,
            opts.session_type,
            opts.drive,
            opts.timeout,
            opts.collaborative,
        )

    def _who(self) -> str:
        return f"user={self.user.name} session={self.name or '(default)'}"

    def _parse_options(self, user_options) -> SessionOptions:
        """Validated options (HTTP 400 naming the field); the default drive is created on first use."""
        try:
            opts = parse_session_options(
                user_options,
                self.session_types,
                self.user.name,
                self.user_groups,
                default_drive=self.default_drive_name,
            )
        except OptionsError as e:
            self.log.warning("Rejected options for %s: %s", self._who(), e)
            raise user_error(400, str(e)) from None
        if opts.drive == self.default_drive_name and not opts.create_drive:
            opts = SessionOptions.from_dict({**opts.to_dict(), "create_drive": True})
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
        if st.interface.kind == "lab":
            return "/lab"
        return f"/{st.interface.name}/" + st.interface.url_path.lstrip("/")

    @staticmethod
    def recorded_user_options(opts: SessionOptions) -> dict:
        """What is stored as user_options: re-parseable and read by the service."""
        d = opts.to_dict()
        d.pop("create_drive")
        return d

    def session_info(self) -> dict:
        """What the session (server extension, lab extension) is told about itself."""
        opts = self.session
        st = self.session_types.get(opts.session_type)
        return {
            **self.recorded_user_options(opts),
            "display_name": st.display_name if st else opts.session_type,
            "interface": st.interface.model_dump() if st else {"kind": "lab"},
            "server_name": self.name,
            "service": self.sessions_service_name,
        }

    def session_environment(self) -> dict[str, str]:
        """Environment for the session process: the type's env and our options."""
        import json

        if self.session is None:
            return {}
        st = self.session_types.get(self.session.session_type)
        env = dict(st.environment) if st else {}
        env[ENV_SESSION] = json.dumps(self.session_info(), sort_keys=True)
        return env

    def get_args(self):
        """The backend's args plus what the session's options ask of the server."""
        from ..serverext.launch import server_args

        args = list(super().get_args())
        if self.session is not None:
            args.extend(server_args(self.session_info()))
        return args

    # ---- state -----------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        if self.session is not None:
            state["session"] = self.session.to_dict()
        return state

    def load_state(self, state):
        super().load_state(state)
        if state.get("session"):
            try:
                self.session = SessionOptions.from_dict(state["session"])
            except (KeyError, TypeError):
                self.log.warning("Ignoring unreadable session state for %s", self._log_name)

    def clear_state(self):
        super().clear_state()
        # keep self.session: the hub clears state before start, and after a
        # stop the claim no longer counts because the spawner is not active.
