"""The fake cluster's state: objects, resourceVersions, history and watchers.

One global resourceVersion counter (like etcd), so versions are monotonic in
every store. A bounded history of changes lets watches resume from a version;
older versions answer 410 Gone. All methods are thread-safe: the HTTP server
runs on its own thread, while tests and the kubelet helper poke the store from
theirs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import datetime
import itertools
import json
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from . import validation
from .errors import ApiError, already_exists, bad_request, conflict, gone, not_found
from .selectors import parse_field_selector, parse_label_selector


@dataclass(frozen=True)
class Kind:
    kind: str
    namespaced: bool = True
    name_rule: str = "subdomain"
    fields: frozenset = frozenset()


RESOURCES: dict[str, Kind] = {
    "pods": Kind(
        "Pod",
        fields=frozenset(
            {
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            }
        ),
    ),
    "persistentvolumeclaims": Kind("PersistentVolumeClaim"),
    "events": Kind(
        "Event",
        fields=frozenset(
            {
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            }
        ),
    ),
    "secrets": Kind("Secret", fields=frozenset({"type"})),
    "configmaps": Kind("ConfigMap"),
    "services": Kind("Service", name_rule="dns1035"),
    "namespaces": Kind("Namespace", namespaced=False, name_rule="label", fields=frozenset({"status.phase"})),
    "nodes": Kind("Node", namespaced=False, fields=frozenset({"spec.unschedulable"})),
}
# PriorityClasses every cluster has (scheduling.k8s.io/v1 is not served: tests name the others)
SYSTEM_PRIORITY_CLASSES = frozenset({"system-cluster-critical", "system-node-critical"})
KIND_TO_RESOURCE = {k.kind: r for r, k in RESOURCES.items()}


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Change:
    rv: int
    resource: str
    type: str  # ADDED / MODIFIED / DELETED
    obj: dict
    old: dict | None


@dataclass(eq=False)
class Watcher:
    """One open watch: events are queued onto the watching loop."""

    resource: str
    namespace: str | None
    labels: Callable[[dict], bool]
    fields: Callable[[dict], bool]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    def matches(self, obj: dict | None) -> bool:
        if obj is None:
            return False
        meta = obj["metadata"]
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels(meta.get("labels") or {}) and self.fields(obj)

    def event_for(self, change: Change) -> tuple[str, dict] | None:
        """The event this watcher sees: objects moving out of the selector are DELETED."""
        new_in = change.type != "DELETED" and self.matches(change.obj)
        old_in = (
            self.matches(change.old)
            if change.type == "MODIFIED"
            else change.type == "DELETED" and self.matches(change.obj)
        )
        if change.type == "ADDED":
            return ("ADDED", change.obj) if new_in else None
        if change.type == "DELETED":
            return ("DELETED", change.obj) if old_in else None
        if new_in and old_in:
            return ("MODIFIED", change.obj)
        if new_in:
            return ("ADDED", change.obj)
        if old_in:
            return ("DELETED", change.obj)
        return None

    def push(self, item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # loop closed: the watch is gone
            pass


def _merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


def _json_pointer(path: str) -> list:
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON patch path {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    for op in ops:
        if not isinstance(op, dict) or "path" not in op:
            raise bad_request("invalid JSON patch operation")
        parts = _json_pointer(op["path"])
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.get(p)
            if parent is None:
                raise ApiError(422, "Invalid", f"jsonpatch: path {op['path']} not found")
        last = parts[-1]
        kind = op.get("op")
        if kind in ("add", "replace"):
            if isinstance(parent, list):
                idx = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(idx, op.get("value"))
                else:
                    parent[idx] = op.get("value")
            else:
                if kind == "replace" and last not in parent:
                    raise ApiError(
                        422,
                        "Invalid",
                        f"jsonpatch replace operation does not apply: doc is missing key: {op['path']}",
                    )
                parent[last] = op.get("value")
        elif kind == "remove":
            try:
                if isinstance(parent, list):
                    parent.pop(int(last))
                else:
                    del parent[last]
            except (KeyError, IndexError):
                raise ApiError(
                    422,
                    "Invalid",
                    f"jsonpatch remove operation does not apply: doc is missing path: {op['path']}",
                ) from None
        elif kind == "test":
            cur = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if cur != op.get("value"):
                raise ApiError(422, "Invalid", f"testing value {op['path']} failed")
        else:
            raise bad_request(f"unsupported JSON patch op {kind!r}")
    return doc


class Store:
    """All objects of the fake cluster."""

    def __init__(self, history: int = 2000):
        self._lock = threading.RLock()
        self._rv = 0
        self._objects: dict[str, dict[tuple[str, str], dict]] = {r: {} for r in RESOURCES}
        self._history: deque[Change] = deque(maxlen=history)
        self._compacted = 0
        self._watchers: set[Watcher] = set()
        self._depth = 0
        self._pending: list[Change] = []
        self.listeners: list[Callable[[Change], None]] = []
        self.bind_pvcs = True  # False: claims wait for a consumer (the scheduler binds them)
        self.default_storage_class = "standard"
        # None: no Priority admission; else the PriorityClass names that exist
        self.priority_classes: set[str] | None = None
        self._ips = itertools.count(1)
        self.reset()

    @contextlib.contextmanager
    def _locked(self):
        """Hold the lock; listeners hear about changes once the outermost hold ends."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                pending = self._pending if self._depth == 0 else []
                if self._depth == 0:
                    self._pending = []
        for change in pending:
            for listener in list(self.listeners):
                listener(change)

    # ---- housekeeping ----------------------------------------------------

    def reset(self) -> None:
        """Forget every object (keeps the version counter: versions never go back)."""
        with self._locked():
            for objs in self._objects.values():
                objs.clear()
            self._history.clear()
            self._compacted = self._rv
            for w in list(self._watchers):
                w.push(None)
            self._watchers.clear()
            self.listeners.clear()
            self.bind_pvcs = True
            self.priority_classes = None
            for ns in ("default", "kube-system", "kube-public"):
                self._insert(
                    "namespaces",
                    "",
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {"name": ns},
                        "spec": {"finalizers": ["kubernetes"]},
                        "status": {"phase": "Active"},
                    },
                )

    def compact(self) -> int:
        """Drop all history, like etcd compaction; watches from older versions get 410."""
        with self._locked():
            self._history.clear()
            self._compacted = self._rv
            return self._rv

    @property
    def resource_version(self) -> int:
        return self._rv

    # ---- reads -------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> dict:
        with self._locked():
            self._check_namespace(resource, namespace, must_exist=False)
            obj = self._objects[resource].get((namespace, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def find(self, resource: str, namespace: str, name: str) -> dict | None:
        try:
            return self.get(resource, namespace, name)
        except ApiError:
            return None

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict], int]:
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, RESOURCES[resource].fields, resource)
        with self._locked():
            items = [
                copy.deepcopy(o)
                for (ns, _), o in sorted(self._objects[resource].items())
                if (namespace is None or ns == namespace)
                and labels(o["metadata"].get("labels") or {})
                and fields(o)
            ]
            return items, self._rv

    # ---- watches -----------------------------------------------------------

    def watch(
        self,
        resource: str,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        resource_version: str | None,
        loop: asyncio.AbstractEventLoop,
    ) -> Watcher:
        """Open a watch; initial events (replayed history or current state) are queued first."""
        w = Watcher(
            resource,
            namespace,
            parse_label_selector(label_selector),
            parse_field_selector(field_selector, RESOURCES[resource].fields, resource),
            loop,
        )
        with self._locked():
            if resource_version in (None, "", "0"):
                for _key, o in sorted(self._objects[resource].items()):
                    if w.matches(o):
                        w.push(("ADDED", copy.deepcopy(o)))
            else:
                try:
                    since = int(resource_version)
                except ValueError:
                    raise bad_request(f"invalid resource version: {resource_version!r}") from None
                if since < self._compacted:
                    w.push(("ERROR", gone(f"too old resource version: {since} ({self._compacted})").status()))
                    w.push(None)
                    return w
                for ch in self._history:
                    if ch.rv > since and ch.resource == resource:
                        ev = w.event_for(ch)
                        if ev:
                            w.push((ev[0], copy.deepcopy(ev[1])))
            self._watchers.add(w)
        return w

    def unwatch(self, w: Watcher) -> None:
        with self._locked():
            self._watchers.discard(w)

    # ---- writes ------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _record(self, resource: str, type_: str, obj: dict, old: dict | None) -> Change:
        ch = Change(self._rv, resource, type_, copy.deepcopy(obj), copy.deepcopy(old) if old else None)
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].rv
        self._history.append(ch)
        self._pending.append(ch)
        for w in list(self._watchers):
            if w.resource == resource:
                ev = w.event_for(ch)
                if ev:
                    w.push((ev[0], copy.deepcopy(ev[1])))
        return ch

    def _insert(self, resource: str, namespace: str, obj: dict) -> Change:
        meta = obj["metadata"]
        if RESOURCES[resource].namespaced:
            meta["namespace"] = namespace
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["resourceVersion"] = self._next_rv()
        if resource == "pods":
            meta["generation"] = 1
        self._objects[resource][(namespace, meta["name"])] = obj
        return self._record(resource, "ADDED", obj, None)

    def _check_namespace(self, resource: str, namespace: str, must_exist: bool = True) -> None:
        if RESOURCES[resource].namespaced:
            if not namespace:
                raise bad_request("the namespace of the object must be set")
            if must_exist and ("", namespace) not in self._objects["namespaces"]:
                raise not_found("namespaces", namespace)
            ns = self._objects["namespaces"].get(("", namespace))
            if must_exist and ns and ns["status"].get("phase") == "Terminating":
                raise ApiError(
                    403,
                    "Forbidden",
                    f"{resource} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                )

    def _check_body(self, resource: str, namespace: str, body) -> dict:
        kind = RESOURCES[resource].kind
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        if body.get("kind", kind) != kind or body.get("apiVersion", "v1") != "v1":
            raise bad_request(
                f"the API version in the data ({body.get('apiVersion')}) does not match the expected "
                f"API version (v1) or kind ({body.get('kind')} != {kind})"
            )
        body = copy.deepcopy(body)
        body["kind"] = kind
        body["apiVersion"] = "v1"
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if RESOURCES[resource].namespaced:
            if meta.get("namespace") not in (None, namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        return body

    def create(self, resource: str, namespace: str, body: dict) -> dict:
        info = RESOURCES[resource]
        with self._locked():
            self._check_namespace(resource, namespace)
            obj = self._check_body(resource, namespace, body)
            meta = obj["metadata"]
            for server_field in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
                meta.pop(server_field, None)
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
            if not meta.get("name"):
                raise validation.invalid(
                    info.kind, "", [("metadata.name", "Required value: name or generateName is required")]
                )
            obj.pop("status", None)
            validation.validate_object(info.kind, obj, info.name_rule)
            if (namespace if info.namespaced else "", meta["name"]) in self._objects[resource]:
                raise already_exists(resource, meta["name"])
            if resource == "pods":
                self._admit_priority(obj)
            self._apply_defaults(resource, obj)
            self._insert(resource, namespace if info.namespaced else "", obj)
            created = copy.deepcopy(obj)
        if resource == "persistentvolumeclaims" and self.bind_pvcs:
            self.update_status(
                resource,
                namespace,
                meta["name"],
                {
                    "phase": "Bound",
                    "accessModes": obj["spec"]["accessModes"],
                    "capacity": {"storage": obj["spec"]["resources"]["requests"]["storage"]},
                },
            )
        return created

    def _admit_priority(self, pod: dict) -> None:
        """The Priority admission plugin: an unknown priorityClassName is refused (403)."""
        name = pod["spec"].get("priorityClassName")
        if name and self.priority_classes is not None and name not in self.priority_classes:
            raise ApiError(
                403,
                "Forbidden",
                f'pods "{pod["metadata"]["name"]}" is forbidden: no PriorityClass with name {name} was found',
            )

    def _apply_defaults(self, resource: str, obj: dict) -> None:
        """Fill what the apiserver fills (only fields the client may read back)."""
        if resource == "pods":
            spec = obj["spec"]
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
            spec.setdefault("serviceAccountName", "default")
            spec.setdefault("securityContext", {})
            for c in spec.get("containers", []):
                image = c.get("image", "")
                tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
                c.setdefault(
                    "imagePullPolicy",
                    "IfNotPresent" if tagged and not image.endswith(":latest") else "Always",
                )
                c.setdefault("terminationMessagePath", "/dev/termination-log")
            obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}
        elif resource == "persistentvolumeclaims":
            spec = obj["spec"]
            spec.setdefault("volumeMode", "Filesystem")
            if "storageClassName" not in spec and self.default_storage_class:
                spec["storageClassName"] = self.default_storage_class
            obj["status"] = {"phase": "Pending"}
        elif resource == "namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
        elif resource == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            n = next(self._ips)
            spec.setdefault("clusterIP", f"10.96.{n // 250}.{n % 250 + 1}")
            for p in spec.get("ports", []):
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
            obj["status"] = {"loadBalancer": {}}
        elif resource == "secrets":
            string_data = obj.pop("stringData", None) or {}
            data = obj.setdefault("data", {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(v.encode()).decode()
            obj.setdefault("type", "Opaque")

    def replace(self, resource: str, namespace: str, name: str, body: dict, subresource: str = "") -> dict:
        info = RESOURCES[resource]
        with self._locked():
            old = self._objects[resource].get((namespace if info.namespaced else "", name))
            if old is None:
                raise not_found(resource, name)
            obj = self._check_body(resource, namespace, body)
            meta = obj["metadata"]
            if meta.get("name", name) != name:
                raise bad_request("the name of the object does not match the name on the URL")
            meta["name"] = name
            rv = meta.get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(
                    resource,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
            if subresource == "status":
                new = copy.deepcopy(old)
                new["status"] = obj.get("status", {})
            else:
                new = obj
                for keep in (
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                ):
                    if keep in old["metadata"]:
                        meta[keep] = old["metadata"][keep]
                    else:
                        meta.pop(keep, None)
                if "status" in old:
                    new["status"] = old["status"]
                validation.validate_object(
                    info.kind, {k: v for k, v in new.items() if k != "status"}, info.name_rule
                )
                self._check_immutable(resource, old, new)
            return self._commit_update(resource, old, new)

    def _check_immutable(self, resource: str, old: dict, new: dict) -> None:
        name = old["metadata"]["name"]
        kind = RESOURCES[resource].kind
        if resource == "pods":
            o, n = copy.deepcopy(old["spec"]), copy.deepcopy(new.get("spec", {}))
            for spec in (o, n):
                for c in spec.get("containers", []):
                    c.pop("image", None)
                spec.pop("activeDeadlineSeconds", None)
                spec.pop("tolerations", None)
            if o != n:
                raise validation.invalid(
                    kind,
                    name,
                    [
                        (
                            "spec",
                            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing tolerations)",
                        )
                    ],
                )
        elif resource == "persistentvolumeclaims":
            o, n = copy.deepcopy(old["spec"]), copy.deepcopy(new.get("spec", {}))
            old_size = o.get("resources", {}).get("requests", {}).pop("storage", "0")
            new_size = n.get("resources", {}).get("requests", {}).pop("storage", "0")
            if o != n:
                raise validation.invalid(
                    kind,
                    name,
                    [
                        (
                            "spec",
                            "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                        )
                    ],
                )
            if validation.parse_quantity(new_size) < validation.parse_quantity(old_size):
                raise validation.invalid(
                    kind,
                    name,
                    [
                        (
                            "spec.resources.requests.storage",
                            "Forbidden: field can not be less than previous value",
                        )
                    ],
                )

    def _commit_update(self, resource: str, old: dict, new: dict) -> dict:
        if new == old:
            return copy.deepcopy(old)
        key = (
            new["metadata"].get("namespace", "") if RESOURCES[resource].namespaced else "",
            new["metadata"]["name"],
        )
        new["metadata"]["resourceVersion"] = self._next_rv()
        self._objects[resource][key] = new
        self._record(resource, "MODIFIED", new, old)
        return copy.deepcopy(new)

    def patch(
        self, resource: str, namespace: str, name: str, patch, content_type: str, subresource: str = ""
    ) -> dict:
        with self._locked():
            current = self.get(resource, namespace, name)
            if "json-patch" in content_type:
                new = _json_patch(current, patch)
            elif "merge-patch" in content_type:
                # strategic merge is treated as a JSON merge patch (lists replaced)
                if not isinstance(patch, dict):
                    raise bad_request("merge patch must be a JSON object")
                new = _merge_patch(current, patch)
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})",
                )
            if subresource != "status":
                new.setdefault("metadata", {})["resourceVersion"] = (
                    patch_rv(patch) or current["metadata"]["resourceVersion"]
                )
            return self.replace(resource, namespace, name, new, subresource)

    def mutate(self, resource: str, namespace: str, name: str, fn: Callable[[dict], None]) -> dict:
        """Change an object in place, as a controller would (no validation)."""
        with self._locked():
            old = self._objects[resource].get((namespace, name))
            if old is None:
                raise not_found(resource, name)
            new = copy.deepcopy(old)
            fn(new)
            return self._commit_update(resource, old, new)

    def update_status(self, resource: str, namespace: str, name: str, status: dict) -> dict:
        """Replace an object's status (what controllers and the kubelet do)."""
        return self.mutate(resource, namespace, name, lambda o: o.__setitem__("status", status))

    def update_metadata(self, resource: str, namespace: str, name: str, **fields) -> dict:
        return self.mutate(resource, namespace, name, lambda o: o["metadata"].update(fields))

    def delete(
        self,
        resource: str,
        namespace: str,
        name: str,
        grace_period: int | None = None,
        preconditions: dict | None = None,
        immediate: bool = False,
    ) -> dict:
        """Delete; pods bound to a node only get a deletionTimestamp until terminated."""
        info = RESOURCES[resource]
        key = (namespace if info.namespaced else "", name)
        with self._locked():
            old = self._objects[resource].get(key)
            if old is None:
                raise not_found(resource, name)
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise conflict(
                    resource,
                    name,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {old['metadata']['uid']}",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise conflict(resource, name, "Precondition failed: the object has been modified")
            if resource == "pods" and not immediate:
                if grace_period is None:
                    grace_period = old["spec"].get("terminationGracePeriodSeconds", 30)
                bound = bool(old["spec"].get("nodeName"))
                if grace_period > 0 and bound:
                    current = old["metadata"].get("deletionGracePeriodSeconds")
                    if old["metadata"].get("deletionTimestamp") and grace_period >= (current or 0):
                        return copy.deepcopy(old)  # a deletion can be shortened, not lengthened
                    stamp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
                        seconds=grace_period
                    )
                    return self.update_metadata(
                        resource,
                        namespace,
                        name,
                        deletionTimestamp=stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        deletionGracePeriodSeconds=grace_period,
                    )
            del self._objects[resource][key]
            gone_obj = copy.deepcopy(old)
            self._next_rv()
            gone_obj["metadata"]["resourceVersion"] = str(self._rv)
            self._record(resource, "DELETED", gone_obj, None)
            dependents = self._dependents(old["metadata"]["uid"]) if info.namespaced else []
            if resource == "namespaces":
                dependents = [
                    (r, ns, n)
                    for r in RESOURCES
                    for (ns, n) in list(self._objects[r])
                    if ns == name and r != "namespaces"
                ]
        for r, ns, n in dependents:  # garbage collector: owned objects and namespace contents
            try:
                self.delete(r, ns, n, immediate=True)
            except ApiError:
                pass
        return gone_obj

    def _dependents(self, uid: str) -> list[tuple[str, str, str]]:
        out = []
        for r in RESOURCES:
            for (ns, n), o in self._objects[r].items():
                if any(ref.get("uid") == uid for ref in o["metadata"].get("ownerReferences") or []):
                    out.append((r, ns, n))
        return out

    def dump(self) -> str:
        with self._locked():
            return json.dumps({r: list(o.values()) for r, o in self._objects.items()}, indent=1)


def patch_rv(patch) -> str | None:
    if isinstance(patch, dict):
        return (patch.get("metadata") or {}).get("resourceVersion")
    return None


def _qos_class(spec: dict) -> str:
    containers = spec.get("containers", [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        lim, req = res.get("limits") or {}, res.get("requests") or {}
        if lim or req:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (
                r in req and validation.parse_quantity(req[r]) != validation.parse_quantity(lim[r])
            ):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
