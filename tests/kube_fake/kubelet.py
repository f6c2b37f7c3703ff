"""A stand-in for the scheduler and the kubelet of one node.

Real pods stay Pending until a node runs them, and a bound pod is only gone
once its kubelet has stopped it. Tests decide when that happens: call
`run_pod()` / `fail_pod()` / `terminate()` by hand, or let the kubelet do it
automatically (`auto=True`), optionally after a delay.
"""

from __future__ import annotations

import ipaddress
import itertools
import secrets
import threading

from .errors import ApiError
from .store import Change, now_iso


class Kubelet:
    def __init__(
        self,
        fake,
        *,
        auto: bool = True,
        node_name: str = "fake-node-1",
        node_labels: dict[str, str] | None = None,
        start_delay: float = 0.0,
        shutdown_seconds: float = 0.0,
        pod_ip=None,
        emit_events: bool = True,
    ):
        """`pod_ip` is a fixed address or a callable(pod) -> address.

        `node_labels`, when given, makes pods whose nodeSelector does not match
        stay Pending with a FailedScheduling event, like a real scheduler.
        `shutdown_seconds` is how long a container takes to exit after SIGTERM
        (the pod is gone after min(grace period, shutdown_seconds)).
        """
        self.fake = fake
        self.store = fake.store
        self.auto = auto
        self.node_name = node_name
        self.node_labels = node_labels
        self.start_delay = start_delay
        self.shutdown_seconds = shutdown_seconds
        self.pod_ip = pod_ip
        self.emit_events = emit_events
        self._ips = (str(ip) for ip in ipaddress.ip_network("10.244.0.0/16").hosts())
        self._lock = threading.Lock()
        self._closed = False
        self._events = itertools.count()
        self.store.listeners.append(self._on_change)

    def close(self) -> None:
        self._closed = True
        try:
            self.store.listeners.remove(self._on_change)
        except ValueError:
            pass

    # ---- reacting to the apiserver -------------------------------------

    def _on_change(self, ch: Change) -> None:
        if self._closed or ch.resource != "pods":
            return
        meta = ch.obj["metadata"]
        ns, name = meta["namespace"], meta["name"]
        if ch.type == "ADDED" and self.auto:
            self.fake.call_later(self.start_delay, self._auto_run, ns, name, meta["uid"])
        elif (
            ch.type == "MODIFIED"
            and meta.get("deletionTimestamp")
            and not (ch.old or {}).get("metadata", {}).get("deletionTimestamp")
        ):
            grace = meta.get("deletionGracePeriodSeconds") or 0
            if ch.obj["spec"].get("nodeName") == self.node_name:
                self.fake.call_later(min(grace, self.shutdown_seconds), self._finalize, ns, name, meta["uid"])

    def _auto_run(self, ns: str, name: str, uid: str) -> None:
        pod = self.store.find("pods", ns, name)
        if (
            self._closed
            or pod is None
            or pod["metadata"]["uid"] != uid
            or pod["metadata"].get("deletionTimestamp")
        ):
            return
        self.run_pod(ns, name)

    def _finalize(self, ns: str, name: str, uid: str) -> None:
        pod = self.store.find("pods", ns, name)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        try:
            self.store.delete("pods", ns, name, immediate=True)
        except ApiError:
            pass

    # ---- what a node does ------------------------------------------------

    def event(
        self, pod: dict, reason: str, message: str, type_: str = "Normal", component: str = "kubelet"
    ) -> None:
        if not self.emit_events:
            return
        meta = pod["metadata"]
        stamp = now_iso()
        self.store.create(
            "events",
            meta["namespace"],
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{meta['name']}.{secrets.token_hex(8)}",
                    "namespace": meta["namespace"],
                },
                "involvedObject": {
                    "kind": "Pod",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "apiVersion": "v1",
                    "resourceVersion": meta["resourceVersion"],
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "source": {"component": component, "host": self.node_name},
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
                "reportingComponent": component,
                "reportingInstance": self.node_name,
            },
        )

    def schedule(self, ns: str, name: str) -> bool:
        """Bind the pod to this node (the scheduler's job); False if it does not fit."""
        pod = self.store.get("pods", ns, name)
        if pod["spec"].get("nodeName"):
            return True
        selector = pod["spec"].get("nodeSelector") or {}
        if self.node_labels is not None and any(self.node_labels.get(k) != v for k, v in selector.items()):
            self.event(
                pod,
                "FailedScheduling",
                "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
                "Warning",
                "default-scheduler",
            )
            return False

        def bind(p):
            p["spec"]["nodeName"] = self.node_name
            p["status"]["conditions"] = [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_iso()}
            ]

        self.store.mutate("pods", ns, name, bind)
        self.event(
            pod,
            "Scheduled",
            f"Successfully assigned {ns}/{name} to {self.node_name}",
            component="default-scheduler",
        )
        return True

    def _ip_for(self, pod: dict) -> str:
        if callable(self.pod_ip):
            return self.pod_ip(pod)
        if self.pod_ip:
            return self.pod_ip
        with self._lock:
            return next(self._ips)

    def run_pod(self, ns: str, name: str, ip: str | None = None) -> dict:
        """Start every container: phase Running, Ready, with a pod IP."""
        if not self.schedule(ns, name):
            return self.store.get("pods", ns, name)
        pod = self.store.get("pods", ns, name)
        for c in pod["spec"]["containers"]:
            self.event(pod, "Pulled", f'Container image "{c["image"]}" already present on machine')
            self.event(pod, "Created", f"Created container {c['name']}")
            self.event(pod, "Started", f"Started container {c['name']}")
        stamp = now_iso()
        status = dict(pod["status"])
        status.update(
            {
                "phase": "Running",
                "hostIP": "192.168.49.2",
                "podIP": ip or self._ip_for(pod),
                "startTime": stamp,
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
        return self.store.update_status("pods", ns, name, status)

    def fail_pod(
        self, ns: str, name: str, exit_code: int = 1, reason: str = "Error", message: str = ""
    ) -> dict:
        """Every container exits with `exit_code`; the pod is Failed (or Succeeded on 0)."""
        pod = self.store.get("pods", ns, name)
        stamp = now_iso()
        status = dict(pod["status"])
        status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        status["conditions"] = [
            {"type": "Ready", "status": "False", "lastTransitionTime": stamp, "reason": "PodFailed"},
        ]
        status["containerStatuses"] = [
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": reason,
                        "message": message,
                        "startedAt": status.get("startTime", stamp),
                        "finishedAt": stamp,
                    }
                },
            }
            for c in pod["spec"]["containers"]
        ]
        if exit_code:
            self.event(
                pod, "BackOff", f"Back-off restarting failed container: {message or reason}", "Warning"
            )
        return self.store.update_status("pods", ns, name, status)

    def terminate(self, ns: str, name: str) -> None:
        """Finish a pending graceful deletion now."""
        pod = self.store.get("pods", ns, name)
        self._finalize(ns, name, pod["metadata"]["uid"])
