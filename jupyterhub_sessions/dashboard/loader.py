"""Gathering what the dashboard shows, in the hub process, when the home page renders.

The hub renders home.html with the page's `user` (JupyterHub's User: its
spawners, their user_options, state, start and activity). The rest comes from:

- the session types (the spawner's watcher: the last good set and the load
  error of the files on disk) and the drives (the spawner's drive backend);
- the shares (JupyterHub's Share records, user and group shares, as the
  hub's `GET /hub/api/users/{name}/shared` lists them);
- the sessions service, over HTTP with the read-only `sessions-dashboard`
  token: `GET api/sessions?user=` (time left and why) and `GET api/ended?user=`
  (why stopped sessions ended); admins get everyone's.

A part that fails is left out with a note on the page, never a 500: the
home page must always render. `view.py` turns the facts into what the
template prints.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from ..hubapi import HubAPI, HubAPIError
from . import view

log = logging.getLogger("JupyterHub")

MAX_ADMIN_USERS = 500  # admin tables list at most this many users (and say so)
SIZE_CACHE_SECONDS = 60


def utc_iso(dt) -> str | None:
    """The hub's naive-UTC datetimes as ISO 8601 with Z."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def spawner_facts(user, sp) -> dict:
    """One server of `user` (a Spawner wrapper, or the orm.Spawner of one not loaded)."""
    wrapper = sp if hasattr(sp, "orm_spawner") else None
    orm_sp = wrapper.orm_spawner if wrapper else sp
    state = orm_sp.state if isinstance(orm_sp.state, dict) else {}
    options = (wrapper.user_options if wrapper else orm_sp.user_options) or {}
    failure = getattr(wrapper, "launch_failure", None) if wrapper else None
    return {
        "user": user.name,
        "name": orm_sp.name,
        "user_options": options if isinstance(options, dict) else {},
        "running": orm_sp.server is not None,
        "ready": bool(wrapper.ready) if wrapper else False,
        "pending": wrapper.pending if wrapper else None,
        "started": utc_iso(orm_sp.started),
        "last_activity": utc_iso(orm_sp.last_activity),
        "url": user.server_url(orm_sp.name),
        "launch_failure": failure or state.get("launch_failure"),
        "progress": getattr(wrapper, "latest_progress", None) if wrapper else None,
        # the type as the session started with it (the spawner keeps it in its state)
        "started_type": (getattr(wrapper, "session_type_record", None) if wrapper else None)
        or (state.get("session_type") if isinstance(state.get("session_type"), dict) else None),
    }


def share_facts(share) -> dict | None:
    """A share of someone's server with me (or a group of mine), or None if it no longer applies."""
    if getattr(share, "expired", False):
        return None
    spawner = share.spawner
    if spawner is None or spawner.user is None:
        return None
    options = spawner.user_options if isinstance(spawner.user_options, dict) else {}
    return {
        "owner": spawner.user.name,
        "name": spawner.name,
        "session_type": options.get("session_type"),
        "running": spawner.server is not None,
        "via_group": share.group.name if getattr(share, "group", None) is not None else None,
        "created_at": utc_iso(getattr(share, "created_at", None)),
    }


def access_facts(orm_spawner) -> dict:
    """Who may use one of my sessions: users, groups and open share links."""
    users, groups = [], []
    for share in getattr(orm_spawner, "shares", None) or []:
        if getattr(share, "expired", False):
            continue
        if share.user is not None:
            users.append(share.user.name)
        elif share.group is not None:
            groups.append(share.group.name)
    links = [c for c in getattr(orm_spawner, "share_codes", None) or [] if not getattr(c, "expired", False)]
    return {"users": sorted(users), "groups": sorted(groups), "links": len(links)}


class DashboardVars:
    """`c.JupyterHub.template_vars["sessions_dashboard"]`: called by the hub with the page's user."""

    def __init__(
        self,
        token: str,
        find_service,
        sessions_service="sessions",
        ssh_service="ssh",
        timeout=3.0,
        service_url=None,
    ):
        self.token = token
        self.service_url = service_url
        self.find_service = find_service
        self.sessions_service = sessions_service
        self.ssh_service = ssh_service
        self.timeout = timeout
        self._sizes: dict[str, tuple[float, str]] = {}

    def has_ssh(self) -> bool:
        return bool(self.ssh_service and self.find_service(self.ssh_service))

    def __call__(self, user):
        # called for every page the hub renders: cheap until the template asks for the data
        return Dashboard(self, user) if user is not None else None

    async def service_get(self, base_url: str, path: str, params: dict) -> tuple[object, str | None]:
        """(JSON, None) from the sessions service, or (None, why it is missing)."""
        entry = self.find_service(self.sessions_service)
        base = self.service_url or (entry or {}).get("url")
        if not entry or not base:
            return None, "the sessions service is not configured"
        api = HubAPI(
            base.rstrip("/") + f"{base_url}services/{quote(self.sessions_service)}/api",
            self.token,
            request_timeout=self.timeout,
            what="sessions service",
        )
        try:
            _, data = await api.fetch(path + ("?" + urlencode(params) if params else ""))
            return data, None
        except HubAPIError as e:
            if e.status == 502:  # unreachable, or not JSON
                return None, "the sessions service did not answer"
            return None, f"the sessions service answered {e.status}"

    async def drive_size(self, backend, username: str, drive) -> str:
        """The drive's size where the backend knows it (PVC capacity; a directory's usage, cached)."""
        if drive.size:
            return drive.size
        measure = getattr(backend, "measure_drive", None)
        if measure is None:
            return ""
        key = f"{username}\0{drive.name}"
        hit = self._sizes.get(key)
        if hit and time.monotonic() - hit[0] < SIZE_CACHE_SECONDS:
            return hit[1]
        size = await measure(username, drive.name)
        self._sizes[key] = (time.monotonic(), size)
        return size


