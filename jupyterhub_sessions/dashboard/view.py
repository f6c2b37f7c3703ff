"""What the dashboard prints: plain facts (loader.py) in, rows and sentences out.

Pure functions of their input and an explicit `now`, so the rules (which
state a session is in, which actions it offers, what the limit text says)
are tested without a hub.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

from ..profiles import NEVER, format_timeout
from ..service.policy import parse_time  # the same reading of the hub's and the service's timestamps

LAUNCHING, RUNNING, STOPPING, STOPPED, FAILED, NEW = (
    "launching",
    "running",
    "stopping",
    "stopped",
    "failed",
    "new",
)
STATE_LABELS = {
    LAUNCHING: "Launching",
    RUNNING: "Running",
    STOPPING: "Stopping",
    STOPPED: "Stopped",
    FAILED: "Failed",
    NEW: "Not started",
}
STATE_BADGES = {
    LAUNCHING: "info",
    RUNNING: "success",
    STOPPING: "warning",
    STOPPED: "secondary",
    FAILED: "danger",
    NEW: "light",
}
WHY = {
    "idle": "when idle",
    "absolute": "timeout (counted from the start: SSH session)",
    "max_age": "maximum age",
}


def utc_text(value) -> str:
    """'2026-01-01 10:02 UTC' (what the page shows without JavaScript; the script shows local time)."""
    dt = parse_time(value)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if dt else ""


def remaining(expires_at, now: datetime) -> str:
    """'53 min', '3 h 10 min', '2 days 4 h', 'now'."""
    at = parse_time(expires_at)
    if at is None:
        return ""
    seconds = int((at - now).total_seconds())
    if seconds <= 0:
        return "now"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = max(1, rest // 60) if not days and not hours else rest // 60
    if days:
        return f"{days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"


def session_state(s: dict, end: dict | None) -> str:
    if s["pending"] == "spawn":
        return LAUNCHING
    if s["pending"] == "stop":
        return STOPPING
    if s["running"]:
        return RUNNING
    failure = s.get("launch_failure")
    if isinstance(failure, dict):
        failed_at = parse_time(failure.get("at"))
        ended_at = parse_time((end or {}).get("ended_at"))
        if failed_at and (ended_at is None or failed_at >= ended_at):
            return FAILED
    if end or s["user_options"]:
        return STOPPED
    return NEW


def session_row(s: dict, f: dict, timing: dict, ended: dict) -> dict:
    """One session as a table row: what it is, its state and time left, and the actions it offers."""
    opts = s["user_options"]
    key = (s["user"], s["name"])
    end = ended.get(key)
    state = session_state(s, end)
    t = timing.get(key) if state in (RUNNING, LAUNCHING, STOPPING) else None
    slug = opts.get("session_type")
    st = f["types"].get(slug) if isinstance(slug, str) else None
    started_type = s.get("started_type") if isinstance(s.get("started_type"), dict) else {}
    usable = f.get("usable", f["types"])
    hub = f["hub_prefix"]
    name_path = f"{quote(s['user'], safe='')}/{quote(s['name'], safe='')}"
    unavailable = f["unavailable"].get(slug) if isinstance(slug, str) else None
    row = {
        "user": s["user"],
        "name": s["name"],
        "label": s["name"] or "(default)",
        "mine": s["user"] == f["me"],
        "type_slug": slug or "",
        "type": st.display_name if st else (started_type.get("display_name") or slug or "—"),
        "image": image_facts(opts, started_type, st, f),
        "type_note": type_change_note(started_type, slug, st, state),
        "interface": st.interface.kind if st else "lab",
        "drive": opts.get("drive") or "",
        "collaborative": bool(opts.get("collaborative")),
        "state": state,
        "state_label": STATE_LABELS[state],
        "badge": STATE_BADGES[state],
        "progress": s.get("progress") or ("Starting…" if state == LAUNCHING else ""),
        "started": s["started"] if state != STOPPED else (end or {}).get("started"),
        "started_text": utc_text(s["started"] if state != STOPPED else (end or {}).get("started")),
        "url": s["url"],
        "path": name_path,
        "spawn_url": f"{hub}spawn/{name_path}",
        "pending_url": f"{hub}spawn-pending/{name_path}",
        "options": {k: v for k, v in opts.items() if k != "new_drive"},
        "restartable": bool(opts) and isinstance(slug, str) and slug in usable and not unavailable,
        "unavailable": unavailable,
        "failure": s.get("launch_failure") if state == FAILED else None,
        "end": None,
        "mode": (t or {}).get("mode") or "browser",
        "time": None,
    }
    if state == STOPPED and end:
        message = end.get("message") or ""
        if end.get("reason") == "stopped" and end.get("by") == f["me"]:
            message = "Stopped by you."
        row["end"] = {
            "message": message,
            "at": end.get("ended_at"),
            "at_text": utc_text(end.get("ended_at")),
            "reason": end.get("reason"),
        }
    if t:
        row["time"] = time_left(t, f["now"])
    row["actions"] = actions(row, s)
    return row


def image_facts(opts: dict, started: dict, st, f: dict) -> dict | None:
    """The session's image when it is worth showing: one the user named (their own, or one of the
    type's), or a personal type's; a default admin image is not repeated on every row."""
    chosen = opts.get("image")
    image = chosen if isinstance(chosen, str) and chosen else started.get("image")
    if not isinstance(image, str) or not image:
        return None
    if isinstance(started.get("image_custom"), bool) and started.get("image") == image:
        custom = started["image_custom"]
    else:
        custom = st is None or not st.image.is_listed(image)
    if not (custom or chosen or started.get("author")):
        return None
    return {
        "ref": image,
        "custom": custom,
        "unenforced": (f.get("unenforced") or {}).get("image"),
    }


def type_change_note(started: dict, slug, st, state: str) -> str | None:
    """Why a session's type differs from the one it started with (it keeps what it started with)."""
    if not started.get("digest") or started.get("slug") != slug:
        return None
    name = started.get("display_name") or slug
    active = state in (RUNNING, LAUNCHING, STOPPING)
    if st is None:
        who = f" by {started['author']}" if started.get("author") else ""
        if active:
            return f"Its type “{name}” was deleted{who}; the session keeps running as it started."
        return f"Its type “{name}” was deleted{who}: it cannot be restarted."
    if st.digest == started["digest"]:
        return None
    revisions = ""
    if started.get("revision") and st.revision:
        revisions = f" (revision {started['revision']} → {st.revision})"
    changed = f"Its type “{st.display_name}” changed since this session started{revisions}"
    if active:
        return changed + ": the session runs what it started with; a restart uses the current version."
    return changed + ": a restart uses the current version."


