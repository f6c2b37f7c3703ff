"""Session types: admin-written YAML files loaded into one typed model.

A bad file must stop the hub at start-up with a message naming the file, the
field and the reason, so everything here is validated strictly (unknown keys
are errors: a typo must not silently become a default).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .images import ImagePolicy

NEVER = -1
"""Timeout value meaning "this session never times out"."""

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$")
# a user's own session type: "u." and a random id (no admin slug has a dot, so they never collide)
USER_SLUG_RE = re.compile(r"^u\.[a-z0-9]{12}$")
MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(K|M|G|T|Ki|Mi|Gi|Ti)?$")
MAX_PROFILE_BYTES = 256 * 1024
MAX_PROFILE_VALUES = 100_000  # after expanding YAML aliases ("billion laughs")
MAX_PROFILE_DEPTH = 64
POLICY_FILE = "_policy.yaml"
"""The platform policy in the session-types directory: what users may bring (see PlatformPolicy)."""


# KubeSpawner's profile_list next to session types (refused by z2jh_config and SessionKubeSpawner)
PROFILE_LIST_CONFLICT = (
    "jupyterhub-sessions: {where} is set, but SessionKubeSpawner builds each session's pod from "
    "the session type the user picked; a KubeSpawner profile would silently replace its image and "
    "resources. Remove {where} (z2jh: singleuser.profileList) and describe the choices as session "
    "types (JUPYTERHUB_SESSIONS_PROFILES)."
)


# choices the embedded backend records but cannot enforce (the spawn form, the dashboard and the
# type editor label them "not enforced here"): sessions are local processes, not containers
UNENFORCED_CHOICES = {
    "image": "Sessions run in this machine's Python environment; the image is only recorded.",
    "cpu": "Local processes share this machine's CPUs; the choice is given to the session as CPU_LIMIT.",
    "memory": "Local processes are not memory-limited; the choice is given to the session as MEM_LIMIT.",
    "gpu": "Not assigned by this backend.",
}


def format_timeout(seconds: int) -> str:
    if seconds == NEVER:
        return "Never"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


class ProfileError(ValueError):
    """A session-type file is invalid; the message names file, field and reason."""

    def __init__(self, path: str | Path, field: str, reason: str):
        self.path = str(path)
        self.field = field
        self.reason = reason
        super().__init__(f"{self.path}: field '{field}': {reason}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def memory_bytes(value: str) -> int:
    """Convert a Kubernetes-style memory quantity ("512M", "2Gi") to bytes."""
    m = MEMORY_RE.match(str(value))
    if not m:
        raise ValueError(f"not a memory quantity: {value!r}")
    units = {
        None: 1,
        "K": 10**3,
        "M": 10**6,
        "G": 10**9,
        "T": 10**12,
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
    }
    number = float(value[: len(value) - len(m.group(2) or "")])
    return int(number * units[m.group(2)])


class NumberChoice(_Strict):
    """A numeric resource the user picks: a list of choices, or a min/max range."""

    default: float
    choices: list[float] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check(self):
        given = [self.default, *(self.choices or []), self.min, self.max]
        if not all(math.isfinite(v) for v in given if v is not None):
            raise ValueError("must be finite numbers (not inf or nan)")
        if self.choices is not None:
            if not self.choices:
                raise ValueError("choices must not be empty")
            if self.default not in self.choices:
                raise ValueError(f"default {self.default} is not one of the choices {self.choices}")
        else:
            lo = self.min if self.min is not None else self.default
            hi = self.max if self.max is not None else self.default
            if lo > hi:
                raise ValueError(f"min {lo} is greater than max {hi}")
            if not lo <= self.default <= hi:
                raise ValueError(f"default {self.default} is outside [{lo}, {hi}]")
        if self.default < 0:
            raise ValueError("must not be negative")
        return self

    def allows(self, value: float) -> bool:
        if self.choices is not None:
            return value in self.choices
        lo = self.min if self.min is not None else self.default
        hi = self.max if self.max is not None else self.default
        return lo <= value <= hi

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(_fmt(c) for c in self.choices)
        lo = self.min if self.min is not None else self.default
        hi = self.max if self.max is not None else self.default
        return f"between {_fmt(lo)} and {_fmt(hi)}"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class MemoryChoice(_Strict):
    """Memory the user picks, as Kubernetes quantities ("2G", "512Mi")."""

    default: str
    choices: list[str] | None = None
    min: str | None = None
    max: str | None = None

    @field_validator("default", "min", "max")
    @classmethod
    def _quantity(cls, v):
        if v is not None:
            memory_bytes(v)
        return v

    @field_validator("choices")
    @classmethod
    def _quantities(cls, v):
        if v is not None:
            if not v:
                raise ValueError("choices must not be empty")
            for q in v:
                memory_bytes(q)
        return v

    @model_validator(mode="after")
    def _check(self):
        if not self.allows(self.default):
            raise ValueError(f"default {self.default} is not allowed by {self.describe()}")
        return self

    def allows(self, value: str) -> bool:
        try:
            b = memory_bytes(value)
        except ValueError:
            return False
        if self.choices is not None:
            return any(memory_bytes(c) == b for c in self.choices)
        lo = memory_bytes(self.min) if self.min else memory_bytes(self.default)
        hi = memory_bytes(self.max) if self.max else memory_bytes(self.default)
        return lo <= b <= hi

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        return f"between {self.min or self.default} and {self.max or self.default}"


class GpuChoice(NumberChoice):
    """GPUs the user picks; resource_name is the extended resource to request."""

    default: float = 0
    resource_name: str = "nvidia.com/gpu"

    @model_validator(mode="after")
    def _whole(self):
        for v in [self.default, *(self.choices or []), self.min or 0, self.max or 0]:
            if not float(v).is_integer():
                raise ValueError("GPU counts must be whole numbers")
        return self


class Resources(_Strict):
    cpu: NumberChoice = NumberChoice(default=1, choices=[1])
    memory: MemoryChoice = MemoryChoice(default="2G", choices=["2G"])
    gpu: GpuChoice = GpuChoice(default=0, choices=[0])


class Image(_Strict):
    """Container image; when `allowed` is non-empty users may pick one of them.

    `custom`: users may also give an image reference of their own, within this
    policy (see images.ImagePolicy). Absent: the global `custom_images` of
    `_policy.yaml`, if any (`custom: {allow: []}` opts a type out of it).
    """

    default: str = Field(min_length=1)
    allowed: list[str] = []
    custom: ImagePolicy | None = None
    custom_rule: str = Field(
        default="", exclude=True, description="where `custom` was written (for refusals)"
    )

    @model_validator(mode="after")
    def _check(self):
        if self.allowed and self.default not in self.allowed:
            raise ValueError(f"default image {self.default!r} is not in allowed")
        return self

    @property
    def user_choice(self) -> bool:
        return len(self.allowed) > 1

    @property
    def accepts_custom(self) -> bool:
        return self.custom is not None and bool(self.custom.allow)

    def is_listed(self, image: str) -> bool:
        """One of the admin's images (needs no policy check)."""
        return image == self.default or image in self.allowed


