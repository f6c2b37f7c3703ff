"""What a user may write in a session type of their own, and how it becomes a SessionType.

A user type is hostile input: every field is bounded (lengths, counts,
ranges), unknown fields are refused, and fields that could escalate a
session beyond what the admin allows (privileged containers, host paths,
host network, pod or container settings, service accounts, environment,
node selectors outside the admin's placements) are refused by name with
a reason. `to_session_type` then builds a `profiles.SessionType` (the very
model admin types are validated by) within the admin's `user_types`
policy: the image passes the image policy, resources and timeouts stay
within the admin's ranges, the lifetime is the admin's. Every error names
the field and, where the admin's policy refused it, the rule.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..images import ImageError
from ..profiles import (
    NEVER,
    POLICY_FILE,
    Access,
    GpuChoice,
    Interface,
    MemoryChoice,
    NumberChoice,
    PlatformPolicy,
    Resources,
    SessionType,
    Timeouts,
    memory_bytes,
)

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 12
ID_RE = re.compile(rf"^[a-z0-9]{{{ID_LENGTH}}}$")
SLUG_PREFIX = "u."
APP_NAME = "app"  # a user web app is served at /app/ in the session
MAX_GROUP_NAME = 255
MAX_COMMAND_ITEMS = 64
MAX_COMMAND_ITEM = 1000
# placeholders jupyter-server-proxy fills in a launcher command; anything else in braces is refused
COMMAND_PLACEHOLDERS = ("{port}", "{base_url}")
URL_PATH_RE = re.compile(r"^/[A-Za-z0-9._~/%+=&?-]{0,199}$")

# fields users may not set, and why (any other unknown field is refused too, as unknown)
ESCALATING = {
    "privileged": "privileged containers are for admins only",
    "allow_privilege_escalation": "privilege escalation is for admins only",
    "security_context": "security contexts are for admins only",
    "capabilities": "container capabilities are for admins only",
    "extra_pod_config": "extra pod settings are for admins only",
    "extra_container_config": "extra container settings are for admins only",
    "extra_containers": "extra containers are for admins only",
    "init_containers": "init containers are for admins only",
    "volumes": "volumes and host paths are for admins only (your session mounts your drive)",
    "volume_mounts": "volumes and host paths are for admins only (your session mounts your drive)",
    "host_path": "host paths are for admins only (your session mounts your drive)",
    "host_paths": "host paths are for admins only (your session mounts your drive)",
    "host_network": "the host network is for admins only",
    "host_pid": "the host's processes are for admins only",
    "host_ipc": "the host's IPC is for admins only",
    "service_account": "service accounts are for admins only",
    "service_account_name": "service accounts are for admins only",
    "automount_service_account_token": "service account tokens are for admins only",
    "node_selector": "pick one of the admin's placements instead (field 'placement')",
    "node_name": "pick one of the admin's placements instead (field 'placement')",
    "affinity": "pick one of the admin's placements instead (field 'placement')",
    "tolerations": "pick one of the admin's placements instead (field 'placement')",
    "priority_class_name": "priority classes are for admins only",
    "environment": "environment variables could override the platform's; they are for admins only",
    "env": "environment variables could override the platform's; they are for admins only",
    "image_pull_secrets": "pull secrets are for admins only",
    "uid": "user ids are for admins only",
    "gid": "group ids are for admins only",
    "lifetime": "the maximum age of personal types is the admin's (user_types.lifetime)",
    "access": "share with your groups instead (field 'share_with_groups')",
    "default": "only admins choose the default session type",
}


class UserTypeError(ValueError):
    """A user type is invalid or outside the admin's policy; `field` names the offending field."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"field '{field}': {reason}")


class _Strict(BaseModel):
    # strict: JSON types as written ("yes" is not a bool, "2" not a number); the form converts first
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_strip_whitespace=True)


class UserInterface(_Strict):
    """JupyterLab, or a web app the session starts (`command`) and opens at /app/."""

    kind: Literal["lab", "webapp"] = "lab"
    command: list[str] = Field(default=[], max_length=MAX_COMMAND_ITEMS)
    port: int | None = Field(default=None, ge=1024, le=65535)
    url_path: str = Field(default="/", max_length=200)

    @field_validator("command")
    @classmethod
    def _command(cls, v):
        for item in v:
            if not item or len(item) > MAX_COMMAND_ITEM:
                raise ValueError(f"each argument is 1 to {MAX_COMMAND_ITEM} characters")
            if not item.isprintable():
                raise ValueError("arguments must be printable text (no newlines or control characters)")
            rest = item
            for placeholder in COMMAND_PLACEHOLDERS:
                rest = rest.replace(placeholder, "")
            if "{" in rest or "}" in rest:
                raise ValueError("braces are only allowed as {port} or {base_url}")
        return v

    @field_validator("url_path")
    @classmethod
    def _url_path(cls, v):
        if not URL_PATH_RE.match(v) or ".." in v:
            raise ValueError("must be a path such as / or /app/ (letters, digits and /._~%+=&?-)")
        return v

    @model_validator(mode="after")
    def _check(self):
        if self.kind == "webapp":
            if not self.command:
                raise ValueError("a web app needs the command that starts it")
            if self.port is None and not any("{port}" in c for c in self.command):
                raise ValueError(
                    "a web app listens on {port} (in its command) or on a fixed port (field 'port')"
                )
        elif self.command or self.port is not None:
            raise ValueError("command and port are for web apps (kind: webapp)")
        return self