def time_left(t: dict, now_iso: str) -> dict:
    now = parse_time(now_iso) or datetime.now(timezone.utc)
    reason = t.get("expiry_reason")
    timeout = t.get("timeout")
    connections = t.get("ssh_connections") or 0
    if not t.get("expires_at"):
        why = "never times out"
    elif reason == "idle":
        why = f"if idle ({format_timeout(timeout)} idle timeout)" if isinstance(timeout, int) else WHY["idle"]
        if t.get("timeout_basis") == "ssh_closed" and t.get("ssh_closed_at"):
            why += f", counted from the last SSH disconnect at {utc_text(t['ssh_closed_at'])}"
    elif reason == "absolute" and isinstance(timeout, int):
        open_now = (
            f"{connections} SSH connection{'s' if connections != 1 else ''} open" if connections else ""
        )
        why = f"{format_timeout(timeout)} timeout counted from the start" + (
            f" while {open_now}; idle again once the last one closes" if open_now else " (SSH session)"
        )
    else:
        why = WHY.get(reason, reason or "")
    renewals = t.get("renewals") or 0
    limit = t.get("max_renewals")
    return {
        "expires_at": t.get("expires_at"),
        "expires_text": utc_text(t.get("expires_at")),
        "left": remaining(t.get("expires_at"), now) if t.get("expires_at") else "",
        "reason": reason or ("never" if timeout == NEVER else None),
        "why": why,
        "renewable": bool(t.get("renewable")),
        "renewals": f"{renewals} of {limit} renewals used"
        if limit is not None
        else (f"renewed {renewals}×" if renewals else ""),
        "max_age_at": (t.get("deadlines") or {}).get("max_age"),
    }


def actions(row: dict, s: dict) -> list[str]:
    """Which buttons the row shows (in this order)."""
    state = row["state"]
    out = []
    if state == RUNNING:
        out.append("open")
        if row["time"] and row["time"]["renewable"]:
            out.append("renew")
        out.append("ssh")
        if row["collaborative"] and row["mine"]:
            out.append("share")
        out.append("stop")
    elif state == LAUNCHING:
        out += ["progress", "stop"]
    elif state in (STOPPED, FAILED, NEW):
        if row["restartable"] and state != NEW:
            out.append("restart")
        out.append("options")
        if row["name"]:
            out.append("delete")
    return out