class Interface(_Strict):
    """What the user lands on: JupyterLab, or a web app behind jupyter-server-proxy.

    For `webapp` and `desktop`, `command` is the process jupyter-server-proxy
    starts; `{port}` in it is replaced with the port it should listen on. A
    `desktop` may leave `command` empty when its image serves `/<name>/` itself
    (jupyter-remote-desktop-proxy serves `/desktop/` and starts the VNC server).
    `port`: the app listens on this fixed port instead of the one given as `{port}`.
    """

    kind: Literal["lab", "webapp", "desktop"] = "lab"
    name: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,30}$")
    command: list[str] = []
    port: int | None = Field(default=None, ge=1, le=65535)
    title: str | None = None
    url_path: str = "/"
    timeout: int = Field(default=30, ge=1, le=600)

    @model_validator(mode="after")
    def _check(self):
        if self.kind != "lab":
            if not self.command and self.kind != "desktop":
                raise ValueError(f"interface of kind {self.kind!r} needs a command")
            if not self.name:
                raise ValueError(f"interface of kind {self.kind!r} needs a name (its /<name>/ path)")
        return self


class Timeouts(_Strict):
    """Allowed per-session timeouts in seconds; -1 means never."""

    default: int = 3600
    choices: list[int] = [900, 3600, 4 * 3600, 24 * 3600]
    allow_never: bool = False

    @field_validator("choices")
    @classmethod
    def _positive(cls, v):
        if not v:
            raise ValueError("choices must not be empty")
        for t in v:
            if t != NEVER and t <= 0:
                raise ValueError(f"timeout {t} must be positive seconds or -1 (never)")
        return sorted(set(v), key=lambda t: (t == NEVER, t))

    @model_validator(mode="after")
    def _check(self):
        if not self.allows(self.default):
            raise ValueError(f"default {self.default} is not an allowed timeout")
        return self

    def allows(self, value: int) -> bool:
        if value == NEVER:
            return self.allow_never or NEVER in self.choices
        return value in self.choices

    @property
    def all_choices(self) -> list[int]:
        out = list(self.choices)
        if self.allow_never and NEVER not in out:
            out.append(NEVER)
        return out


