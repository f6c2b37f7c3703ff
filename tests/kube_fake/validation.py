"""What the fake API server refuses, the way a real one would.

Every created or replaced object is checked against the real Kubernetes JSON
schemas (kubernetes-validate, strict: unknown fields are errors), then against
the name, label and resource rules the real apiserver enforces in Go code.
Failures become `Invalid` (422) with causes naming the field.
"""

from __future__ import annotations

import functools
import json
import re
from decimal import Decimal, InvalidOperation
from importlib.resources import files

import jsonschema
import kubernetes_validate
import referencing
from jsonschema.exceptions import best_match

from .errors import ApiError

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage", "pods"}
HUGEPAGES = "hugepages-"
MAX_ANNOTATIONS_BYTES = 256 * 1024

_SUFFIX = {
    "": 1,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def invalid(kind: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """A 422 Invalid Status with one cause per (field, message)."""
    msg = "; ".join(f"{f}: {m}" for f, m in causes)
    return ApiError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {msg}',
        details={
            "name": name,
            "kind": kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": f"{f}: {m}", "field": f} for f, m in causes
            ],
        },
    )


def parse_quantity(value) -> Decimal:
    """A Kubernetes resource quantity ("500m", "2Gi", 1.5) as a Decimal."""
    if isinstance(value, bool):
        raise ValueError(f"quantities must match the regular expression: {value!r}")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    m = QUANTITY.match(str(value))
    if not m:
        raise ValueError(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    number, suffix = m.groups()
    try:
        base = Decimal(number)
    except InvalidOperation:
        raise ValueError(f"unable to parse quantity's number {number!r}") from None
    if suffix in _SUFFIX:
        return base * _SUFFIX[suffix]
    if suffix[:1] in "eE" and re.match(r"^[eE][-+]?[0-9]+$", suffix):
        return base * (Decimal(10) ** int(suffix[1:]))
    raise ValueError(f"unable to parse quantity's suffix {suffix!r}")


@functools.cache
def _registry_and_dir():
    version = kubernetes_validate.utils.latest_version()
    schema_dir = files("kubernetes_validate") / "kubernetes-json-schema" / f"v{version}-local-strict"
    defs = json.loads((schema_dir / "_definitions.json").read_text())
    registry = referencing.Registry().with_resource(defs["$id"], referencing.Resource.from_contents(defs))
    return registry, schema_dir


@functools.cache
def _validator(kind: str):
    registry, schema_dir = _registry_and_dir()
    schema = json.loads((schema_dir / f"{kind.lower()}-v1.json").read_text())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(object)"


def validate_schema(kind: str, obj: dict) -> None:
    """Raise 422 if `obj` does not match the real schema of `kind` (core/v1)."""
    err = best_match(_validator(kind).iter_errors(obj))
    if err is not None:
        raise invalid(
            kind, obj.get("metadata", {}).get("name", ""), [(_path(err.absolute_path), err.message)]
        )


def check_name(value: str, rule: str) -> str | None:
    """The apiserver's message when `value` breaks `rule`, else None."""
    if rule == "label":
        if len(value) > 63:
            return "must be no more than 63 characters"
        if not DNS1123_LABEL.match(value):
            return (
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character"
            )
    elif rule == "dns1035":
        if len(value) > 63:
            return "must be no more than 63 characters"
        if not DNS1035_LABEL.match(value):
            return (
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character"
            )
    else:
        if len(value) > 253:
            return "must be no more than 253 characters"
        if not DNS1123_SUBDOMAIN.match(value):
            return (
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                "'-' or '.', and must start and end with an alphanumeric character"
            )
    return None


def check_qualified_name(key: str) -> str | None:
    """Label/annotation key rule: optional DNS subdomain prefix, '/', name ≤ 63."""
    prefix, _, name = key.rpartition("/")
    if "/" in prefix:
        return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'"
    if key.count("/") == 1 and (not prefix or check_name(prefix, "subdomain")):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
            "end with an alphanumeric character (at most 63 characters)"
        )
    return None


def check_metadata(meta: dict) -> list[tuple[str, str]]:
    causes = []
    labels = meta.get("labels") or {}
    for k, v in labels.items():
        why = check_qualified_name(k)
        if why:
            causes.append((f"metadata.labels: Invalid value: {k!r}", why))
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
            causes.append(
                (
                    f"metadata.labels: Invalid value: {v!r}",
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character (at most 63 characters)",
                )
            )
    annotations = meta.get("annotations") or {}
    total = 0
    for k, v in annotations.items():
        why = check_qualified_name(k.lower())
        if why:
            causes.append((f"metadata.annotations: Invalid value: {k!r}", why))
        total += len(k) + len(v or "")
    if total > MAX_ANNOTATIONS_BYTES:
        causes.append(("metadata.annotations", f"Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes"))
    return causes


