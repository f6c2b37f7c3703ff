"""The fake cluster's control plane and nodes: scheduler, kubelets, volume binding.

A cluster is as unkind as a real one where it matters to the hub:

- the scheduler places a pod only on a node whose taints it tolerates, whose
  labels match its nodeSelector and whose allocatable CPU, memory, ephemeral
  storage and GPUs still have room; otherwise the pod stays Pending with the
  real `FailedScheduling` event and message, and is retried when room appears;
- claims of a `WaitForFirstConsumer` class stay Pending until a pod using them
  is scheduled, then bind to that node's zone (later pods must go there);
- a kubelet pulls images it does not have (`Pulling`/`Pulled` events, taking
  `pull_seconds`), or fails to (`ErrImagePull`, then `ImagePullBackOff`);
- containers can crash after running (`CrashLoopBackOff`), nodes can be lost
  (pods NotReady, evicted pods stuck Terminating until the node returns).

Every step is a real Event object, so what KubeSpawner shows on the progress
page is what a user of a real cluster would read. Tests steer it by hand
(`run_pod`, `crash`, `lose_node`, `fail_pulls`, ...) or let it run (`auto`).
Timings are the fake's, not a cluster's.
"""

from __future__ import annotations

import datetime
import secrets
import threading
from collections import Counter

from .cluster import (
    ZONE,
    NodeSpec,
    global_message,
    node_reasons,
    pod_requests,
    small_cluster,
    unschedulable_message,
)
from .errors import ApiError
from .store import SYSTEM_PRIORITY_CLASSES, Change, now_iso
from .validation import parse_quantity

IMAGE_SIZE = 734_003_200
SELECTED_NODE = "volume.kubernetes.io/selected-node"


def _not_running(container: dict, state: dict) -> dict:
    """A container status before it runs, or after it ended for good."""
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": state,
    }


def _pod_ref(pod: dict) -> str:
    meta = pod["metadata"]
    return f"{meta['name']}_{meta['namespace']}({meta['uid']})"