class Lifetime(_Strict):
    """Admin maximum age of a session, renewable by the user."""

    max_age: int = Field(default=NEVER, description="seconds, -1 = no maximum")
    renewal_period: int | None = Field(default=None, gt=0)
    max_renewals: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self):
        if self.max_age != NEVER and self.max_age <= 0:
            raise ValueError("max_age must be positive seconds or -1")
        return self

    @property
    def effective_renewal_period(self) -> int:
        return self.renewal_period or (self.max_age if self.max_age > 0 else 0)


class Access(_Strict):
    """Who may see the type; empty lists mean everyone."""

    users: list[str] = []
    groups: list[str] = []

    def permits(self, username: str, groups: list[str] | set[str]) -> bool:
        if not self.users and not self.groups:
            return True
        return username in self.users or bool(set(groups) & set(self.groups))


class SessionType(_Strict):
    slug: Annotated[str, Field(pattern=f"{SLUG_RE.pattern}|{USER_SLUG_RE.pattern}")]
    display_name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    default: bool = False
    image: Image
    interface: Interface = Interface()
    resources: Resources = Resources()
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []
    extra_pod_config: dict[str, Any] = {}
    extra_container_config: dict[str, Any] = {}
    environment: dict[str, str] = {}
    timeouts: Timeouts = Timeouts()
    lifetime: Lifetime = Lifetime()
    collaborative: bool = Field(default=False, description="whether collaborative mode is offered")
    access: Access = Access()
    source: str = Field(default="", exclude=True, description="file this type came from")
    author: str | None = Field(default=None, exclude=True, description="user who wrote it (user types)")
    revision: int | None = Field(default=None, exclude=True, description="edit count (user types)")

    @property
    def digest(self) -> str:
        """Short hash of what the type says (not where it came from): tells a changed type apart."""
        import hashlib

        text = self.model_dump_json(exclude={"default"})
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @field_validator("environment")
    @classmethod
    def _env_names(cls, v):
        for k in v:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
                raise ValueError(f"{k!r} is not a valid environment variable name")
        return v


