"""Image references users give, and the admin's policy that decides which ones a session may use.

A user may name their own container image for a session type when the
admin allows it (`image.custom` of the type, or `custom_images` in
`_policy.yaml` for every type). The hub never pulls, builds or inspects
an image: a reference is text that ends up in the pod spec (Kubernetes)
or only recorded (embedded backend). So the text is parsed with the
registry reference grammar (distribution/reference), strictly: no
whitespace, no shell or YAML metacharacters, bounded length, and the
policy is matched against the *normalized* name, the one the container
runtime will pull (`jupyter/base-notebook` is
`docker.io/jupyter/base-notebook:latest`), so a short form cannot dodge
a registry rule.

Every refusal names the rule that refused it (`ImageRefused.rule`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_REFERENCE = 256
MAX_NAME = 255  # distribution/reference NameTotalLengthMax
DEFAULT_REGISTRY = "docker.io"

_DOMAIN_COMPONENT = r"(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]{{1,5}})?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}"
REFERENCE_RE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
PATTERN_RE = re.compile(r"^[a-z0-9*][a-z0-9._:*-]*(?:/[a-z0-9._*-]+)*$")
TAG_PATTERN_RE = re.compile(r"^[A-Za-z0-9_.*-]{1,128}$")


class ImageError(ValueError):
    """An image reference is malformed or refused; `rule` names what refused it."""

    def __init__(self, rule: str, reason: str):
        self.rule = rule
        self.reason = reason
        super().__init__(f"{reason} (rule: {rule})")


class ImageRefused(ImageError):
    """A well-formed reference the policy does not allow."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed reference: `text` as given, `repository` normalized (registry/path)."""

    text: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def effective_tag(self) -> str | None:
        """The tag the runtime pulls: no tag and no digest means 'latest'."""
        if self.tag is None and self.digest is None:
            return "latest"
        return self.tag


def _looks_like_domain(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_image_reference(text: object) -> ImageRef:
    """Parse `text` as a container image reference; ImageError('grammar', why) if it is not one."""
    if not isinstance(text, str):
        raise ImageError("grammar", "an image reference must be a string")
    if len(text) > MAX_REFERENCE:
        raise ImageError("grammar", f"an image reference is at most {MAX_REFERENCE} characters")
    if text == "":
        raise ImageError("grammar", "the image reference is empty")
    bad = next((c for c in text if not (c.isascii() and c.isprintable()) or c.isspace()), None)
    if bad is not None:
        raise ImageError("grammar", f"character {bad!r} is not allowed in an image reference")
    m = REFERENCE_RE.match(text)
    if not m:
        raise ImageError(
            "grammar",
            f"{text!r} is not an image reference such as registry.example.org/team/image:1.0 "
            "(lowercase name, optional :tag, optional @sha256:digest)",
        )
    name = m.group("name")
    if len(name) > MAX_NAME:
        raise ImageError("grammar", f"the image name is longer than {MAX_NAME} characters")
    first, _, rest = name.partition("/")
    if rest and _looks_like_domain(first):
        port = first.rpartition(":")[2] if ":" in first else None
        if port is not None and not 0 < int(port) < 65536:
            raise ImageError("grammar", f"registry port {port} is not a port number")
        repository = name
    elif rest:
        repository = f"{DEFAULT_REGISTRY}/{name}"
    else:
        repository = f"{DEFAULT_REGISTRY}/library/{name}"
    return ImageRef(text=text, repository=repository, tag=m.group("tag"), digest=m.group("digest"))


def _glob_regex(pattern: str, segment_star: bool) -> re.Pattern:
    """`*` within one path segment (or anything, for tags); `/**` any number of further segments."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("/**", i) and segment_star:
            out.append(r"(?:/[^/]+)+")
            i += 3
        elif pattern[i] == "*":
            out.append("[^/]*" if segment_star else ".*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagRules(_Strict):
    """Which tags are accepted: `deny` wins; an empty `allow` accepts any other tag."""

    allow: list[str] = Field(default=[], max_length=100)
    deny: list[str] = Field(default=[], max_length=100)

    @field_validator("allow", "deny")
    @classmethod
    def _patterns(cls, v):
        for p in v:
            if not TAG_PATTERN_RE.match(p):
                raise ValueError(f"{p!r} is not a tag pattern (letters, digits, _ . - and *)")
        return v


class ImagePolicy(_Strict):
    """Which image references users may give.

    `allow`: repository patterns with the registry host first
    (`registry.example.org/team-*/**`): `*` matches within one path segment,
    a `/**` segment one or more segments. The reference is normalized first
    (`jupyter/x` is `docker.io/jupyter/x`). `require_digest`: only pinned
    references (`@sha256:...`). `tags`: rules for the tag (no tag and no
    digest is the tag `latest`). An empty `allow` allows nothing (a type
    can opt out of a global policy that way).
    """

    allow: list[str] = Field(max_length=100)
    require_digest: bool = False
    tags: TagRules = TagRules()

    @field_validator("allow")
    @classmethod
    def _repositories(cls, v):
        for p in v:
            if not PATTERN_RE.match(p) or len(p) > MAX_NAME:
                raise ValueError(f"{p!r} is not a repository pattern such as registry.example.org/team/*")
            first = p.split("/", 1)[0]
            if "/" not in p or not (_looks_like_domain(first) or first == "*"):
                raise ValueError(
                    f"{p!r} must start with a registry host (e.g. docker.io/{p} or registry.example.org/{p})"
                )
            if "**" in first or any("**" in seg and seg != "**" for seg in p.split("/")[1:]):
                raise ValueError(f"{p!r}: '**' is only allowed as a whole path segment ('/**')")
        return v

    def describe(self) -> str:
        """One line for people: what is accepted."""
        if not self.allow:
            return "no images of your own"
        parts = ["repositories " + ", ".join(self.allow)]
        if self.require_digest:
            parts.append("pinned by digest (@sha256:…)")
        if self.tags.allow:
            parts.append("tags " + ", ".join(self.tags.allow))
        if self.tags.deny:
            parts.append("any tag except " + ", ".join(self.tags.deny))
        return "; ".join(parts)

    def check(self, text: object, where: str) -> ImageRef:
        """The parsed reference if this policy allows it; else ImageError naming `where` and the rule."""
        try:
            ref = parse_image_reference(text)
        except ImageError as e:
            raise ImageError(f"{where}: reference grammar", e.reason) from None
        if not self.allow:
            raise ImageRefused(f"{where}.allow", "images of your own are not allowed here")
        if not any(_glob_regex(p, True).match(ref.repository) for p in self.allow):
            raise ImageRefused(
                f"{where}.allow",
                f"repository {ref.repository} is not one of the allowed: {', '.join(self.allow)}",
            )
        if self.require_digest and ref.digest is None:
            raise ImageRefused(f"{where}.require_digest", "the image must be pinned by digest (@sha256:…)")
        tag = ref.effective_tag
        if tag is not None:
            implicit = " (no tag means 'latest')" if ref.tag is None else ""
            denied = next((p for p in self.tags.deny if _glob_regex(p, False).match(tag)), None)
            if denied is not None:
                raise ImageRefused(f"{where}.tags.deny", f"tag {tag!r}{implicit} is refused by {denied!r}")
            if self.tags.allow and not any(_glob_regex(p, False).match(tag) for p in self.tags.allow):
                raise ImageRefused(
                    f"{where}.tags.allow",
                    f"tag {tag!r}{implicit} is not one of the allowed: {', '.join(self.tags.allow)}",
                )
        return ref