class Kubelet:
    """Scheduler, kubelets and volume controller of a fake cluster (see module doc)."""

    def __init__(
        self,
        fake,
        *,
        nodes: list[NodeSpec] | None = None,
        auto: bool = True,
        start_delay: float = 0.0,
        pull_seconds: float = 0.2,
        volume_binding: str = "WaitForFirstConsumer",
        shutdown_seconds: float = 0.0,
        pod_ip=None,
        emit_events: bool = True,
        retry_seconds: float = 0.5,
        pull_backoff_seconds: float = 0.5,
        priority_classes=(),
    ):
        """`pod_ip` is a fixed address or a callable(pod) -> address.

        `start_delay` is how long the scheduler takes to look at a new pod;
        `shutdown_seconds` how long a container takes to exit after SIGTERM (a
        pod is gone after min(grace period, shutdown_seconds)); `priority_classes`
        the PriorityClasses that exist besides the system ones.
        """
        self.fake = fake
        self.store = fake.store
        self.auto = auto
        self.start_delay = start_delay
        self.pull_seconds = pull_seconds
        self.shutdown_seconds = shutdown_seconds
        self.pod_ip = pod_ip
        self.emit_events = emit_events
        self.retry_seconds = retry_seconds
        self.pull_backoff_seconds = pull_backoff_seconds
        self.volume_binding = volume_binding
        self.pull_failures: dict[str, str] = {}  # image -> the registry's answer
        self.crashing_images: dict[str, tuple[float, int, str]] = {}  # image -> (after, code, reason)
        self._lock = threading.RLock()
        self._closed = False
        self._pending: set[tuple[str, str]] = set()
        self._retrying = False
        self._events: dict[tuple, str] = {}
        self._pv_zones: dict[tuple[str, str], str] = {}
        self._node_ips = {}
        self.nodes: dict[str, NodeSpec] = {}
        self._ready: dict[str, bool] = {}
        self.store.bind_pvcs = volume_binding == "Immediate"
        self.store.priority_classes = set(SYSTEM_PRIORITY_CLASSES) | set(priority_classes)
        for spec in small_cluster() if nodes is None else nodes:
            self.add_node(spec)
        self.store.listeners.append(self._on_change)

    def close(self) -> None:
        self._closed = True
        try:
            self.store.listeners.remove(self._on_change)
        except ValueError:
            pass

    # ---- nodes -------------------------------------------------------------

    def add_node(self, spec: NodeSpec) -> None:
        """A node joins (created as a Node object with its capacity, Ready)."""
        with self._lock:
            self.nodes[spec.name] = spec
            self._ready[spec.name] = True
            self._node_ips[spec.name] = (f"10.244.{len(self._node_ips)}.{i}" for i in range(2, 255))
        self.store.create("nodes", "", spec.manifest())
        self.store.update_status("nodes", "", spec.name, self._node_status(spec, ready=True))
        self._kick()

    def _node_status(self, spec: NodeSpec, ready: bool) -> dict:
        stamp = now_iso()
        cond = (
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            }
            if ready
            else {
                "type": "Ready",
                "status": "Unknown",
                "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.",
            }
        )
        cond.update(lastHeartbeatTime=stamp, lastTransitionTime=stamp)
        return {
            "capacity": dict(spec.allocatable),
            "allocatable": dict(spec.allocatable),
            "conditions": [cond],
            "addresses": [{"type": "Hostname", "address": spec.name}],
        }

    def node(self, name: str) -> dict:
        return self.store.get("nodes", "", name)

    def node_ready(self, name: str | None) -> bool:
        with self._lock:
            return bool(name) and self._ready.get(name, False)

    def lose_node(self, name: str) -> None:
        """The node stops answering: NotReady, tainted unreachable, its pods NotReady.

        Its kubelet does nothing any more: pods deleted there stay Terminating.
        """
        with self._lock:
            self._ready[name] = False
        stamp = now_iso()

        def taint(n):
            taints = [
                t for t in (n["spec"].get("taints") or []) if not t["key"].startswith("node.kubernetes.io/")
            ]
            for effect in ("NoSchedule", "NoExecute"):
                taints.append({"key": "node.kubernetes.io/unreachable", "effect": effect, "timeAdded": stamp})
            n["spec"]["taints"] = taints
            n["status"] = self._node_status(self.nodes[name], ready=False)

        self.store.mutate("nodes", "", name, taint)
        for pod in self._pods_on(name):
            meta = pod["metadata"]

            def not_ready(p):
                for c in p["status"].get("conditions") or []:
                    if c["type"] == "Ready":
                        c.update(status="False", lastTransitionTime=stamp)

            self.store.mutate("pods", meta["namespace"], meta["name"], not_ready)
            self.event(pod, "NodeNotReady", "Node is not ready", "Warning", "node-controller")

    def evict(self, name: str) -> list[str]:
        """The taint manager evicts the pods of a lost node (after their tolerationSeconds)."""
        evicted = []
        for pod in self._pods_on(name):
            meta = pod["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            self.event(
                pod,
                "TaintManagerEviction",
                f"Marking for deletion Pod {meta['namespace']}/{meta['name']}",
                "Normal",
                "taint-eviction-controller",
            )
            try:
                self.store.delete("pods", meta["namespace"], meta["name"])
                evicted.append(meta["name"])
            except ApiError:
                pass
        return evicted

    def restore_node(self, name: str) -> None:
        """The node is back: Ready, untainted, and its kubelet finishes pending deletions."""
        with self._lock:
            self._ready[name] = True

        def heal(n):
            n["spec"]["taints"] = [
                t for t in (n["spec"].get("taints") or []) if not t["key"].startswith("node.kubernetes.io/")
            ]
            n["status"] = self._node_status(self.nodes[name], ready=True)

        self.store.mutate("nodes", "", name, heal)
        for pod in self._pods_on(name):
            if pod["metadata"].get("deletionTimestamp"):
                self._finalize(pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"])
        self._kick()

    def _pods_on(self, node: str) -> list[dict]:
        return [p for p in self.store.list("pods")[0] if p["spec"].get("nodeName") == node]

    # ---- images ------------------------------------------------------------

    def fail_pulls(self, image: str, message: str | None = None) -> None:
        """Every pull of `image` fails with the registry's answer (default: not found)."""
        repo = image.rsplit(":", 1)[0]
        self.pull_failures[image] = message or (
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
            f'failed to resolve reference "{image}": {repo}: not found'
        )

    def crash_image(self, image: str, after: float = 0.1, exit_code: int = 1, reason: str = "Error") -> None:
        """Containers of `image` exit with `exit_code` `after` seconds of running, every time
        (`after` <= 0: at once, before the pod is ever seen ready)."""
        self.crashing_images[image] = (after, exit_code, reason)

    def has_image(self, node: str, image: str) -> bool:
        images = self.nodes[node].images
        return "*" in images or image in images

    # ---- events ------------------------------------------------------------

    def event(
        self,
        obj: dict,
        reason: str,
        message: str,
        type_: str = "Normal",
        component: str = "kubelet",
        host: str | None = None,
    ) -> None:
        """Record an Event about `obj`; a repeat of the same one counts up, as the real recorder does."""
        if not self.emit_events:
            return
        meta = obj["metadata"]
        ns = meta["namespace"]
        key = (meta["uid"], reason, message)
        stamp = now_iso()
        with self._lock:
            existing = self._events.get(key)
        if existing and self.store.find("events", ns, existing):

            def again(e):
                e["count"] = e.get("count", 1) + 1
                e["lastTimestamp"] = stamp

            self.store.mutate("events", ns, existing, again)
            return
        name = f"{meta['name']}.{secrets.token_hex(8)}"
        source = {"component": component}
        if host or component == "kubelet":
            source["host"] = host or obj.get("spec", {}).get("nodeName") or ""
        self.store.create(
            "events",
            ns,
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": {
                    "kind": obj.get("kind") or "Pod",
                    "namespace": ns,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "apiVersion": "v1",
                    "resourceVersion": meta["resourceVersion"],
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "source": source,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
                "reportingComponent": component,
                "reportingInstance": source.get("host", ""),
            },
        )
        with self._lock:
            self._events[key] = name

    # ---- reacting to the apiserver ---------------------------------------------

    def _on_change(self, ch: Change) -> None:
        if self._closed:
            return
        if ch.resource == "persistentvolumeclaims" and ch.type == "ADDED":
            if not self.store.bind_pvcs:
                self.fake.call_later(0, self._waiting_claim, ch.obj)
            return
        if ch.resource != "pods":
            return
        meta = ch.obj["metadata"]
        ns, name = meta["namespace"], meta["name"]
        if ch.type == "ADDED" and self.auto:
            self.fake.call_later(self.start_delay, self._auto_schedule, ns, name, meta["uid"])
        elif ch.type == "DELETED":
            self._kick()  # room on a node: pending pods may fit now
        elif (
            ch.type == "MODIFIED"
            and meta.get("deletionTimestamp")
            and not (ch.old or {}).get("metadata", {}).get("deletionTimestamp")
        ):
            grace = meta.get("deletionGracePeriodSeconds") or 0
            if self.node_ready(ch.obj["spec"].get("nodeName")):
                self.fake.call_later(min(grace, self.shutdown_seconds), self._finalize, ns, name, meta["uid"])

    def _waiting_claim(self, pvc: dict) -> None:
        claim = {**pvc, "kind": "PersistentVolumeClaim"}
        self.event(
            claim,
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding",
            component="persistentvolume-controller",
        )

    def _current(self, ns: str, name: str, uid: str) -> dict | None:
        pod = self.store.find("pods", ns, name)
        if (
            self._closed
            or pod is None
            or pod["metadata"]["uid"] != uid
            or pod["metadata"].get("deletionTimestamp")
        ):
            return None
        return pod

    def _auto_schedule(self, ns: str, name: str, uid: str) -> None:
        if self.auto and self._current(ns, name, uid) is not None:
            self.run_pod(ns, name)

    def _kick(self) -> None:
        """Retry pending pods soon (something changed), once at a time."""
        with self._lock:
            if self._retrying or not self._pending or self._closed:
                return
            self._retrying = True
        self.fake.call_later(self.retry_seconds, self._retry_pending)

    def _retry_pending(self) -> None:
        with self._lock:
            self._retrying = False
            pending = sorted(self._pending)
        for ns, name in pending:
            pod = self.store.find("pods", ns, name)
            if pod is None or pod["metadata"].get("deletionTimestamp") or pod["spec"].get("nodeName"):
                with self._lock:
                    self._pending.discard((ns, name))
                continue
            if self.auto:
                self.run_pod(ns, name)
        self._kick()

    def _finalize(self, ns: str, name: str, uid: str) -> None:
        pod = self.store.find("pods", ns, name)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        if pod["spec"].get("nodeName") and not self.node_ready(pod["spec"]["nodeName"]):
            return  # nobody on that node to stop the containers
        try:
            self.store.delete("pods", ns, name, immediate=True)
        except ApiError:
            pass

    # ---- the scheduler -------------------------------------------------------------

    def _used(self) -> dict[str, Counter]:
        used: dict[str, Counter] = {n: Counter() for n in self.nodes}
        for p in self.store.list("pods")[0]:
            node = p["spec"].get("nodeName")
            if node in used and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                used[node].update(pod_requests(p))
        return used

    def _claims(self, pod: dict) -> tuple[str | None, list[dict], str | None]:
        """(reason no node can work, claims to bind on scheduling, zone the pod must run in)."""
        ns = pod["metadata"]["namespace"]
        to_bind, zone = [], None
        for vol in pod["spec"].get("volumes") or []:
            ref = vol.get("persistentVolumeClaim")
            if not ref:
                continue
            claim = self.store.find("persistentvolumeclaims", ns, ref["claimName"])
            if claim is None:
                return f'persistentvolumeclaim "{ref["claimName"]}" not found', [], None
            if claim["metadata"].get("deletionTimestamp"):
                return f'persistentvolumeclaim "{ref["claimName"]}" is being deleted', [], None
            if claim["status"].get("phase") == "Bound":
                with self._lock:
                    zone = self._pv_zones.get((ns, ref["claimName"]), zone)
            elif self.store.bind_pvcs:
                return "pod has unbound immediate PersistentVolumeClaims", [], None
            else:
                to_bind.append(claim)
        return None, to_bind, zone

    def schedule(self, ns: str, name: str) -> bool:
        """Bind the pod to a node that fits it; False (and a FailedScheduling event) if none does."""
        pod = self.store.get("pods", ns, name)
        if pod["spec"].get("nodeName"):
            return True
        with self._lock:
            nodes = {n: self.node(n) for n in self.nodes}
            blocker, to_bind, zone = self._claims(pod)
            if blocker:
                return self._unschedulable(pod, global_message(len(nodes), blocker))
            requests = pod_requests(pod)
            used = self._used()
            per_node = {n: node_reasons(obj, pod, requests, used[n], zone) for n, obj in nodes.items()}
            fits = [n for n, (reasons, _) in per_node.items() if not reasons]
            if not fits:
                return self._unschedulable(pod, unschedulable_message(len(nodes), per_node))

            def free_cpu(n):
                have = nodes[n]["status"]["allocatable"].get("cpu", "0")
                return (parse_quantity(have) - used[n].get("cpu", 0), n)

            chosen = max(fits, key=free_cpu)
            for claim in to_bind:
                self._bind_claim(claim, chosen)
            self._pending.discard((ns, name))

        def bind(p):
            p["spec"]["nodeName"] = chosen
            p["status"]["conditions"] = [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_iso()}
            ]

        self.store.mutate("pods", ns, name, bind)
        self.event(
            pod, "Scheduled", f"Successfully assigned {ns}/{name} to {chosen}", component="default-scheduler"
        )
        return True

    def _unschedulable(self, pod: dict, message: str) -> bool:
        meta = pod["metadata"]
        with self._lock:
            self._pending.add((meta["namespace"], meta["name"]))

        def mark(p):
            p["status"]["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                    "lastTransitionTime": now_iso(),
                }
            ]

        self.store.mutate("pods", meta["namespace"], meta["name"], mark)
        self.event(pod, "FailedScheduling", message, "Warning", "default-scheduler")
        self._kick()
        return False

    def _bind_claim(self, claim: dict, node: str) -> None:
        meta = claim["metadata"]
        ns, name = meta["namespace"], meta["name"]
        volume = f"pvc-{meta['uid']}"
        self._pv_zones[(ns, name)] = self.nodes[node].zone

        def bound(c):
            c["metadata"].setdefault("annotations", {})[SELECTED_NODE] = node
            c["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = "yes"
            c["spec"]["volumeName"] = volume
            c["status"] = {
                "phase": "Bound",
                "accessModes": c["spec"]["accessModes"],
                "capacity": {"storage": c["spec"]["resources"]["requests"]["storage"]},
            }

        self.store.mutate("persistentvolumeclaims", ns, name, bound)
        self.event(
            {**claim, "kind": "PersistentVolumeClaim"},
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume}",
            component="persistentvolume-controller",
        )

    def claim_zone(self, ns: str, name: str) -> str | None:
        """The zone a bound claim's volume lives in (the fake's PV node affinity)."""
        with self._lock:
            return self._pv_zones.get((ns, name))

    # ---- the kubelet ---------------------------------------------------------------

    def _ip_for(self, pod: dict) -> str:
        if callable(self.pod_ip):
            return self.pod_ip(pod)
        if self.pod_ip:
            return self.pod_ip
        with self._lock:
            return next(self._node_ips[pod["spec"]["nodeName"]])

    def run_pod(self, ns: str, name: str, ip: str | None = None) -> dict:
        """Schedule the pod, then pull what its node lacks and start its containers.

        Returns the pod as it is now: Running if nothing had to be pulled.
        """
        if not self.schedule(ns, name):
            return self.store.get("pods", ns, name)
        pod = self.store.get("pods", ns, name)
        node = pod["spec"]["nodeName"]
        if not self.node_ready(node):
            return pod
        missing = [
            c["image"]
            for c in pod["spec"]["containers"]
            if not self.has_image(node, c["image"]) or c.get("imagePullPolicy") == "Always"
        ]
        for c in pod["spec"]["containers"]:
            if c["image"] not in missing:
                self.event(pod, "Pulled", f'Container image "{c["image"]}" already present on machine')
        if missing:
            self._creating(pod)
            self._pull(ns, name, pod["metadata"]["uid"], missing, ip, attempt=0)
            return self.store.get("pods", ns, name)
        return self._start(ns, name, ip)

    def _creating(self, pod: dict) -> None:
        meta = pod["metadata"]

        def creating(p):
            p["status"].update(
                hostIP="192.168.49.2",
                startTime=now_iso(),
                containerStatuses=[
                    _not_running(c, {"waiting": {"reason": "ContainerCreating"}})
                    for c in p["spec"]["containers"]
                ],
            )

        self.store.mutate("pods", meta["namespace"], meta["name"], creating)

    def _set_waiting(self, ns: str, name: str, image: str, reason: str, message: str) -> None:
        def waiting(p):
            for cs in p["status"].get("containerStatuses") or []:
                if cs["image"] == image:
                    cs["state"] = {"waiting": {"reason": reason, "message": message}}

        self.store.mutate("pods", ns, name, waiting)

    def _pull(self, ns, name, uid, images, ip, attempt) -> None:
        pod = self._current(ns, name, uid)
        if pod is None or not self.node_ready(pod["spec"]["nodeName"]):
            return
        self.event(pod, "Pulling", f'Pulling image "{images[0]}"')
        self.fake.call_later(self.pull_seconds, self._pulled, ns, name, uid, images, ip, attempt)

    def _pulled(self, ns, name, uid, images, ip, attempt) -> None:
        pod = self._current(ns, name, uid)
        if pod is None or not self.node_ready(pod["spec"]["nodeName"]):
            return
        image = images[0]
        failure = self.pull_failures.get(image)
        if failure:
            self.event(pod, "Failed", f'Failed to pull image "{image}": {failure}', "Warning")
            self.event(pod, "Failed", "Error: ErrImagePull", "Warning")
            self._set_waiting(ns, name, image, "ErrImagePull", failure)
            self.fake.call_later(self.pull_backoff_seconds, self._backoff, ns, name, uid, images, ip, attempt)
            return
        with self._lock:
            self.nodes[pod["spec"]["nodeName"]].images.add(image)
        ms = int(self.pull_seconds * 1000)
        self.event(
            pod,
            "Pulled",
            f'Successfully pulled image "{image}" in {ms}ms ({ms}ms including waiting). '
            f"Image size: {IMAGE_SIZE} bytes.",
        )
        if images[1:]:
            self._pull(ns, name, uid, images[1:], ip, attempt)
        else:
            self._start(ns, name, ip)

    def _backoff(self, ns, name, uid, images, ip, attempt) -> None:
        pod = self._current(ns, name, uid)
        if pod is None or not self.node_ready(pod["spec"]["nodeName"]):
            return
        message = f'Back-off pulling image "{images[0]}"'
        self.event(pod, "BackOff", message)
        self.event(pod, "Failed", "Error: ImagePullBackOff", "Warning")
        self._set_waiting(ns, name, images[0], "ImagePullBackOff", message)
        if attempt < 20:  # the kubelet keeps trying, backing off
            delay = self.pull_backoff_seconds * min(2**attempt, 8)
            self.fake.call_later(delay, self._pull, ns, name, uid, images, ip, attempt + 1)

    def _start(self, ns: str, name: str, ip: str | None = None) -> dict:
        """Start every container: phase Running, Ready, with a pod IP."""
        pod = self.store.get("pods", ns, name)
        for c in pod["spec"]["containers"]:
            self.event(pod, "Created", f"Created container: {c['name']}")
            self.event(pod, "Started", f"Started container {c['name']}")
        stamp = now_iso()
        status = dict(pod["status"])
        status.update(
            {
                "phase": "Running",
                "hostIP": "192.168.49.2",
                "podIP": ip or self._ip_for(pod),
                "startTime": status.get("startTime") or stamp,
                "conditions": [
                    {"type": t, "status": "True", "lastTransitionTime": stamp}
                    for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
                ],
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "imageID": f"{c['image']}@sha256:{secrets.token_hex(32)}",
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": stamp}},
                        "containerID": f"containerd://{secrets.token_hex(32)}",
                    }
                    for c in pod["spec"]["containers"]
                ],
            }
        )
        status["podIPs"] = [{"ip": status["podIP"]}]
        updated = self.store.update_status("pods", ns, name, status)
        for c in pod["spec"]["containers"]:
            if c["image"] in self.crashing_images:
                after, code, reason = self.crashing_images[c["image"]]
                if after <= 0:  # exits before anyone sees it ready
                    return self.crash(ns, name, exit_code=code, reason=reason)
                self.fake.call_later(after, self._crash_later, ns, name, pod["metadata"]["uid"], code, reason)
        return updated

    def _crash_later(self, ns, name, uid, code, reason) -> None:
        pod = self._current(ns, name, uid)
        if pod is not None and self.node_ready(pod["spec"].get("nodeName")):
            self.crash(ns, name, exit_code=code, reason=reason)

    def crash(self, ns: str, name: str, exit_code: int = 1, reason: str = "Error", message: str = "") -> dict:
        """The containers exit. With restartPolicy Always/OnFailure (and a non-zero code) the
        kubelet restarts them, backing off: CrashLoopBackOff, phase still Running."""
        pod = self.store.get("pods", ns, name)
        policy = pod["spec"].get("restartPolicy", "Always")
        restarts = policy == "Always" or (policy == "OnFailure" and exit_code != 0)
        if not restarts:
            return self.fail_pod(ns, name, exit_code, reason, message)
        stamp = now_iso()
        status = dict(pod["status"])
        statuses = []
        for cs in status.get("containerStatuses") or []:
            started = (cs.get("state") or {}).get("running", {}).get("startedAt", stamp)
            statuses.append(
                {
                    **cs,
                    "ready": False,
                    "started": False,
                    "restartCount": cs.get("restartCount", 0) + 1,
                    "lastState": {
                        "terminated": {
                            "exitCode": exit_code,
                            "reason": reason,
                            "message": message,
                            "startedAt": started,
                            "finishedAt": stamp,
                        }
                    },
                    "state": {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": f"back-off 10s restarting failed container={cs['name']} pod={_pod_ref(pod)}",
                        }
                    },
                }
            )
        status["containerStatuses"] = statuses
        status["conditions"] = [
            {**c, "status": "False", "lastTransitionTime": stamp}
            if c["type"] in ("Ready", "ContainersReady")
            else c
            for c in status.get("conditions") or []
        ]
        updated = self.store.update_status("pods", ns, name, status)
        for cs in statuses:
            self.event(
                pod,
                "BackOff",
                f"Back-off restarting failed container {cs['name']} in pod {_pod_ref(pod)}",
                "Warning",
            )
        return updated

    def fail_pod(
        self, ns: str, name: str, exit_code: int = 1, reason: str = "Error", message: str = ""
    ) -> dict:
        """Every container exits with `exit_code` for good; the pod is Failed (or Succeeded on 0)."""
        pod = self.store.get("pods", ns, name)
        stamp = now_iso()
        status = dict(pod["status"])
        status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        status["conditions"] = [
            {"type": "Ready", "status": "False", "lastTransitionTime": stamp, "reason": "PodFailed"},
        ]
        status["containerStatuses"] = [
            _not_running(
                c,
                {
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": reason,
                        "message": message,
                        "startedAt": status.get("startTime", stamp),
                        "finishedAt": stamp,
                    }
                },
            )
            for c in pod["spec"]["containers"]
        ]
        updated = self.store.update_status("pods", ns, name, status)
        self._kick()
        return updated

    def terminate(self, ns: str, name: str) -> None:
        """Finish a pending graceful deletion now (the node must be up)."""
        pod = self.store.get("pods", ns, name)
        self._finalize(ns, name, pod["metadata"]["uid"])


