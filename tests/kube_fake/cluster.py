"""What the fake cluster is made of: nodes, and the scheduler's arithmetic.

`small_cluster()` is what tests get by default: three nodes like a small real
cluster (two CPU nodes, one tainted GPU node), only the labels Kubernetes and
the NVIDIA device plugin set, allocatable CPU, memory, ephemeral storage and
GPUs that fill up. `kind_cluster()` is one roomy node with every image already
present, for tests whose point is not scheduling.

The messages are the real scheduler's (kube-scheduler 1.33): reasons per node
from the first filter plugin that rejects it, counted and sorted, then the
preemption summary, e.g.
"0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes
are available: 3 No preemption victims found for incoming pod..".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .validation import parse_quantity

ZONE = "topology.kubernetes.io/zone"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


@dataclass
class NodeSpec:
    """One node: what the Node object carries, plus the images already on its disk."""

    name: str
    allocatable: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict] = field(default_factory=list)
    images: set[str] = field(default_factory=set)
    zone: str = "zone-a"

    def manifest(self) -> dict:
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            ZONE: self.zone,
            "topology.kubernetes.io/region": "region-1",
            **self.labels,
        }
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {"taints": [dict(t) for t in self.taints]} if self.taints else {},
        }


def _cpu_node(name: str, zone: str = "zone-a") -> NodeSpec:
    return NodeSpec(
        name,
        {"cpu": "15800m", "memory": "60Gi", "ephemeral-storage": "150Gi", "pods": "110"},
        labels={"node.kubernetes.io/instance-type": "standard-16"},
        zone=zone,
    )


def small_cluster() -> list[NodeSpec]:
    """Two 16-CPU nodes and one node with two GPUs, tainted so only GPU pods land there."""
    gpu = NodeSpec(
        "gpu-1",
        {
            "cpu": "15800m",
            "memory": "60Gi",
            "ephemeral-storage": "150Gi",
            "pods": "110",
            "nvidia.com/gpu": "2",
        },
        labels={"node.kubernetes.io/instance-type": "gpu-16", "nvidia.com/gpu.present": "true"},
        taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
    )
    return [_cpu_node("cpu-1"), _cpu_node("cpu-2"), gpu]


def kind_cluster() -> list[NodeSpec]:
    """One big node with everything pulled: for tests where scheduling is not the point."""
    return [
        NodeSpec(
            "kind-control-plane",
            {
                "cpu": "64",
                "memory": "256Gi",
                "ephemeral-storage": "2Ti",
                "pods": "250",
                "nvidia.com/gpu": "8",
            },
            images={"*"},
        )
    ]


# ---- pod arithmetic ------------------------------------------------------------


def pod_requests(pod: dict) -> dict[str, object]:
    """What the scheduler counts: per resource, the sum over containers (max with init
    containers); a limit without a request counts as the request (API defaulting)."""

    def of(c: dict) -> dict:
        res = c.get("resources") or {}
        out = {k: parse_quantity(v) for k, v in (res.get("limits") or {}).items()}
        out.update({k: parse_quantity(v) for k, v in (res.get("requests") or {}).items()})
        return out

    total: Counter = Counter()
    for c in pod["spec"].get("containers", []):
        total.update(of(c))
    for c in pod["spec"].get("initContainers", []) or []:
        for k, v in of(c).items():
            total[k] = max(total[k], v)
    total["pods"] = 1
    return dict(total)


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    for t in tolerations or []:
        effect = t.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t.get("key") == taint["key"]:
                return True
        elif t.get("key") == taint["key"] and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def node_reasons(
    node: dict, pod: dict, requests: dict, used: dict, zone_needed: str | None
) -> tuple[list[str], bool]:
    """Why `pod` does not fit `node`: (reasons, whether preemption could help)."""
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return ["node(s) were unschedulable"], False
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(
            pod["spec"].get("tolerations"), taint
        ):
            return [f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"], False
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod["spec"].get("nodeSelector") or {}).items()):
        return ["node(s) didn't match Pod's node affinity/selector"], False
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    short = []
    for res, amount in sorted(requests.items()):
        if not amount:
            continue
        have = parse_quantity(allocatable.get(res, "0"))
        if used.get(res, 0) + amount > have:
            short.append("Too many pods" if res == "pods" else f"Insufficient {res}")
    if short:
        return short, True
    if zone_needed and labels.get(ZONE) != zone_needed:
        return ["node(s) had volume node affinity conflict"], False
    return [], False


def unschedulable_message(n_nodes: int, per_node: dict[str, tuple[list[str], bool]]) -> str:
    """The FailedScheduling message for reasons collected per node."""
    counts: Counter = Counter()
    preemption: Counter = Counter()
    for reasons, helps in per_node.values():
        counts.update(reasons)
        preemption[NO_VICTIMS if helps else NOT_HELPFUL] += 1
    fit = ", ".join(sorted(f"{n} {r}" for r, n in counts.items()))
    pre = ", ".join(sorted(f"{n} {r}" for r, n in preemption.items()))
    return f"0/{n_nodes} nodes are available: {fit}. preemption: 0/{n_nodes} nodes are available: {pre}.."


def global_message(n_nodes: int, reason: str) -> str:
    """A reason that rules out every node at once (a missing claim, an unbound one)."""
    return (
        f"0/{n_nodes} nodes are available: {reason}. "
        f"preemption: 0/{n_nodes} nodes are available: {n_nodes} {NOT_HELPFUL}.."
    )
