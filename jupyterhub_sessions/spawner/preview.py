"""Session-type details: what a type offers, and what a start of it runs, from the code that starts it.

Every session-type card (the spawn form, the dashboard's types) opens a
details view. Its facts come from two places, and from nowhere else:

- the type itself (`profiles.SessionType`, the model the spawner and the
  sessions service enforce): images and the image policy, interface,
  resource choices, placement, timeouts and lifetime, who may use it;
- a *preview spawner*: a fresh instance of the hub's own spawner class with
  the hub's config, this user and this session name, configured for the
  type's default options by the same method a start uses
  (`SessionKubeSpawner.configure_pod` / `LocalSessionSpawner.configure_process`),
  asked for what a start would run: the pod manifest from KubeSpawner's
  `get_pod_manifest()` (Kubernetes) or the command line from the sandbox
  prefix, `cmd` and `get_args()` (embedded). Nothing is created, no API is
  called; tokens (made when a session starts) are shown as such.

The preview spawner is not connected to the hub's database (its ORM record
is a stand-in), so it cannot change anything the hub keeps.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

from ..options import OptionsError, parse_session_options
from ..profiles import NEVER, SessionType, format_timeout

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY", re.IGNORECASE)
SET_AT_START = "(created when the session starts)"


def redact_env(env: dict) -> dict:
    """Environment with secret-looking values replaced (the preview has none, and must show none)."""
    return {k: (SET_AT_START if SECRET_NAME.search(k) else v) for k, v in env.items()}


def redact_pod(pod: dict) -> dict:
    """A pod manifest (as a dict) with secret-looking environment values replaced."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for var in container.get("env") or []:
            if SECRET_NAME.search(var.get("name", "")) and "value" in var:
                var["value"] = SET_AT_START
    return pod


def command_text(argv: list[str]) -> str:
    """A command line as a shell would take it, one option (with its values) per line."""
    import shlex

    lines: list[list[str]] = []
    for arg in argv:
        if not lines or arg.startswith("-"):
            lines.append([])
        lines[-1].append(shlex.quote(arg))
    return " \\\n  ".join(" ".join(line) for line in lines)


def preview_orm_spawner(user, name: str) -> SimpleNamespace:
    """What a Spawner reads of its ORM record, detached from any database: the server's URL
    prefix is the one a start of session `name` gets (it is in the session's environment)."""
    from urllib.parse import quote

    from jupyterhub import orm

    server_url = getattr(user, "server_url", None)
    base_url = (
        server_url(name) if callable(server_url) else user.url + (f"{quote(name, safe='')}/" if name else "")
    )
    return SimpleNamespace(
        name=name,
        display_name=name,
        server=orm.Server(
            proto="http", ip="", port=0, base_url=base_url, cookie_name="cookie"
        ),  # in no database
        user_options={},
        state={},
        started=None,
        last_activity=None,
    )


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def describe_type(st: SessionType) -> dict:
    """The type's own facts, for the details view (strings and small lists, all escaped by the templates)."""
    res = st.resources
    life = st.lifetime
    iface = st.interface
    if iface.kind == "lab":
        interface = "JupyterLab"
    else:
        what = "Web app" if iface.kind == "webapp" else "Desktop"
        interface = f"{what} at /{iface.name}/" + iface.url_path.lstrip("/")
    custom = st.image.custom
    return {
        "slug": st.slug,
        "display_name": st.display_name,
        "description": st.description,
        "author": st.author,
        "revision": st.revision,
        "image": st.image.default,
        "images_allowed": [i for i in st.image.allowed if i != st.image.default],
        "custom_images": custom.describe() if st.image.accepts_custom else None,
        "custom_rule": st.image.custom_rule if st.image.accepts_custom else None,
        "interface": interface,
        "command": list(iface.command),
        "port": iface.port,
        "resources": [
            ("CPU", f"{_num(res.cpu.default)} ({res.cpu.describe()})"),
            ("Memory", f"{res.memory.default} ({res.memory.describe()})"),
            (
                "GPU",
                f"{_num(res.gpu.default)} ({res.gpu.describe()})"
                + (f", {res.gpu.resource_name}" if res.gpu.default or res.gpu.max else ""),
            ),
        ],
        "node_selector": dict(st.node_selector),
        "tolerations": [", ".join(f"{k}={v}" for k, v in t.items()) for t in st.tolerations],
        "timeouts": ", ".join(format_timeout(t) for t in st.timeouts.all_choices)
        + f" (default {format_timeout(st.timeouts.default)})",
        "lifetime": "no maximum age"
        if life.max_age == NEVER
        else f"at most {format_timeout(life.max_age)}, renewable by {format_timeout(life.effective_renewal_period)}"
        + (f" up to {life.max_renewals} times" if life.max_renewals is not None else ""),
        "collaborative": st.collaborative,
        "access": "you" if st.author and not st.access.groups else _access(st),
    }


def _access(st: SessionType) -> str:
    a = st.access
    if not a.users and not a.groups:
        return "everyone"
    return ", ".join([*(f"user {u}" for u in a.users), *(f"group {g}" for g in a.groups)])


def default_options(st: SessionType, username: str, groups, drive: str):
    """The options a start of `st` with no choices made gets (what the preview shows)."""
    try:
        return parse_session_options({"session_type": st.slug}, {st.slug: st}, username, groups, drive)
    except OptionsError:
        return None