class UserResources(_Strict):
    """Default resources of the type's sessions (within the admin's ranges; empty = the admin's defaults)."""

    cpu: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    memory: str | None = Field(default=None, max_length=20)
    gpu: int | None = Field(default=None, ge=0, le=64)

    @field_validator("memory")
    @classmethod
    def _memory(cls, v):
        if v is not None:
            memory_bytes(v)
        return v


class UserTypeSpec(_Strict):
    """The fields of a personal session type (all a user can set)."""

    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=2000)
    image: str = Field(min_length=1, max_length=256)
    interface: UserInterface = UserInterface()
    resources: UserResources = UserResources()
    timeout: int | None = Field(default=None, description="default timeout, seconds (-1 = never)")
    timeouts: list[int] | None = Field(default=None, max_length=20, description="offered timeouts")
    placement: str | None = Field(default=None, max_length=31)
    collaborative: bool = False
    share_with_groups: list[str] = Field(default=[], max_length=20)

    @field_validator("name", "description")
    @classmethod
    def _text(cls, v):
        if any(not (c.isprintable() or c in "\n\t") for c in v):
            raise ValueError("must be printable text")
        return v

    @field_validator("share_with_groups")
    @classmethod
    def _groups(cls, v):
        for g in v:
            if not g or len(g) > MAX_GROUP_NAME or not g.isprintable():
                raise ValueError(f"group names are 1 to {MAX_GROUP_NAME} printable characters")
        if len(set(v)) != len(v):
            raise ValueError("a group is listed twice")
        return v


def _first_error(e: ValidationError) -> UserTypeError:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(type)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        name = str(err["loc"][-1])[:60]
        why = ESCALATING.get(name) or ESCALATING.get(re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower())
        msg = f"not offered in personal session types: {why}" if why else "unknown field"
    return UserTypeError(loc, msg)


def parse_spec(raw: object) -> UserTypeSpec:
    """A spec from JSON (the API) or form data; UserTypeError naming the field otherwise."""
    if not isinstance(raw, dict):
        raise UserTypeError("(type)", "must be a JSON object")
    try:
        return UserTypeSpec.model_validate(raw)
    except ValidationError as e:
        raise _first_error(e) from None


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def slug_of(type_id: str) -> str:
    return SLUG_PREFIX + type_id


@dataclass
class UserTypeRecord:
    """A stored user type: who wrote it, which edit this is, and what it says."""

    id: str
    owner: str
    spec: dict
    revision: int = 1
    created_at: str = ""
    updated_at: str = ""
    error: str | None = field(default=None, compare=False)  # the stored document does not load
    owner_key: str = field(default="", compare=False)  # the owner's storage key (known for broken ones too)

    def __post_init__(self):
        if not self.owner_key and isinstance(self.owner, str) and self.owner:
            from ..drives import user_slug

            self.owner_key = user_slug(self.owner)

    @property
    def slug(self) -> str:
        return slug_of(self.id)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "owner": self.owner,
            "revision": self.revision,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "spec": self.spec,
        }

    @classmethod
    def from_json(cls, data: object) -> UserTypeRecord:
        """A stored document; ValueError if it is not one (the store marks the record broken)."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            rec = cls(
                id=data["id"],
                owner=data["owner"],
                spec=data["spec"],
                revision=data["revision"],
                created_at=data.get("created_at", ""),
                updated_at=data.get("updated_at", ""),
            )
        except KeyError as e:
            raise ValueError(f"missing {e.args[0]!r}") from None
        if not isinstance(rec.id, str) or not ID_RE.match(rec.id):
            raise ValueError("bad id")
        if not isinstance(rec.owner, str) or not rec.owner:
            raise ValueError("bad owner")
        if not isinstance(rec.spec, dict):
            raise ValueError("spec is not an object")
        if isinstance(rec.revision, bool) or not isinstance(rec.revision, int) or rec.revision < 1:
            raise ValueError("bad revision")
        return rec


def _check_number(choice: NumberChoice, value: float, field: str) -> None:
    if not choice.allows(value):
        raise UserTypeError(field, f"must be {choice.describe()} (the admin's limit, user_types.{field})")


def _resources(spec: UserTypeSpec, admin: Resources) -> Resources:
    """The admin's ranges with the user's defaults: sessions pick within the admin's ceilings."""
    res = spec.resources
    cpu = admin.cpu
    if res.cpu is not None:
        _check_number(admin.cpu, res.cpu, "resources.cpu")
        cpu = admin.cpu.model_copy(update={"default": float(res.cpu)})
    memory = admin.memory
    if res.memory is not None:
        if not admin.memory.allows(res.memory):
            raise UserTypeError(
                "resources.memory",
                f"must be {admin.memory.describe()} (the admin's limit, user_types.resources.memory)",
            )
        memory = admin.memory.model_copy(update={"default": res.memory})
    gpu = admin.gpu
    if res.gpu is not None:
        _check_number(admin.gpu, res.gpu, "resources.gpu")
        gpu = admin.gpu.model_copy(update={"default": float(res.gpu)})
    # rebuilt through the validators: a default outside its own choices cannot slip through
    return Resources(
        cpu=NumberChoice(**cpu.model_dump()),
        memory=MemoryChoice(**memory.model_dump()),
        gpu=GpuChoice(**gpu.model_dump()),
    )