class Placement(_Strict):
    """Nodes a user's own session type may ask for (an admin-approved node selector)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    description: str = Field(default="", max_length=200)
    node_selector: dict[str, str] = Field(min_length=1)
    tolerations: list[dict[str, Any]] = []


class UserTypesPolicy(_Strict):
    """What users may put in session types of their own (created on the dashboard or the API).

    Everything else a type can say (privileged or extra pod settings, host
    paths, service accounts, environment, tolerations) stays admin-only.
    `resources`: the range users choose their defaults from, and the range
    their sessions may pick from (the ceiling); `timeouts`: the timeouts
    their types may offer; `lifetime`: applies to every user type;
    `placements`: node selectors users may pick (none: the cluster default).
    """

    access: Access = Access()
    max_per_user: int = Field(default=10, ge=1, le=100)
    images: ImagePolicy | None = None
    default_image: str | None = Field(default=None, max_length=256)
    interfaces: list[Literal["lab", "webapp"]] = Field(default=["lab", "webapp"], min_length=1)
    resources: Resources = Resources()
    timeouts: Timeouts = Timeouts()
    lifetime: Lifetime = Lifetime()
    placements: list[Placement] = Field(default=[], max_length=50)
    sharing: bool = Field(default=True, description="users may share their types with their own groups")
    collaborative: bool = Field(default=True, description="user types may offer collaborative mode")

    @model_validator(mode="after")
    def _unique_placements(self):
        names = [p.name for p in self.placements]
        if len(names) != len(set(names)):
            raise ValueError("placement names must be unique")
        return self


class PlatformPolicy(_Strict):
    """`_policy.yaml` in the session-types directory (optional; absent = users bring nothing).

    `custom_images`: the image policy of every session type without an
    `image.custom` of its own; `user_types`: personal session types.
    """

    custom_images: ImagePolicy | None = None
    user_types: UserTypesPolicy | None = None

    @model_validator(mode="after")
    def _user_types_need_images(self):
        ut = self.user_types
        if ut is not None and ut.images is None and self.custom_images is None:
            raise ValueError("user_types need an image policy: set user_types.images or custom_images")
        if ut is not None and ut.default_image is not None:
            policy = ut.images or self.custom_images
            policy.check(ut.default_image, "user_types.images")
        return self

    @property
    def user_images(self) -> ImagePolicy | None:
        ut = self.user_types
        return None if ut is None else (ut.images or self.custom_images)


def _field_path(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(file)"


class _TooDeep(Exception):
    pass


class _DepthLimitedLoader(yaml.SafeLoader):
    """SafeLoader that stops composing past MAX_PROFILE_DEPTH (not after a RecursionError)."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_PROFILE_DEPTH:
                raise _TooDeep()
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_expanded_size(path: Path, data: object) -> None:
    """Refuse documents that nest too deeply or expand (through aliases) into huge values.

    YAML aliases share one object, so a few lines can stand for a billion
    values that later code (JSON for a pod spec, deep copies) would walk.
    Counted iteratively, with every alias use counted again.
    """
    count = 0
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_PROFILE_VALUES:
            raise ProfileError(
                path,
                "(file)",
                f"more than {MAX_PROFILE_VALUES} values once YAML aliases (*name) are expanded",
            )
        if depth > MAX_PROFILE_DEPTH:
            raise ProfileError(path, "(file)", f"nested deeper than {MAX_PROFILE_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((k, depth + 1) for k in node)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _read_yaml(path: Path) -> dict:
    """A YAML mapping from a file, refused (ProfileError) when large, deep, exploding or unsafe."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ProfileError(path, "(file)", f"cannot read: {e.strerror}") from None
    if len(raw) > MAX_PROFILE_BYTES:
        raise ProfileError(path, "(file)", f"larger than {MAX_PROFILE_BYTES} bytes")
    try:
        data = yaml.load(raw, Loader=_DepthLimitedLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ProfileError(path, "(file)", f"not valid YAML{line}: {getattr(e, 'problem', e)}") from None
    except (_TooDeep, RecursionError):
        raise ProfileError(path, "(file)", f"nested deeper than {MAX_PROFILE_DEPTH} levels") from None
    _check_expanded_size(path, data)
    if not isinstance(data, dict):
        raise ProfileError(path, "(file)", "must be a mapping of fields")
    if any(not isinstance(k, str) for k in data):
        raise ProfileError(path, "(file)", "field names must be strings")
    return data


def _validated(model, path: Path, data: dict, **extra):
    try:
        return model(**data, **extra)
    except ValidationError as e:
        err = e.errors()[0]
        field = _field_path(err["loc"])
        reason = err["msg"].removeprefix("Value error, ")
        raise ProfileError(path, field, reason) from None
    except TypeError as e:
        raise ProfileError(path, "(file)", str(e)) from None


# set by the hub when it loads a type, never written in a file
RESERVED_FIELDS = ("source", "author", "revision")


def load_session_type(path: str | Path) -> SessionType:
    """Load and validate one session-type file."""
    path = Path(path)
    data = _read_yaml(path)
    for key in RESERVED_FIELDS:
        if key in data:
            raise ProfileError(path, key, "is set by the hub, not in a session-type file")
    image = data.get("image")
    if isinstance(image, dict) and "custom_rule" in image:
        raise ProfileError(path, "image.custom_rule", "is set by the hub, not in a session-type file")
    data.setdefault("slug", path.stem)
    if not isinstance(data["slug"], str) or not SLUG_RE.match(data["slug"]):
        raise ProfileError(path, "slug", f"must match the pattern {SLUG_RE.pattern} (e.g. 'notebook')")
    st = _validated(SessionType, path, data, source=str(path))
    if st.image.custom is not None:
        rule = f"session type '{st.slug}': image.custom"
        st = st.model_copy(update={"image": st.image.model_copy(update={"custom_rule": rule})})
    return st


def load_policy(directory: str | Path) -> PlatformPolicy:
    """`_policy.yaml` of a session-types directory; the empty policy when there is none."""
    path = Path(directory) / POLICY_FILE
    if not path.exists():
        return PlatformPolicy()
    return _validated(PlatformPolicy, path, _read_yaml(path))


def with_policy(st: SessionType, policy: PlatformPolicy) -> SessionType:
    """`st` with the global image policy when it has none of its own."""
    if st.image.custom is not None or policy.custom_images is None:
        return st
    image = st.image.model_copy(
        update={"custom": policy.custom_images, "custom_rule": f"{POLICY_FILE}: custom_images"}
    )
    return st.model_copy(update={"image": image})


def load_session_types(directory: str | Path) -> dict[str, SessionType]:
    """Load every `*.yaml`/`*.yml` in a directory, ordered by display order.

    `_policy.yaml` is the platform policy, not a type (its `custom_images`
    is applied to types without an image policy of their own).
    Raises ProfileError on the first bad file, or when two files share a slug.
    """
    return load_platform(directory)[0]


def load_platform(directory: str | Path) -> tuple[dict[str, SessionType], PlatformPolicy]:
    """(session types, platform policy) of a session-types directory; ProfileError on a bad file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ProfileError(directory, "(directory)", "session types directory does not exist")
    policy = load_policy(directory)
    types: dict[str, SessionType] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        if path.name == POLICY_FILE:
            continue
        st = with_policy(load_session_type(path), policy)
        if st.slug in types:
            raise ProfileError(path, "slug", f"{st.slug!r} is already defined in {types[st.slug].source}")
        types[st.slug] = st
    if not types:
        raise ProfileError(directory, "(directory)", "no session types (*.yaml) found")
    if sum(1 for t in types.values() if t.default) > 1:
        names = [t.source for t in types.values() if t.default]
        raise ProfileError(names[1], "default", "more than one session type is marked default")
    return types, policy


def default_type(types: dict[str, SessionType]) -> SessionType:
    for t in types.values():
        if t.default:
            return t
    return next(iter(types.values()))


# ---- profiles edited while the hub runs ----------------------------------------------


def _dir_signature(directory: Path) -> tuple:
    """(name, mtime, size) of every profile file: changes when any file is edited, added or removed."""
    entries = []
    for p in sorted(directory.iterdir()):
        if p.suffix in (".yaml", ".yml"):
            st = p.stat()
            entries.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(entries)


@dataclass(frozen=True)
class TypesStatus:
    """What is being served, and why it may differ from the files on disk."""

    types: dict[str, SessionType]
    error: str | None = None  # the files on disk do not load: this is why (the last good set is served)
    error_since: float | None = None  # time.time() when the error was first seen
    loaded_at: float | None = None  # time.time() when `types` was loaded
    policy: PlatformPolicy = PlatformPolicy()  # `_policy.yaml`, loaded with `types`


class SessionTypesWatcher:
    """Session types from a directory, re-read when a file changes.

    Admins edit profiles while the hub runs. A broken edit must not take the
    spawn form down (every page that needs the types would answer 500), so a
    change that does not load keeps the last good set serving, and the error
    is logged once and kept for the admin dashboard. Only a directory that has
    never loaded raises (the hub config loads it at start-up, so that stops
    the hub with file, field and reason).
    """

    def __init__(self, directory: str | Path, log: logging.Logger | None = None):
        self.directory = Path(directory)
        self.log = log or logging.getLogger("jupyterhub_sessions.profiles")
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._status: TypesStatus | None = None
        self._first_error: ProfileError | None = None

    def status(self) -> TypesStatus:
        """The current status; raises ProfileError only if no set ever loaded."""
        with self._lock:
            try:
                sig = _dir_signature(self.directory)
            except OSError:
                sig = None  # directory gone or unreadable: load_session_types says why
            if self._status is None or sig != self._signature:
                self._reload(sig)
            if not self._status.types and self._first_error is not None:
                raise self._first_error
            return self._status

    def types(self) -> dict[str, SessionType]:
        return self.status().types

    def _reload(self, sig: tuple | None) -> None:
        previous = self._status
        try:
            types, policy = load_platform(self.directory)
        except ProfileError as e:
            message = str(e)
            if previous is None or not previous.types:
                self._first_error = e
                self._status = TypesStatus({}, message, time.time())
            elif previous.error != message:
                self.log.error(
                    "Session types in %s not reloaded, still serving the last good set (%s): %s",
                    self.directory,
                    ", ".join(previous.types),
                    message,
                )
                self._status = TypesStatus(
                    previous.types, message, time.time(), previous.loaded_at, previous.policy
                )
            self._signature = sig
            return
        if previous is not None and previous.types and (previous.error or previous.types != types):
            self.log.info("Session types reloaded from %s: %s", self.directory, ", ".join(types))
        self._status = TypesStatus(types, None, None, time.time(), policy)
        self._signature = sig


_watchers: dict[str, SessionTypesWatcher] = {}
_watchers_lock = threading.Lock()


def session_types_watcher(directory: str | Path, log: logging.Logger | None = None) -> SessionTypesWatcher:
    """The one watcher of `directory` in this process (spawners, dashboard and service share it).

    `log`: where reload errors go (the hub's or the service's logger), so they land in that log.
    """
    key = str(Path(directory).resolve())  # one watcher whichever spelling the caller uses
    with _watchers_lock:
        watcher = _watchers.get(key)
        if watcher is None:
            watcher = _watchers[key] = SessionTypesWatcher(key, log)
        elif log is not None:
            watcher.log = log
        return watcher
