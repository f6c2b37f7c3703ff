"""Reading a session pod's state the way an admin reads `kubectl describe pod`.

Pure functions over the pod (and its Events) as the API returns them (camelCase
dicts from KubeSpawner's reflectors), with an explicit clock. They decide when
a start cannot succeed any more (so the user gets the cluster's reason now,
not a bare timeout later), whether a running session has died, and how to
explain a drive held by a pod that does not go away.
"""

from __future__ import annotations

import datetime
import re

# container states that waiting longer will not fix
HOPELESS_WAITING = {
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
PULL_WAITING = {"ErrImagePull", "ImagePullBackOff"}
# a registry's answers that retrying will not change (others: rate limits, timeouts, 5xx)
PERMANENT_PULL = re.compile(
    r"not found|manifest unknown|unauthorized|authentication required|denied|invalid reference format",
    re.IGNORECASE,
)


def parse_time(stamp: str | None) -> datetime.datetime | None:
    if not stamp:
        return None
    try:
        return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def _statuses(pod: dict) -> list[dict]:
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])


def _image_of(pod: dict, name: str) -> str:
    spec = pod.get("spec") or {}
    for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or []):
        if c.get("name") == name:
            return c.get("image", "")
    return ""


def last_pull_failure(events: list[dict]) -> str:
    """The registry's answer from the newest 'Failed to pull image' event, if any."""
    for ev in reversed(events):
        msg = ev.get("message") or ""
        if ev.get("reason") == "Failed" and msg.startswith("Failed to pull image"):
            return msg
    return ""


def last_warning(events: list[dict]) -> str:
    for ev in reversed(events):
        if ev.get("type") == "Warning" and ev.get("message"):
            return ev["message"]
    return ""


def crash_of(pod: dict) -> tuple[int, str] | None:
    """(exit code, reason) if a container stopped or is restarting after a crash."""
    for cs in _statuses(pod):
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term is None and (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff":
            term = (cs.get("lastState") or {}).get("terminated") or {"exitCode": 1, "reason": "Error"}
        if term is not None:
            return int(term.get("exitCode", 1)), term.get("reason") or "Error"
    return None


def crash_message(code: int, reason: str) -> str:
    hint = (
        "It ran out of memory: start it again with more memory."
        if reason == "OOMKilled" or code == 137
        else "Ask an administrator: the pod's log says why."
    )
    return f"The session's server stopped with exit code {code} ({reason}). {hint}"


def start_trouble(pod: dict, events: list[dict]) -> str | None:
    """Why a starting session pod will not come up, or None while it still may."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "The cluster is removing the session's pod (it was evicted, or its node went away)."
    if status.get("phase") in ("Failed", "Succeeded"):
        why = ": ".join(x for x in (status.get("reason"), status.get("message")) if x)
        crashed = crash_of(pod)
        if crashed:
            return crash_message(*crashed)
        return f"The session's pod stopped ({why or status['phase']})."
    for cs in _statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        image = cs.get("image") or _image_of(pod, cs.get("name", ""))
        if reason in HOPELESS_WAITING:
            return f"The session's container could not be created ({reason}: {waiting.get('message', '')})."
        if reason in PULL_WAITING:
            answer = last_pull_failure(events) or waiting.get("message", "")
            if PERMANENT_PULL.search(answer):
                return (
                    f"The session image {image} could not be pulled ({reason}): {answer}. "
                    "Ask an administrator to check the session type's image."
                )
    crashed = crash_of(pod)
    if crashed:
        return crash_message(*crashed)
    return None


def gave_up_message(seconds: float, events: list[dict]) -> str:
    said = last_warning(events)
    text = f"The session did not start within {int(seconds)} seconds."
    if said:
        text += f" The cluster said: {said}"
        if "nodes are available" in said:
            text += " Pick fewer resources, or try again later."
    return text


def terminating_since(pod: dict) -> datetime.datetime | None:
    """When the pod was asked to stop (deletionTimestamp minus its grace period)."""
    meta = pod.get("metadata") or {}
    due = parse_time(meta.get("deletionTimestamp"))
    if due is None:
        return None
    return due - datetime.timedelta(seconds=int(meta.get("deletionGracePeriodSeconds") or 0))


def overdue_seconds(pod: dict, now: datetime.datetime) -> float:
    """How long past its grace period a terminating pod still exists (<= 0: not overdue)."""
    due = parse_time((pod.get("metadata") or {}).get("deletionTimestamp"))
    return (now - due).total_seconds() if due else 0.0


def stuck_message(drive: str, pod: dict, now: datetime.datetime) -> str:
    """Explain a drive held by a pod that should have stopped and has not."""
    meta = pod["metadata"]
    name, ns = meta["name"], meta.get("namespace", "default")
    node = (pod.get("spec") or {}).get("nodeName") or "(no node)"
    since = terminating_since(pod) or now
    minutes = max(1, int((now - since).total_seconds() // 60))
    return (
        f"Drive '{drive}' is still attached to pod {name}, which has been stopping since "
        f"{since:%Y-%m-%d %H:%M} UTC ({minutes} min) and has not stopped: its node {node} is probably "
        "unreachable. The drive cannot be used until that pod is gone. An administrator can check the "
        f"node (kubectl describe node {node}) and, once sure it is down, remove the pod with "
        f"kubectl delete pod {name} -n {ns} --grace-period=0 --force"
    )
