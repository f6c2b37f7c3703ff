"""Personal session types as ConfigMaps (Kubernetes): one per type, in the hub's namespace.

Name `jupyterhub-sessions-type-<id>`; labels `app.kubernetes.io/component:
session-user-type` (what is listed) and `sessions.jupyterhub.org/owner:
<owner key>`; annotation `sessions.jupyterhub.org/username` (the exact
name; the document's owner must match both, as for drives); data
`type.json` (the record). An edit replaces the ConfigMap with the
resourceVersion it read, so two writers cannot both win (409 → Conflict).

Permissions: Zero to JupyterHub's hub Role (templates/hub/rbac.yaml) covers
pods, PVCs, secrets, services and events, not ConfigMaps.
`hub_config/kubernetes/user-types-rbac.yaml` adds a Role for exactly
what this store does (get, list, create, update, delete on configmaps); without it
every call is a 403 and the store says so (the rest of the platform works).
The hub process reads with KubeSpawner's shared client (its configuration);
the sessions service loads the in-cluster configuration itself.
"""

from __future__ import annotations

import json
import time

from kubernetes_asyncio.client.exceptions import ApiException

from ..drives import ANNOTATION_USER as ANNOTATION_USERNAME
from .model import ID_RE, UserTypeRecord
from .store import MAX_DOCUMENT, Conflict, StoreError, UserTypeStore, owner_key, parse_document

NAME_PREFIX = "jupyterhub-sessions-type-"
LABEL_COMPONENT = "app.kubernetes.io/component"
COMPONENT = "session-user-type"
LABEL_OWNER = "sessions.jupyterhub.org/owner"
DATA_KEY = "type.json"
RBAC_HINT = "apply hub_config/kubernetes/user-types-rbac.yaml (a Role for configmaps) in the hub's namespace"


class ConfigMapStore(UserTypeStore):
    """User types as ConfigMaps in `namespace`; listed at most every `ttl` seconds (the form, the API),
    and at once when a spawn names a type not seen yet (see SessionSpawnerMixin.refresh_user_types)."""

    def __init__(self, namespace: str, configure: bool = False, ttl: float = 1.0):
        self.namespace = namespace
        self.configure = configure
        self.ttl = ttl
        self._listed_at = 0.0
        self._versions: dict[str, str] = {}  # id -> resourceVersion last read

    def _api(self):
        from kubespawner.clients import load_config, shared_client

        if self.configure:
            # the service process: in-cluster (or the kubeconfig), once; the hub's is KubeSpawner's
            load_config()
            self.configure = False
        return shared_client("CoreV1Api")

    def _refused(self, e: ApiException, what: str) -> StoreError:
        if e.status == 403:
            return StoreError(f"the hub may not {what} ConfigMaps in namespace {self.namespace}: {RBAC_HINT}")
        if e.status == 409:
            return Conflict("the type changed meanwhile")
        return StoreError(f"the cluster refused to {what} a ConfigMap ({e.status} {e.reason})")

    async def changed(self) -> bool:
        return time.monotonic() - self._listed_at >= self.ttl

    async def load_all(self) -> list[UserTypeRecord]:
        try:
            listing = await self._api().list_namespaced_config_map(
                self.namespace, label_selector=f"{LABEL_COMPONENT}={COMPONENT}", _request_timeout=10
            )
        except ApiException as e:
            self._listed_at = time.monotonic()  # retried after `ttl`, not on every form and request
            raise self._refused(e, "list") from None
        except OSError as e:
            self._listed_at = time.monotonic()
            raise StoreError(f"the cluster did not answer ({e})") from None
        records = []
        versions = {}
        for cm in listing.items:
            name = cm.metadata.name or ""
            type_id = name.removeprefix(NAME_PREFIX)
            if not name.startswith(NAME_PREFIX) or not ID_RE.match(type_id):
                continue
            key = (cm.metadata.labels or {}).get(LABEL_OWNER, "")
            raw = ((cm.data or {}).get(DATA_KEY) or "").encode()
            rec = parse_document(raw[: MAX_DOCUMENT + 1], type_id, key)
            annotated = (cm.metadata.annotations or {}).get(ANNOTATION_USERNAME)
            if rec.error is None and annotated != rec.owner:
                rec = UserTypeRecord(
                    id=type_id,
                    owner="",
                    spec={},
                    revision=0,
                    owner_key=key,
                    error="the ConfigMap's owner annotation does not match the type",
                )
            versions[type_id] = cm.metadata.resource_version
            records.append(rec)
        self._versions = versions
        self._listed_at = time.monotonic()
        return records

    def _body(self, record: UserTypeRecord, resource_version: str | None = None) -> dict:
        meta = {
            "name": NAME_PREFIX + record.id,
            "labels": {
                LABEL_COMPONENT: COMPONENT,
                "app.kubernetes.io/managed-by": "jupyterhub-sessions",
                LABEL_OWNER: owner_key(record.owner),
            },
            "annotations": {ANNOTATION_USERNAME: record.owner},
        }
        if resource_version:
            meta["resourceVersion"] = resource_version
        text = json.dumps(record.to_json(), sort_keys=True)
        if len(text) > MAX_DOCUMENT:
            raise StoreError(f"the type is larger than {MAX_DOCUMENT} bytes")
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {DATA_KEY: text}}

    async def create(self, record):
        try:
            await self._api().create_namespaced_config_map(
                self.namespace, self._body(record), _request_timeout=10
            )
        except ApiException as e:
            raise self._refused(e, "create") from None
        self._listed_at = 0.0
        return record

    async def replace(self, record, expected_revision):
        name = NAME_PREFIX + record.id
        api = self._api()
        try:
            current = await api.read_namespaced_config_map(name, self.namespace, _request_timeout=10)
        except ApiException as e:
            if e.status == 404:
                raise StoreError("the type was deleted") from None
            raise self._refused(e, "read") from None
        stored = parse_document(
            ((current.data or {}).get(DATA_KEY) or "").encode(),
            record.id,
            (current.metadata.labels or {}).get(LABEL_OWNER, ""),
        )
        revision = stored.revision if stored.error is None else 0
        if revision != expected_revision:
            raise Conflict(
                f"the type changed meanwhile (revision {revision}, you edited {expected_revision})"
            )
        try:
            await api.replace_namespaced_config_map(
                name,
                self.namespace,
                self._body(record, current.metadata.resource_version),
                _request_timeout=10,
            )
        except ApiException as e:
            raise self._refused(e, "update") from None
        self._listed_at = 0.0
        return record

    async def delete(self, record):
        try:
            await self._api().delete_namespaced_config_map(
                NAME_PREFIX + record.id, self.namespace, _request_timeout=10
            )
        except ApiException as e:
            if e.status != 404:
                raise self._refused(e, "delete") from None
        self._listed_at = 0.0