def access_text(a: dict) -> str:
    """'shared with bob, group physics, 1 open share link' or 'not shared yet'."""
    parts = [*a.get("users", []), *(f"group {g}" for g in a.get("groups", []))]
    links = a.get("links", 0)
    if links:
        parts.append(f"{links} open share link{'s' if links != 1 else ''}")
    return "shared with " + ", ".join(parts) if parts else "not shared yet"


def limit_text(named: int, limit: int) -> dict:
    """What the limit counts, and how to free a slot."""
    if not limit:
        return {"full": False, "text": f"You have {named} named session{'s' if named != 1 else ''}."}
    full = named >= limit
    counted = f"You have {named} of {limit} sessions (running, stopped and not yet started ones all count)."
    if full:
        how = "The limit is reached: delete a session you no longer need to start a new one (its drive is kept)."
    else:
        how = "Stopped sessions keep their slot until you delete them; deleting keeps the drive."
    return {"full": full, "text": f"{counted} {how}", "count": named, "limit": limit}


def suggested_name(taken: set[str]) -> str:
    for i in range(1, 1000):
        name = f"session-{i}"
        if name not in taken:
            return name
    return "session"


def personal_rows(entries: list) -> list[dict]:
    """Every personal session type on the hub (admins): author, name, sharing, and whether it loads."""
    rows = []
    for e in entries:
        spec = e.record.spec if isinstance(e.record.spec, dict) else {}
        rows.append(
            {
                "slug": e.slug,
                "author": e.record.owner or "(unreadable)",
                "name": spec.get("name") if isinstance(spec.get("name"), str) else e.slug,
                "image": spec.get("image") if isinstance(spec.get("image"), str) else "",
                "shared_with": ", ".join(
                    g for g in spec.get("share_with_groups") or [] if isinstance(g, str)
                ),
                "revision": e.record.revision,
                "updated": e.record.updated_at,
                "error": e.error,
            }
        )
    return sorted(rows, key=lambda r: (r["author"], r["name"]))


def type_rows(types: dict, unavailable: dict, details: dict | None = None) -> list[dict]:
    """The loaded session types, read-only, for admins (with the details view where built)."""
    from ..spawner.form import render_type_details

    details = details or {}
    rows = []
    for st in types.values():
        res = st.resources
        life = st.lifetime
        rows.append(
            {
                "slug": st.slug,
                "display_name": st.display_name,
                "default": st.default,
                "interface": st.interface.kind + (f" ({st.interface.name})" if st.interface.name else ""),
                "image": st.image.default
                + (f" (+{len(st.image.allowed) - 1} allowed)" if len(st.image.allowed) > 1 else ""),
                "resources": f"CPU {res.cpu.describe()}; memory {res.memory.describe()}; GPU {res.gpu.describe()}",
                "timeouts": ", ".join(format_timeout(t) for t in st.timeouts.all_choices)
                + f" (default {format_timeout(st.timeouts.default)})",
                "lifetime": "no maximum age"
                if life.max_age == NEVER
                else f"max age {format_timeout(life.max_age)}, renew +{format_timeout(life.effective_renewal_period)}"
                + (f", at most {life.max_renewals}×" if life.max_renewals is not None else ""),
                "collaborative": st.collaborative,
                "access": "everyone"
                if not st.access.users and not st.access.groups
                else ", ".join(
                    [*(f"user {u}" for u in st.access.users), *(f"group {g}" for g in st.access.groups)]
                ),
                "source": st.source.rsplit("/", 1)[-1],
                "source_path": st.source,
                "unavailable": unavailable.get(st.slug),
                "details": render_type_details(details[st.slug]) if st.slug in details else None,
            }
        )
    return rows


def type_cards(f: dict) -> dict:
    """The Sessions page's types section: what this user may start (with details), their own
    personal types (broken ones with why) and how to make one."""
    details = f.get("details") or {}
    personal = f.get("personal") or {}
    svc = f.get("service_prefix") or f["base_url"] + "services/sessions/"
    rows = []
    for slug, st in (f.get("usable") or {}).items():
        if st.author and st.author == f["me"]:
            continue  # listed under "yours" below
        rows.append(_card(st, "shared" if st.author else "admin", details.get(slug), f, svc))
    mine = []
    for e in personal.get("mine") or []:
        if e.type is not None:
            card = _card(e.type, "mine", details.get(e.slug), f, svc)
        else:
            name = e.record.spec.get("name") if isinstance(e.record.spec, dict) else None
            card = {
                "slug": e.slug,
                "name": name if isinstance(name, str) else e.slug,
                "kind": "mine",
                "description": "",
                "error": e.error,
                "details": None,
                "interface": "",
                "image": "",
            }
        card["edit_url"] = f"{svc}types/{quote(e.record.id, safe='')}/edit"
        card["delete_url"] = f"{svc}types/{quote(e.record.id, safe='')}/delete"
        card["shared_with"] = ", ".join(
            e.record.spec.get("share_with_groups") or [] if isinstance(e.record.spec, dict) else []
        )
        mine.append(card)
    return {
        "rows": rows,
        "mine": mine,
        "enabled": bool(personal.get("enabled")),
        "new_url": f"{svc}types/new",
    }