def use_cluster(fake, **kwargs) -> Kubelet:
    """Replace the fake's cluster (nodes, scheduler, kubelets) with a new one built from `kwargs`."""
    old = getattr(fake, "kubelet", None)
    if old is not None:
        old.close()
    for node in fake.store.list("nodes")[0]:
        fake.store.delete("nodes", "", node["metadata"]["name"], immediate=True)
    fake.kubelet = Kubelet(fake, **kwargs)
    return fake.kubelet


def use_kind_cluster(fake, **kwargs) -> Kubelet:
    """One roomy node, every image present, claims bound at once: for tests where
    scheduling is not the point (like a local `kind` cluster with images side-loaded)."""
    from .cluster import kind_cluster

    return use_cluster(
        fake, **{"nodes": kind_cluster(), "pull_seconds": 0.0, "volume_binding": "Immediate", **kwargs}
    )


def deletion_age(pod: dict) -> float:
    """Seconds since a pod's deletion was due (negative while its grace period runs)."""
    stamp = pod["metadata"].get("deletionTimestamp")
    if not stamp:
        return 0.0
    due = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return (datetime.datetime.now(datetime.timezone.utc) - due).total_seconds()


__all__ = ["ZONE", "Kubelet", "NodeSpec", "deletion_age", "use_cluster", "use_kind_cluster"]