def _check_resources(where: str, res: dict) -> list[tuple[str, str]]:
    causes = []
    limits = res.get("limits") or {}
    requests = res.get("requests") or {}
    parsed: dict[str, dict[str, Decimal]] = {"limits": {}, "requests": {}}
    for section, values in (("limits", limits), ("requests", requests)):
        for name, q in values.items():
            field = f"{where}.resources.{section}[{name}]"
            if name not in STANDARD_RESOURCES and not name.startswith(HUGEPAGES) and "/" not in name:
                causes.append((field, "must be a standard resource type or fully qualified"))
                continue
            try:
                parsed[section][name] = v = parse_quantity(q)
            except ValueError as e:
                causes.append((field, str(e)))
                continue
            if v < 0:
                causes.append((field, "must be greater than or equal to 0"))
            if "/" in name and v != v.to_integral_value():
                causes.append((field, "must be an integer"))
    for name, req in parsed["requests"].items():
        lim = parsed["limits"].get(name)
        if "/" in name and name not in parsed["limits"]:
            causes.append(
                (
                    f"{where}.resources.limits",
                    f"Required value: Limit must be set for non overcommitable resources ({name})",
                )
            )
        elif "/" in name and lim is not None and lim != req:
            causes.append(
                (f"{where}.resources.requests[{name}]", "must be equal to limit: non overcommitable resource")
            )
        elif lim is not None and req > lim:
            causes.append(
                (
                    f"{where}.resources.requests[{name}]",
                    f"must be less than or equal to {name} limit of {limits[name]}",
                )
            )
    return causes


def check_pod(pod: dict) -> list[tuple[str, str]]:
    causes = []
    spec = pod.get("spec") or {}
    volumes = spec.get("volumes") or []
    vol_names = set()
    for i, v in enumerate(volumes):
        name = v.get("name", "")
        why = check_name(name, "label")
        if why:
            causes.append((f"spec.volumes[{i}].name", why))
        if name in vol_names:
            causes.append((f"spec.volumes[{i}].name", f"Duplicate value: {name!r}"))
        vol_names.add(name)
        sources = [k for k in v if k != "name"]
        if len(sources) != 1:
            causes.append((f"spec.volumes[{i}]", "must specify exactly 1 volume type"))
        claim = v.get("persistentVolumeClaim")
        if claim is not None and not claim.get("claimName"):
            causes.append((f"spec.volumes[{i}].persistentVolumeClaim.claimName", "Required value"))
    containers = spec.get("containers") or []
    if not containers:
        causes.append(("spec.containers", "Required value"))
    seen = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            where = f"spec.{group}[{i}]"
            name = c.get("name", "")
            why = check_name(name, "label")
            if why:
                causes.append((f"{where}.name", why))
            if name in seen:
                causes.append((f"{where}.name", f"Duplicate value: {name!r}"))
            seen.add(name)
            if group == "containers" and not c.get("image"):
                causes.append((f"{where}.image", "Required value"))
            for j, e in enumerate(c.get("env") or []):
                if not ENV_NAME.match(e.get("name", "")):
                    causes.append(
                        (
                            f"{where}.env[{j}].name",
                            "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
                        )
                    )
            mount_paths = set()
            for j, m in enumerate(c.get("volumeMounts") or []):
                if m.get("name") not in vol_names:
                    causes.append((f"{where}.volumeMounts[{j}].name", f"Not found: {m.get('name')!r}"))
                if not m.get("mountPath"):
                    causes.append((f"{where}.volumeMounts[{j}].mountPath", "Required value"))
                elif m["mountPath"] in mount_paths:
                    causes.append((f"{where}.volumeMounts[{j}].mountPath", "must be unique"))
                mount_paths.add(m.get("mountPath"))
            causes.extend(_check_resources(where, c.get("resources") or {}))
    for k, v in (spec.get("nodeSelector") or {}).items():
        why = check_qualified_name(k)
        if why or not LABEL_VALUE.match(str(v)) or len(str(v)) > 63:
            causes.append((f"spec.nodeSelector[{k}]", why or "invalid label value"))
    for i, t in enumerate(spec.get("tolerations") or []):
        op = t.get("operator", "Equal")
        if op not in ("Equal", "Exists"):
            causes.append((f"spec.tolerations[{i}].operator", f"Unsupported value: {op!r}"))
        if op == "Exists" and t.get("value"):
            causes.append(
                (f"spec.tolerations[{i}].operator", "value must be empty when `operator` is 'Exists'")
            )
        if t.get("effect") not in (None, "", "NoSchedule", "PreferNoSchedule", "NoExecute"):
            causes.append((f"spec.tolerations[{i}].effect", f"Unsupported value: {t.get('effect')!r}"))
    return causes


def check_pvc(pvc: dict) -> list[tuple[str, str]]:
    causes = []
    spec = pvc.get("spec") or {}
    modes = spec.get("accessModes") or []
    if not modes:
        causes.append(("spec.accessModes", "Required value: at least 1 access mode is required"))
    for m in modes:
        if m not in ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"):
            causes.append(("spec.accessModes", f"Unsupported value: {m!r}"))
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is None:
        causes.append(("spec.resources[storage]", "Required value"))
    else:
        try:
            if parse_quantity(storage) <= 0:
                causes.append(("spec.resources[storage]", "must be greater than zero"))
        except ValueError as e:
            causes.append(("spec.resources[storage]", str(e)))
    sc = spec.get("storageClassName")
    if sc and check_name(sc, "subdomain"):
        causes.append(("spec.storageClassName", check_name(sc, "subdomain")))
    return causes


SEMANTIC_CHECKS = {"Pod": check_pod, "PersistentVolumeClaim": check_pvc}


def validate_object(kind: str, obj: dict, name_rule: str) -> None:
    """Everything a create/replace must pass; raises ApiError 422."""
    name = (obj.get("metadata") or {}).get("name", "")
    validate_schema(kind, obj)
    causes = []
    why = check_name(name, name_rule)
    if why:
        causes.append(("metadata.name", f"Invalid value: {name!r}: {why}"))
    causes.extend(check_metadata(obj.get("metadata") or {}))
    check = SEMANTIC_CHECKS.get(kind)
    if check:
        causes.extend(check(obj))
    if causes:
        raise invalid(kind, name, causes)