def _card(st, kind: str, facts: dict | None, f: dict, svc: str) -> dict:
    from ..spawner.form import render_type_details

    iface = st.interface
    return {
        "slug": st.slug,
        "name": st.display_name,
        "kind": kind,
        "author": st.author,
        "revision": st.revision,
        "description": st.description,
        "interface": "JupyterLab" if iface.kind == "lab" else f"{iface.kind} ({iface.name})",
        "image": st.image.default,
        "error": None,
        "unavailable": (f.get("unavailable") or {}).get(st.slug),
        "details": render_type_details(facts) if facts else None,
    }


def type_details_css():
    from ..spawner.form import type_details_css

    return type_details_css()


def drive_rows(drives: dict, sessions: list[dict]) -> list[dict]:
    """(user, drive, in use by, size) for every listed drive."""
    in_use = {}
    for s in sessions:
        if s["state"] in (RUNNING, LAUNCHING, STOPPING) and s["drive"]:
            in_use[(s["user"], s["drive"])] = s["label"]
    rows = []
    for user in sorted(drives):
        for d in drives[user]:
            rows.append(
                {
                    "user": user,
                    "name": d["name"],
                    "in_use_by": in_use.get((user, d["name"])),
                    "size": d.get("size", ""),
                }
            )
    return rows


def build(f: dict) -> dict:
    """The whole page's model from loader facts."""
    f = {**f}
    f.setdefault("base_url", "/")
    f["hub_prefix"] = f["base_url"] + "hub/"
    timing = {(t.get("user"), t.get("name")): t for t in f["timing"] if isinstance(t, dict)}
    ended = {(e.get("user"), e.get("name")): e for e in f["ended"] if isinstance(e, dict)}
    mine = [session_row(s, f, timing, ended) for s in f["mine"]]
    for row in mine:
        row["access_text"] = access_text(f["access"].get(row["name"]) or {})
    named = [s for s in f["mine"] if s["name"]]
    shared = []
    for sh in f["shared"]:
        st = f["types"].get(sh["session_type"]) if isinstance(sh.get("session_type"), str) else None
        shared.append(
            {
                **sh,
                "type": st.display_name if st else (sh.get("session_type") or "—"),
                "url": f"{f['base_url']}user/{quote(sh['owner'], safe='')}/{quote(sh['name'], safe='')}/",
                "state": RUNNING if sh["running"] else STOPPED,
            }
        )
    model = {
        "service_prefix": f.get("service_prefix") or f["base_url"] + "services/sessions/",
        "ssh_prefix": f.get("ssh_prefix"),
        "ssh_service": f.get("ssh_service"),
        "me": f["me"],
        "admin": f["admin"],
        "now": f["now"],
        "sessions": mine,
        "access": f["access"],
        "shared": shared,
        "limit": limit_text(len(named), f["limit"]),
        "suggested_name": suggested_name({s["name"] for s in named}),
        "drives": drive_rows({f["me"]: f["drives"].get(f["me"], [])}, mine),
        "notes": f["notes"],
        "types_error": f["types_error"],
        "type_cards": type_cards(f),
        "details_css": type_details_css(),
    }
    if f["admin"]:
        everyone = [session_row(s, f, timing, ended) for s in f.get("everyone", [])]
        model["everyone"] = everyone
        model["facets"] = {
            "users": sorted({s["user"] for s in everyone}),
            "types": sorted({(s["type_slug"], s["type"]) for s in everyone if s["type_slug"]}),
            "states": list(STATE_LABELS.items()),
        }
        model["admin_drives"] = drive_rows(f.get("admin_drives", {}), everyone)
        admin_types = {slug: t for slug, t in f["types"].items() if not t.author}
        model["type_rows"] = type_rows(admin_types, f["unavailable"], f.get("details") or {})
        model["personal_rows"] = personal_rows((f.get("personal") or {}).get("all") or [])
    return model
