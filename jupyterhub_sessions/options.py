"""The options a user picks for one session, validated against its session type.

`user_options` arrive from the spawn form (lists of strings) or from the REST
API (any JSON). Both pass through `parse_session_options`, which treats the
input as hostile and returns a normalized `SessionOptions`, or raises
`OptionsError` naming the bad field.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass

from .drives import DEFAULT_DRIVE, DriveError, validate_drive_name
from .images import ImageError
from .profiles import NEVER, SessionType, default_type, memory_bytes

KNOWN_KEYS = {
    "session_type",
    "image",
    "cpu",
    "memory",
    "gpu",
    "drive",
    "new_drive",
    "timeout",
    "collaborative",
}
MAX_STRING = 256


class OptionsError(ValueError):
    """The requested options are invalid; `field` names the offending option."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"Invalid session option '{field}': {reason}")


@dataclass(frozen=True)
class SessionOptions:
    session_type: str
    image: str
    cpu: float
    memory: str
    gpu: int
    drive: str
    create_drive: bool
    timeout: int
    collaborative: bool
    image_chosen: bool = False  # the user named the image (else the type's default, followed on restart)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> SessionOptions:
        fields = cls.__dataclass_fields__
        return cls(**{k: d[k] for k, f in fields.items() if k in d or f.default is MISSING})


def _scalar(raw: dict, key: str):
    """One value from form data (list of strings) or JSON (scalar)."""
    v = raw.get(key)
    if isinstance(v, list):
        if len(v) != 1:
            raise OptionsError(key, "expected a single value")
        v = v[0]
    if isinstance(v, str):
        if len(v) > MAX_STRING:
            raise OptionsError(key, f"longer than {MAX_STRING} characters")
        v = v.strip()
        if v == "":
            return None
    return v


def _number(raw: dict, key: str):
    v = _scalar(raw, key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise OptionsError(key, "must be a number")
    try:
        f = float(v)
    except ValueError:
        raise OptionsError(key, f"{v!r} is not a number") from None
    if not math.isfinite(f):
        raise OptionsError(key, "must be a finite number")
    return f


def _bool(raw: dict, key: str) -> bool | None:
    v = _scalar(raw, key)
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in {"on", "true", "1", "yes"}:
        return True
    if isinstance(v, str) and v.lower() in {"off", "false", "0", "no"}:
        return False
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise OptionsError(key, "must be true or false")


def _image(raw: dict, st: SessionType) -> str:
    """The type's default, one of its listed images, or (if its policy allows) the user's own."""
    image = _scalar(raw, "image")
    if image is None:
        return st.image.default
    if isinstance(image, str) and st.image.is_listed(image):
        return image
    if not st.image.accepts_custom:
        raise OptionsError("image", f"not an allowed image for {st.slug}")
    try:
        return st.image.custom.check(
            image, st.image.custom_rule or f"session type '{st.slug}': image.custom"
        ).text
    except ImageError as e:
        raise OptionsError("image", str(e)) from None


def visible_types(types: dict[str, SessionType], username: str, groups) -> dict[str, SessionType]:
    """The session types this user may see and start."""
    return {s: t for s, t in types.items() if t.access.permits(username, groups)}


def _known_options(raw: object) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise OptionsError("(options)", "must be a JSON object")
    unknown = sorted(str(k)[:40] for k in raw if k not in KNOWN_KEYS)
    if unknown:
        raise OptionsError(unknown[0], "unknown option")
    return raw


def _session_type(raw: dict, types: dict[str, SessionType], username: str, groups) -> SessionType:
    """The type asked for, if this user may start it; none asked: the default (or the first visible)."""
    allowed = visible_types(types, username, groups)
    slug = _scalar(raw, "session_type")
    if slug is None:
        if not allowed:
            raise OptionsError("session_type", "no session type is available to you")
        return default_type(allowed) if default_type(types).slug in allowed else next(iter(allowed.values()))
    if not isinstance(slug, str) or slug not in allowed:
        raise OptionsError("session_type", "unknown session type")
    return allowed[slug]


def _cpu(raw: dict, res) -> float:
    cpu = _number(raw, "cpu")
    cpu = res.cpu.default if cpu is None else cpu
    if not res.cpu.allows(cpu):
        raise OptionsError("cpu", f"must be {res.cpu.describe()}")
    return float(cpu)


def _memory(raw: dict, res) -> str:
    memory = _scalar(raw, "memory")
    memory = res.memory.default if memory is None else memory
    if not isinstance(memory, str):
        raise OptionsError("memory", "must be a quantity such as '2G'")
    try:
        memory_bytes(memory)
    except ValueError:
        raise OptionsError("memory", "must be a quantity such as '2G'") from None
    if not res.memory.allows(memory):
        raise OptionsError("memory", f"must be {res.memory.describe()}")
    return memory


def _gpu(raw: dict, res) -> int:
    gpu = _number(raw, "gpu")
    gpu = res.gpu.default if gpu is None else gpu
    if not float(gpu).is_integer() or not res.gpu.allows(gpu):
        raise OptionsError("gpu", f"must be {res.gpu.describe()}")
    return int(gpu)


def _timeout(raw: dict, st: SessionType) -> int:
    timeout = _number(raw, "timeout")
    timeout = st.timeouts.default if timeout is None else timeout
    if not float(timeout).is_integer() or not st.timeouts.allows(int(timeout)):
        shown = ", ".join("never" if t == NEVER else str(t) for t in st.timeouts.all_choices)
        raise OptionsError("timeout", f"must be one of {shown} (seconds; -1 = never)")
    return int(timeout)


def _collaborative(raw: dict, st: SessionType) -> bool:
    collaborative = _bool(raw, "collaborative") or False
    if collaborative and not st.collaborative:
        raise OptionsError("collaborative", f"collaborative mode is not offered for {st.slug}")
    return collaborative


def _drive(raw: dict, default_drive: str) -> tuple[str, bool]:
    """(drive name, whether to create it): an existing drive, a new one, or the default."""
    new_drive = _scalar(raw, "new_drive")
    drive = _scalar(raw, "drive")
    create = False
    if new_drive is not None:
        if drive not in (None, "__new__", new_drive):
            raise OptionsError("new_drive", "give either an existing drive or a new drive name, not both")
        drive, create = new_drive, True
    elif drive == "__new__":
        raise OptionsError("new_drive", "name the new drive")
    if drive is None:
        drive, create = default_drive, True
    try:
        validate_drive_name(drive)
    except DriveError as e:
        raise OptionsError("new_drive" if create and new_drive else "drive", str(e)) from None
    return drive, create


def parse_session_options(
    raw: object,
    types: dict[str, SessionType],
    username: str,
    groups=(),
    default_drive: str = DEFAULT_DRIVE,
) -> SessionOptions:
    """Validate raw user_options for `username`; return normalized options.

    Checked in this order (the first refusal is the one reported): unknown keys, type, image,
    cpu, memory, gpu, timeout, collaborative, drive.
    """
    raw = _known_options(raw)
    st = _session_type(raw, types, username, groups)

    image = _image(raw, st)
    image_chosen = image != st.image.default

    res = st.resources
    cpu, memory, gpu = _cpu(raw, res), _memory(raw, res), _gpu(raw, res)
    timeout, collaborative = _timeout(raw, st), _collaborative(raw, st)
    drive, create = _drive(raw, default_drive)

    return SessionOptions(
        session_type=st.slug,
        image=image,
        cpu=float(cpu),
        memory=memory,
        gpu=int(gpu),
        drive=drive,
        create_drive=create,
        timeout=int(timeout),
        collaborative=collaborative,
        image_chosen=image_chosen,
    )
