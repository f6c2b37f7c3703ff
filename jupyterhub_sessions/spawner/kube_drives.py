"""Drives on Kubernetes: one PersistentVolumeClaim per (user, drive name).

PVC names come from `drives.pvc_name` (a full hash of both exact names); the
owner and drive name are kept in annotations, because labels can only carry
slugs, and a claim is only used when its annotations name exactly this user
and drive. Creation is idempotent and nothing here deletes a claim.

Claims made before 0.2 are named by `drives.legacy_pvc_name` (a 32-bit hash)
and cannot be renamed. They are found through the old owner label and used
where they are - but only the one whose annotations name exactly the user
and drive, so a colliding name finds nothing. A new claim is only made when
neither exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from jupyterhub.utils import exponential_backoff
from kubernetes_asyncio.client.exceptions import ApiException
from tornado import web

from ..drives import (
    ANNOTATION_DRIVE,
    ANNOTATION_USER,
    COMPONENT_DRIVE,
    LABEL_COMPONENT,
    LABEL_DRIVE_OWNER,
    Drive,
    DriveBackend,
    DriveError,
    drive_annotations,
    drive_labels,
    legacy_user_slug,
    pvc_name,
    user_slug,
    validate_drive_name,
)

RETRY_STATUS = {429, 500, 502, 503, 504}


def _unavailable(message: str) -> web.HTTPError:
    """503 with a message the hub shows to the user as-is."""
    err = web.HTTPError(503, message)
    err.jupyterhub_message = message
    return err


async def api_call(spawner, what: str, call: Callable[[], Awaitable]):
    """One API call with the spawner's per-request timeout, retrying transient errors.

    Gives up after `k8s_api_request_retry_timeout` with a 503 the user can act
    on ("try again"); other API errors become a 500 naming what failed.
    """
    result = {}

    async def attempt():
        try:
            result["value"] = await asyncio.wait_for(call(), spawner.k8s_api_request_timeout)
            return True
        except asyncio.TimeoutError:
            spawner.log.warning("Timeout on %s, retrying", what)
            return False
        except ApiException as e:
            if e.status in RETRY_STATUS:
                spawner.log.warning("Kubernetes API error %s on %s, retrying", e.status, what)
                return False
            spawner.log.error("Kubernetes API refused %s: %s %s", what, e.status, e.reason)
            err = web.HTTPError(
                500, f"The cluster refused {what} ({e.status} {e.reason}). Ask an administrator."
            )
            err.jupyterhub_message = err.log_message
            raise err from None

    try:
        await exponential_backoff(attempt, f"{what} failed", timeout=spawner.k8s_api_request_retry_timeout)
    except TimeoutError:
        raise _unavailable(
            f"The cluster did not answer in time ({what}). Nothing was changed; please try again."
        ) from None
    return result["value"]


class KubeDriveBackend(DriveBackend):
    """Drives as PVCs in the spawner's namespace, through the spawner's API client."""

    def __init__(self, spawner):
        self.spawner = spawner

    @property
    def log(self):
        return self.spawner.log

    @property
    def namespace(self) -> str:
        return self.spawner.namespace

    async def _call(self, what: str, call: Callable[[], Awaitable]):
        return await api_call(self.spawner, what, call)

    def _plain(self, model) -> dict:
        """A client model as the JSON the API sent (camelCase keys)."""
        return self.spawner.api.api_client.sanitize_for_serialization(model)

    def _to_drive(self, pvc: dict, username: str) -> Drive | None:
        meta = pvc.get("metadata") or {}
        ann = meta.get("annotations") or {}
        if ann.get(ANNOTATION_USER) != username:
            return None
        name = ann.get(ANNOTATION_DRIVE, "")
        try:
            validate_drive_name(name)
        except DriveError:
            return None
        status = pvc.get("status") or {}
        size = (status.get("capacity") or {}).get("storage") or (
            ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
        ).get("storage", "")
        return Drive(
            name=name,
            owner=username,
            size=str(size),
            created=str(meta.get("creationTimestamp") or ""),
            ref=meta.get("name", ""),
        )

    async def _list_labelled(self, username: str) -> list[dict]:
        """Claims carrying the user's owner label, new or pre-0.2 (one request)."""
        owners = sorted({user_slug(username), legacy_user_slug(username)})
        selector = f"{LABEL_COMPONENT}={COMPONENT_DRIVE},{LABEL_DRIVE_OWNER} in ({','.join(owners)})"
        api = self.spawner.api

        async def call():
            listed = await api.list_namespaced_persistent_volume_claim(
                self.namespace, label_selector=selector
            )
            return self._plain(listed)

        listed = await self._call(f"list drives of user={username}", call)
        return listed.get("items", [])

    async def list_drives(self, username: str) -> list[Drive]:
        by_name: dict[str, Drive] = {}
        for pvc in await self._list_labelled(username):
            drive = self._to_drive(pvc, username)  # exact annotations only
            if drive is None:
                continue
            # a drive's claim under its new name wins over a pre-0.2 one (get_drive does the same)
            if drive.name not in by_name or drive.ref == pvc_name(username, drive.name):
                by_name[drive.name] = drive
        return sorted(by_name.values(), key=lambda d: d.name)

    async def _read(self, username: str, name: str) -> dict | None:
        api = self.spawner.api
        claim = pvc_name(username, name)

        async def call():
            try:
                return self._plain(await api.read_namespaced_persistent_volume_claim(claim, self.namespace))
            except ApiException as e:
                if e.status == 404:
                    return None
                raise

        return await self._call(f"read drive={name} of user={username}", call)

    async def _legacy(self, username: str, name: str) -> dict | None:
        """The pre-0.2 claim of exactly this user and drive, if there is one."""
        for pvc in await self._list_labelled(username):
            drive = self._to_drive(pvc, username)
            if drive is not None and drive.name == name and drive.ref != pvc_name(username, name):
                self.log.info("Using pre-0.2 claim %s for user=%s drive=%s", drive.ref, username, name)
                return pvc
        return None

    def _checked(self, pvc: dict, username: str, name: str) -> Drive:
        drive = self._to_drive(pvc, username)
        if drive is None or drive.name != name:
            self.log.error(
                "PVC %s exists but does not belong to user=%s drive=%s; refusing to use it",
                pvc["metadata"].get("name"),
                username,
                name,
            )
            raise DriveError(
                f"Drive '{name}' cannot be used: its storage belongs to something else. Ask an administrator."
            )
        return drive

    async def get_drive(self, username: str, name: str) -> Drive | None:
        validate_drive_name(name)
        pvc = await self._read(username, name)
        if pvc is None:
            pvc = await self._legacy(username, name)
        return None if pvc is None else self._checked(pvc, username, name)

    def manifest(self, username: str, name: str) -> dict:
        sp = self.spawner
        spec = {
            "accessModes": list(sp.drive_access_modes),
            "resources": {"requests": {"storage": sp.drive_capacity}},
        }
        if sp.drive_storage_class is not None:
            spec["storageClassName"] = sp.drive_storage_class
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": pvc_name(username, name),
                "labels": {**sp.drive_extra_labels, **drive_labels(username, name)},
                "annotations": drive_annotations(username, name),
            },
            "spec": spec,
        }

    async def create_drive(self, username: str, name: str) -> Drive:
        validate_drive_name(name)
        body = self.manifest(username, name)
        api = self.spawner.api
        if self.spawner.enable_user_namespaces:
            await self.spawner._ensure_namespace()  # a user's first drive comes before their first pod

        async def call():
            try:
                return self._plain(await api.create_namespaced_persistent_volume_claim(self.namespace, body))
            except ApiException as e:
                if e.status == 409:  # created meanwhile (or by a retried request)
                    return None
                if e.status == 422:
                    self.log.error("Drive PVC rejected for user=%s drive=%s: %s", username, name, e.body)
                    raise DriveError(
                        f"Drive '{name}' could not be created: the cluster refused it."
                    ) from None
                raise

        created = await self._call(f"create drive={name} of user={username}", call)
        if created is None:
            created = await self._read(username, name)
            if created is None:
                raise _unavailable(f"Drive '{name}' could not be created; please try again.")
            self.log.info(
                "Drive already existed: user=%s drive=%s pvc=%s", username, name, body["metadata"]["name"]
            )
        else:
            self.log.info("Created drive user=%s drive=%s pvc=%s", username, name, body["metadata"]["name"])
        return self._checked(created, username, name)
