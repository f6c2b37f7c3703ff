"""Label and field selectors, parsed the way the apiserver parses them."""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import bad_request

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")

Predicate = Callable[[dict], bool]


def _split_top(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def parse_label_selector(selector: str | None) -> Predicate:
    """A predicate over labels dicts; 400 BadRequest on syntax errors."""
    reqs: list[Predicate] = []
    for part in _split_top(selector or ""):
        m = _EQ_RE.match(part)
        if m:
            key, op, value = m.groups()
            if op == "!=":
                reqs.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                reqs.append(lambda labels, k=key, v=value: labels.get(k) == v)
            continue
        m = _SET_RE.match(part)
        if m:
            neg, key, op, values = m.groups()
            if op:
                if neg:
                    raise bad_request(f"unable to parse requirement: {part!r}")
                vals = {v.strip() for v in values.split(",") if v.strip()}
                if op == "in":
                    reqs.append(lambda labels, k=key, vs=vals: labels.get(k) in vs)
                else:
                    reqs.append(lambda labels, k=key, vs=vals: labels.get(k) not in vs)
            elif neg:
                reqs.append(lambda labels, k=key: k not in labels)
            else:
                reqs.append(lambda labels, k=key: k in labels)
            continue
        raise bad_request(f"unable to parse requirement: found {part.strip()!r}, expected a requirement")
    return lambda labels: all(r(labels) for r in reqs)


def _get_field(obj: dict, path: str) -> str:
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    if cur is None:
        return ""
    if isinstance(cur, dict):  # e.g. "source" on events is an EventSource
        return cur.get("component", "")
    return str(cur)


def parse_field_selector(selector: str | None, supported: set[str], resource: str) -> Predicate:
    """A predicate over objects; only fields the real apiserver indexes are allowed."""
    reqs: list[Predicate] = []
    for part in _split_top(selector or ""):
        m = _EQ_RE.match(part)
        if not m:
            raise bad_request(f"invalid selector: {part!r}; can't understand {part.strip()!r}")
        key, op, value = m.groups()
        if key not in supported and key not in ("metadata.name", "metadata.namespace"):
            raise bad_request(f"field label not supported: {key}")
        if op == "!=":
            reqs.append(lambda o, k=key, v=value: _get_field(o, k) != v)
        else:
            reqs.append(lambda o, k=key, v=value: _get_field(o, k) == v)
    return lambda obj: all(r(obj) for r in reqs)