class Dashboard:
    """The dashboard of one page view; the template awaits `load()` once."""

    def __init__(self, vars: DashboardVars, user):
        self.vars = vars
        self.user = user

    @property
    def is_admin(self) -> bool:
        return bool(getattr(self.user, "admin", False))

    async def load(self) -> dict:
        user = self.user
        settings = getattr(user, "settings", {}) or {}
        base_url = settings.get("base_url", "/")
        notes: list[str] = []
        spawner = user.spawner  # the default server's; it knows the types and the drive backend
        types, types_error = self._types(spawner, notes)
        personal = await self._personal_types(spawner, notes)
        mine = [spawner_facts(user, sp) for sp in user.all_spawners(include_default=True)]
        mine = [s for s in mine if s["name"] or s["running"] or s["user_options"] or s["launch_failure"]]
        usable = self._usable(spawner, types, personal)
        suggested = view.suggested_name({s["name"] for s in mine if s["name"]})
        details = await self._details(spawner, usable, suggested, notes)
        params = {} if self.is_admin else {"user": user.name}
        (timing, why_t), (ended, why_e), drives = await asyncio.gather(
            self.vars.service_get(base_url, "sessions", params),
            self.vars.service_get(base_url, "ended", params),
            self._drives(spawner, [user.name], notes),
        )
        if why_t or why_e:
            notes.append(f"Time left and why sessions ended are not shown: {why_t or why_e}.")
        access = {
            orm_sp.name: access_facts(orm_sp) for orm_sp in getattr(user.orm_user, "_orm_spawners", []) or []
        }
        facts = {
            "base_url": base_url,
            "service_prefix": f"{base_url}services/{quote(self.vars.sessions_service)}/",
            "ssh_prefix": f"{base_url}services/{quote(self.vars.ssh_service)}/"
            if self.vars.has_ssh()
            else None,
            "ssh_service": self.vars.ssh_service,
            "me": user.name,
            "admin": self.is_admin,
            "now": utc_iso(datetime.now(timezone.utc)),
            "mine": mine,
            "access": access,
            "shared": self._shared(notes),
            "timing": timing if isinstance(timing, list) else [],
            "ended": ended if isinstance(ended, list) else [],
            "types": {**types, **{e.slug: e.type for e in personal["all"] if e.type is not None}},
            "types_error": types_error,
            "usable": usable,
            "personal": personal,
            "details": details,
            "unenforced": self._unenforced(spawner),
            "unavailable": self._unavailable(spawner, {**types, **usable}),
            "drives": drives,
            "limit": settings.get("named_server_limit_per_user", 0) or 0,
            "notes": notes,
        }
        if self.is_admin:
            facts["everyone"], more = self._everyone(user)
            users = sorted({s["user"] for s in facts["everyone"]} | set(self._user_names(user)))
            facts["admin_drives"] = await self._drives(spawner, users[:MAX_ADMIN_USERS], notes, measure=True)
            if more or len(users) > MAX_ADMIN_USERS:
                notes.append(f"The admin tables show the first {MAX_ADMIN_USERS} users only.")
        return view.build(facts)

    # ---- parts; each one fails alone, with a note -------------------------------------

    def _types(self, spawner, notes):
        try:
            status = spawner.session_types_status
        except Exception as e:  # noqa: BLE001 - the home page must render
            log.error("Dashboard: session types of %s not loaded: %s", spawner._log_name, e)
            notes.append("Session types could not be loaded.")
            return {}, str(e)
        return status.types, status.error

    async def _personal_types(self, spawner, notes) -> dict:
        """{"enabled", "mine": own entries (broken ones too), "all": every entry, "error"}: personal types."""
        out = {"enabled": False, "mine": [], "all": [], "error": None}
        enabled = getattr(spawner, "user_types_enabled", None)
        if enabled is None or not enabled():
            return out
        try:
            reg = await spawner.refresh_user_types()
        except Exception as e:  # noqa: BLE001 - the home page must render
            log.warning("Dashboard: personal types of user=%s not loaded: %s", self.user.name, e)
            notes.append("Personal session types could not be loaded.")
            return out
        out["enabled"] = True
        out["error"] = reg.error
        out["mine"] = reg.owned_by(self.user.name)
        out["all"] = list(reg.entries.values())
        if reg.error:
            notes.append(f"Personal session types are not up to date: {reg.error}")
        return out

    def _usable(self, spawner, types, personal) -> dict:
        """The types this user may start (admin's visible to them, own and shared personal ones)."""
        try:
            return spawner.types_for_user()
        except Exception as e:  # noqa: BLE001
            log.warning("Dashboard: types of user=%s not listed: %s", self.user.name, e)
            return {}

    async def _details(self, spawner, types, name, notes) -> dict:
        """{slug: details facts} (the spawner's own preview, for a session called `name`)."""
        describe = getattr(spawner, "type_details", None)
        if describe is None or not types:
            return {}
        try:
            return await describe(types, name=name)
        except Exception as e:  # noqa: BLE001
            log.warning("Dashboard: session-type details for user=%s not built: %s", self.user.name, e)
            notes.append("Session-type details could not be built.")
            return {}

    @staticmethod
    def _unenforced(spawner) -> dict:
        unenforced = getattr(spawner, "unenforced_choices", None)
        return unenforced() if unenforced else {}

    @staticmethod
    def _unavailable(spawner, types) -> dict:
        reason = getattr(spawner, "type_unavailable_reason", None)
        return {slug: why for slug, t in types.items() if reason and (why := reason(t))}

    async def _drives(self, spawner, usernames, notes, measure=False) -> dict:
        backend = getattr(spawner, "drive_backend", None)
        if backend is None:
            return {}
        out: dict[str, list[dict]] = {}
        sem = asyncio.Semaphore(8)

        async def one(name):
            async with sem:
                try:
                    drives = await backend.list_drives(name)
                except Exception as e:  # noqa: BLE001
                    log.warning("Dashboard: drives of user=%s not listed: %s", name, e)
                    notes.append(f"Drives of {name} could not be listed.")
                    return
                rows = []
                for d in drives:
                    size = await self.vars.drive_size(backend, name, d) if measure else d.size
                    rows.append({"name": d.name, "size": size, "created": d.created})
                out[name] = rows

        await asyncio.gather(*(one(n) for n in usernames))
        return out

    def _shared(self, notes) -> list[dict]:
        try:
            shares = self.user.orm_user.all_shared_with_me
        except Exception as e:  # noqa: BLE001
            log.warning("Dashboard: shares with user=%s not read: %s", self.user.name, e)
            notes.append("Sessions shared with you could not be listed.")
            return []
        out = {}
        for share in shares:
            facts = share_facts(share)
            if facts is not None:
                out.setdefault((facts["owner"], facts["name"]), facts)
        return [out[k] for k in sorted(out)]

    @staticmethod
    def _user_names(user) -> list[str]:
        from jupyterhub import orm

        return [
            name for (name,) in user.db.query(orm.User.name).order_by(orm.User.name).limit(MAX_ADMIN_USERS)
        ]

    def _everyone(self, user) -> tuple[list[dict], bool]:
        """Every user's servers (admins), with pending states from the hub's loaded users."""
        from jupyterhub import orm

        loaded = (getattr(user, "settings", {}) or {}).get("users") or {}
        rows = []
        query = user.db.query(orm.Spawner).join(orm.User).order_by(orm.User.name, orm.Spawner.name)
        spawners = query.limit(MAX_ADMIN_USERS * 4 + 1).all()
        for orm_sp in spawners[: MAX_ADMIN_USERS * 4]:
            owner = orm_sp.user
            wrapper_user = dict.get(loaded, owner.id) if isinstance(loaded, dict) else None
            wrapper = wrapper_user.spawners.get(orm_sp.name) if wrapper_user is not None else None
            facts = spawner_facts(_Owner(owner, user), wrapper if wrapper is not None else orm_sp)
            if facts["name"] or facts["running"] or facts["user_options"]:
                rows.append(facts)
        return rows, len(spawners) > MAX_ADMIN_USERS * 4


class _Owner:
    """Just what spawner_facts needs of another user: the name and server URLs."""

    def __init__(self, orm_user, me):
        self.name = orm_user.name
        self._base = (getattr(me, "settings", {}) or {}).get("base_url", "/")

    def server_url(self, name: str) -> str:
        url = f"{self._base}user/{quote(self.name, safe='')}/"
        return url + (f"{quote(name, safe='')}/" if name else "")
