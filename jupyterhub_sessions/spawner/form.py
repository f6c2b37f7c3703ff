"""The server-rendered spawn form, and form data back into user_options.

The form works without JavaScript: every session type is a radio card with its
own fieldset of choices (fields named ``<slug>:<option>``); CSS hides the
fieldsets of unselected types where the browser supports `:has()`. All text
from profiles and drive names is autoescaped.
"""

from __future__ import annotations

import math
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ..drives import DRIVE_NAME_RE
from ..options import KNOWN_KEYS
from ..profiles import default_type, format_timeout

_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
)

PER_TYPE_KEYS = ("image", "cpu", "memory", "gpu", "timeout", "collaborative")
CUSTOM_IMAGE = "custom_image"  # the "your own image" field of a type (becomes `image`)
CHOICE_LABELS = {"image": "image", "cpu": "CPU", "memory": "memory", "gpu": "GPU"}


def _and(words: list[str]) -> str:
    return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def refill_choices(raw: dict) -> dict:
    """A refused submission (from `form_to_options`) as `previous` for the form.

    The values are hostile until checked: keep only what can preselect a
    choice (numbers as numbers, the collaborative box as a bool, names as
    strings the template escapes).
    """
    out: dict = {}
    for key in ("session_type", "image", "memory", "timeout", "drive", "new_drive"):
        v = raw.get(key)
        if isinstance(v, str) and len(v) <= 256:
            out[key] = v
    for key in ("cpu", "gpu"):
        try:
            value = float(raw.get(key))
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            out[key] = value
    out["collaborative"] = str(raw.get("collaborative", "")).lower() in ("on", "true", "1", "yes")
    return out


def type_details_css() -> Markup:
    """The details view's style (the spawn form includes it; the dashboard puts it in its page)."""
    return Markup((Path(__file__).parent / "templates" / "type_details.css").read_text())


def render_type_details(facts: dict) -> Markup:
    """The details view of one session type (spawn form cards, the dashboard's types), as HTML."""
    return Markup(_env.get_template("type_details.html").render(d=facts))


def render_spawn_form(
    types,
    drives,
    previous=None,
    default_drive="home",
    unavailable=None,
    unenforced=None,
    failure=None,
    me=None,
    broken=None,
    details=None,
) -> str:
    """HTML for JupyterHub's spawn page (inserted inside its <form>).

    `unavailable`: {slug: reason} of types this backend cannot start here (shown
    disabled, with the reason); `unenforced`: {choice: why} of choices it
    records but does not enforce (labelled next to the field); `failure`: the
    record of a start that just failed (its output is shown above the choices).
    Personal types (those with an `author`) are listed after the admin's:
    `me`'s own, then those shared with them, under their author; `broken`:
    `me`'s own types that do not load ({slug, name, error}); `details`:
    {slug: facts} for each card's details view (preview.describe_type + launch).
    """
    previous = previous or {}
    unavailable = unavailable or {}
    selected = previous.get("session_type")
    startable = {slug: t for slug, t in types.items() if slug not in unavailable}
    if selected not in startable:
        selected = None
        if startable:
            selected = (
                default_type(types).slug if default_type(types).slug in startable else next(iter(startable))
            )
    drive_names = [d.name for d in drives]
    free = [d.name for d in drives if d.in_use_by is None]
    chosen_drive = previous.get("drive")
    if chosen_drive == "__new__":
        pass  # a refused "create a new drive": keep it, with the name typed
    elif chosen_drive not in free:  # never preselect a drive another session holds
        if default_drive in free or default_drive not in drive_names:
            chosen_drive = default_drive  # an existing free default, or offered as "(new)"
        else:
            chosen_drive = free[0] if free else "__new__"
    all_types = list(types.values())
    return _env.get_template("spawn_form.html").render(
        groups=[
            ("admin", None, [t for t in all_types if not t.author]),
            ("mine", "Your session types", [t for t in all_types if t.author and t.author == me]),
            ("shared", "Shared with you", [t for t in all_types if t.author and t.author != me]),
        ],
        broken=broken or [],
        details={slug: render_type_details(f) for slug, f in (details or {}).items()},
        selected=selected,
        previous=previous,
        drives=drives,
        chosen_drive=chosen_drive,
        default_drive=default_drive,
        drive_pattern=DRIVE_NAME_RE.pattern,
        format_timeout=format_timeout,
        num=_num,
        unavailable=unavailable,
        failure=failure,
        unenforced=unenforced or {},
        unenforced_labels=_and([CHOICE_LABELS.get(k, k) for k in (unenforced or {})]),
    )


def _type_fields(slug: str, first) -> dict:
    """The chosen type's own fields (an unchecked collaborative box sends nothing: off)."""
    out: dict = {"session_type": slug}
    for key in PER_TYPE_KEYS:
        v = first(f"{slug}:{key}")
        if v is not None and v != "":
            out[key] = v
    custom = first(f"{slug}:{CUSTOM_IMAGE}")
    if isinstance(custom, str) and custom.strip():
        out["image"] = custom
    out.setdefault("collaborative", "off")
    return out


def form_to_options(formdata: dict) -> dict:
    """Turn the form's fields into user_options for the chosen session type.

    Only the chosen type's ``<slug>:<option>`` fields are taken; anything
    else is dropped. Values stay strings; `parse_session_options` validates.
    """

    def first(key):
        v = formdata.get(key)
        if isinstance(v, list):
            return v[0] if v else None
        return v

    slug = first("session_type")
    out: dict = _type_fields(slug, first) if slug is not None else {}
    drive = first("drive")
    if drive:
        out["drive"] = drive
    new_drive = first("new_drive")
    if drive == "__new__" and new_drive:
        out["new_drive"] = new_drive
    elif drive == "__new__":
        out["drive"] = "__new__"
    assert set(out) <= KNOWN_KEYS
    return out