def _timeouts(spec: UserTypeSpec, admin: Timeouts) -> Timeouts:
    offered = list(spec.timeouts) if spec.timeouts is not None else admin.all_choices
    for t in offered:
        if not admin.allows(t):
            allowed = ", ".join("never (-1)" if a == NEVER else str(a) for a in admin.all_choices)
            raise UserTypeError("timeouts", f"{t} is not one of the admin's timeouts: {allowed} seconds")
    if not offered:
        raise UserTypeError("timeouts", "offer at least one timeout")
    default = spec.timeout if spec.timeout is not None else admin.default
    if default not in offered:
        if spec.timeout is None and offered:
            default = offered[0]
        else:
            raise UserTypeError("timeout", f"{default} is not one of the offered timeouts {offered}")
    return Timeouts(
        default=default,
        choices=[t for t in offered if t != NEVER] or [t for t in offered],
        allow_never=NEVER in offered,
    )


def to_session_type(record: UserTypeRecord, policy: PlatformPolicy) -> SessionType:
    """The SessionType a stored user type stands for today (under today's policy); UserTypeError if none."""
    ut = policy.user_types
    if ut is None:
        raise UserTypeError("(type)", f"personal session types are switched off on this hub ({POLICY_FILE})")
    spec = parse_spec(record.spec)
    images = policy.user_images
    try:
        images.check(spec.image, f"{POLICY_FILE}: user_types.images")
    except ImageError as e:
        raise UserTypeError("image", str(e)) from None
    if spec.interface.kind not in ut.interfaces:
        raise UserTypeError("interface.kind", f"must be one of {', '.join(ut.interfaces)} on this hub")
    if spec.collaborative and not ut.collaborative:
        raise UserTypeError(
            "collaborative", "collaborative mode is not offered in personal types on this hub"
        )
    if spec.share_with_groups and not ut.sharing:
        raise UserTypeError("share_with_groups", "sharing personal types is switched off on this hub")
    placement = None
    if spec.placement is not None:
        placement = next((p for p in ut.placements if p.name == spec.placement), None)
        if placement is None:
            names = ", ".join(p.name for p in ut.placements) or "none"
            raise UserTypeError("placement", f"must be one of the admin's placements: {names}")
    if spec.interface.kind == "webapp":
        interface = Interface(
            kind="webapp",
            name=APP_NAME,
            command=list(spec.interface.command),
            port=spec.interface.port,
            title=spec.name,
            url_path=spec.interface.url_path,
        )
    else:
        interface = Interface()
    data = {
        "slug": record.slug,
        "display_name": spec.name,
        "description": spec.description,
        "image": {"default": spec.image},
        "interface": interface,
        "resources": _resources(spec, ut.resources),
        "node_selector": dict(placement.node_selector) if placement else {},
        "tolerations": list(placement.tolerations) if placement else [],
        "timeouts": _timeouts(spec, ut.timeouts),
        "lifetime": ut.lifetime,
        "collaborative": spec.collaborative,
        "access": Access(users=[record.owner], groups=list(spec.share_with_groups)),
    }
    try:
        st = SessionType(**data, source=f"personal type {record.id} of {record.owner}")
    except ValidationError as e:
        raise _first_error(e) from None
    return st.model_copy(update={"author": record.owner, "revision": record.revision})
