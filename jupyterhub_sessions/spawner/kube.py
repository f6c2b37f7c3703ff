"""The Kubernetes backend: a KubeSpawner that runs sessions as pods.

A session's options become KubeSpawner traits (image, resources, node
placement, extra pod/container config, environment) plus two volumes: the
user's drive (a PVC, see kube_drives) and an emptyDir scratch space. Traits
the admin configured are the base; each session starts from that base, so
nothing from a previous session leaks into the next.
"""

from __future__ import annotations

import copy
import re

from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner import KubeSpawner
from traitlets import Dict, Float, List, Unicode, default, validate

from ..drives import (
    ANNOTATION_DRIVE,
    LABEL_DRIVE,
    LABEL_DRIVE_OWNER,
    DriveInUse,
    drive_slug,
    pvc_name,
    user_slug,
)
from ..options import SessionOptions
from ..profiles import SessionType, memory_bytes
from .kube_drives import RETRY_STATUS, KubeDriveBackend, api_call
from .mixin import SessionSpawnerMixin, user_error

LABEL_SESSION_TYPE = "sessions.jupyterhub.org/session-type"
ANNOTATION_SESSION_TYPE = "sessions.jupyterhub.org/session-type"
DRIVE_VOLUME = "session-drive"
SCRATCH_VOLUME = "session-scratch"
QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?([KMGTPE]i?|[kmu])?$")
ACCESS_MODES = {"ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"}

# KubeSpawner traits a session sets; their configured values are the base.
SESSION_TRAITS = (
    "image",
    "cpu_limit",
    "cpu_guarantee",
    "mem_limit",
    "mem_guarantee",
    "extra_resource_limits",
    "extra_resource_guarantees",
    "node_selector",
    "tolerations",
    "extra_pod_config",
    "extra_container_config",
    "volumes",
    "volume_mounts",
    "extra_labels",
    "extra_annotations",
)


def _deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _as_list(value) -> list:
    """KubeSpawner list-or-dict traits (volumes, tolerations) as a list."""
    if isinstance(value, dict):
        return [copy.deepcopy(value[k]) for k in sorted(value)]
    return copy.deepcopy(list(value or []))


def _pod_create_error(e: ApiException):
    """What the user sees when the cluster fails the pod's create (not KubeSpawner's bare ApiException)."""
    what = f"({e.status} {e.reason})"
    if e.status in RETRY_STATUS:
        return user_error(503, f"The cluster could not create the session's pod {what}; please try again.")
    return user_error(500, f"The cluster refused the session's pod {what}. Ask an administrator.")


class SessionKubeSpawner(SessionSpawnerMixin, KubeSpawner):
    """KubeSpawner for jupyterhub-sessions: session types, named drives, timeouts."""

    drive_mount_path = Unicode(
        "/home/jovyan/drive",
        config=True,
        help="Where the session's drive (its PVC) is mounted in the session container.",
    )

    scratch_mount_path = Unicode(
        "/scratch",
        config=True,
        help="""Where an emptyDir scratch volume is mounted.

        Scratch space lives as long as the pod: it is fast local disk for
        temporary files, and it is gone when the session stops.
        """,
    )

    scratch_size_limit = Unicode(
        "20Gi",
        allow_none=True,
        config=True,
        help="sizeLimit of the scratch emptyDir (a Kubernetes quantity); None = no limit.",
    )

    drive_capacity = Unicode(
        "10Gi",
        config=True,
        help="Storage requested for each new drive PVC (a Kubernetes quantity such as '10Gi').",
    )

    drive_storage_class = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""StorageClass of new drive PVCs.

        None uses the cluster's default class; an empty string asks for no
        class (pre-provisioned volumes only).
        """,
    )

    drive_access_modes = List(
        Unicode(),
        ["ReadWriteOnce"],
        config=True,
        help="accessModes of new drive PVCs. ReadWriteOnce suits one session per drive.",
    )

    drive_extra_labels = Dict(
        Unicode(),
        config=True,
        help="Extra labels on new drive PVCs (e.g. for backup selection).",
    )

    guarantee_fraction = Float(
        1.0,
        config=True,
        help="""Share of the chosen CPU and memory that is guaranteed (requested).

        1.0 gives each session exactly what the user picked (Guaranteed QoS);
        lower values let nodes be overcommitted. GPUs are always guaranteed.
        """,
    )

    @validate("drive_capacity", "scratch_size_limit")
    def _check_quantity(self, proposal):
        value = proposal["value"]
        if value is not None and not QUANTITY_RE.match(value):
            raise ValueError(
                f"{proposal['trait'].name}: {value!r} is not a Kubernetes quantity such as '10Gi'"
            )
        return value

    @validate("drive_access_modes")
    def _check_modes(self, proposal):
        modes = proposal["value"]
        bad = [m for m in modes if m not in ACCESS_MODES]
        if bad or not modes:
            raise ValueError(
                f"drive_access_modes must be a non-empty list of {sorted(ACCESS_MODES)}, got {modes}"
            )
        return modes

    @validate("guarantee_fraction")
    def _check_fraction(self, proposal):
        if not 0 < proposal["value"] <= 1:
            raise ValueError("guarantee_fraction must be in (0, 1]")
        return proposal["value"]

    @default("cmd")
    def _default_cmd(self):
        # an explicit command, so KubeSpawner passes our args (it drops them
        # when the image's own entrypoint is used)
        return ["jupyterhub-singleuser"]

    # drives are ours, named per drive: KubeSpawner's per-server PVC stays off
    @default("storage_pvc_ensure")
    def _default_pvc_ensure(self):
        return False

    @default("delete_pvc")
    def _default_delete_pvc(self):
        return False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._base_traits = {name: copy.deepcopy(getattr(self, name)) for name in SESSION_TRAITS}
        self._applied: dict = {}
        self._drive_backend = None

    def _session_base(self) -> dict:
        """Trait values to build on: configured ones, or ones changed since our last
        session (e.g. by group_overrides), but never what the last session set."""
        base = {}
        for name in SESSION_TRAITS:
            current = getattr(self, name)
            if name in self._applied and current == self._applied[name]:
                base[name] = self._base_traits[name]
            else:
                base[name] = copy.deepcopy(current)
        return base

    @property
    def drive_backend(self) -> KubeDriveBackend:
        if self._drive_backend is None:
            self._drive_backend = KubeDriveBackend(self)
        return self._drive_backend

    @property
    def _log_who(self) -> str:
        return f"user={self.user.name} session={self.name or '(default)'}"

    async def _check_drive_free(self, opts: SessionOptions) -> None:
        """Refuse if a pod of another server already mounts the drive (e.g. after a hub restart)."""
        selector = f"{LABEL_DRIVE}={drive_slug(self.user.name, opts.drive)}"

        async def list_pods():
            try:
                return (await self.api.list_namespaced_pod(self.namespace, label_selector=selector)).items
            except ApiException as e:
                if e.status == 404:  # user namespace not created yet: no pods
                    return []
                raise

        pods = await api_call(self, f"check whether drive={opts.drive} is in use", list_pods)
        for pod in pods:
            if pod.metadata.name != self.pod_name:
                holder = (pod.metadata.annotations or {}).get("hub.jupyter.org/servername", "")
                err = DriveInUse(opts.drive, holder)
                self.log.warning(
                    "Refused %s drive=%s: pod %s holds it", self._log_who, opts.drive, pod.metadata.name
                )
                raise user_error(409, str(err))

    async def apply_session(self, opts: SessionOptions, st: SessionType) -> None:
        """Turn validated options into KubeSpawner traits (from the configured base)."""
        if self.enable_user_namespaces:
            await self._ensure_namespace()
        await self._check_drive_free(opts)
        base = self._session_base()
        self.image = opts.image

        frac = self.guarantee_fraction
        self.cpu_limit = float(opts.cpu)
        self.cpu_guarantee = float(opts.cpu) * frac
        mem = memory_bytes(opts.memory)
        self.mem_limit = mem
        self.mem_guarantee = int(mem * frac)

        limits = dict(base["extra_resource_limits"])
        guarantees = dict(base["extra_resource_guarantees"])
        gpu_resource = st.resources.gpu.resource_name
        limits.pop(gpu_resource, None)
        guarantees.pop(gpu_resource, None)
        if opts.gpu > 0:
            limits[gpu_resource] = str(opts.gpu)
            guarantees[gpu_resource] = str(opts.gpu)
        self.extra_resource_limits = limits
        self.extra_resource_guarantees = guarantees

        self.node_selector = {**base["node_selector"], **st.node_selector}
        self.tolerations = _as_list(base["tolerations"]) + copy.deepcopy(st.tolerations)
        self.extra_pod_config = _deep_merge(base["extra_pod_config"], st.extra_pod_config)
        self.extra_container_config = _deep_merge(base["extra_container_config"], st.extra_container_config)

        scratch = {"name": SCRATCH_VOLUME, "emptyDir": {}}
        if self.scratch_size_limit:
            scratch["emptyDir"]["sizeLimit"] = self.scratch_size_limit
        self.volumes = _as_list(base["volumes"]) + [
            {
                "name": DRIVE_VOLUME,
                "persistentVolumeClaim": {"claimName": pvc_name(self.user.name, opts.drive)},
            },
            scratch,
        ]
        self.volume_mounts = _as_list(base["volume_mounts"]) + [
            {"name": DRIVE_VOLUME, "mountPath": self.drive_mount_path},
            {"name": SCRATCH_VOLUME, "mountPath": self.scratch_mount_path},
        ]
        self.extra_labels = {
            **base["extra_labels"],
            LABEL_SESSION_TYPE: st.slug,
            LABEL_DRIVE_OWNER: user_slug(self.user.name),
            LABEL_DRIVE: drive_slug(self.user.name, opts.drive),
        }
        self.extra_annotations = {
            **base["extra_annotations"],
            ANNOTATION_SESSION_TYPE: st.slug,
            ANNOTATION_DRIVE: opts.drive,
        }
        self._applied = {name: copy.deepcopy(getattr(self, name)) for name in SESSION_TRAITS}
        self.log.info(
            "Pod for %s: type=%s image=%s cpu=%s memory=%s gpu=%s drive=%s pvc=%s",
            self._log_who,
            st.slug,
            opts.image,
            opts.cpu,
            opts.memory,
            opts.gpu,
            opts.drive,
            pvc_name(self.user.name, opts.drive),
        )

    async def _make_delete_pod_request(self, pod_name, delete_options, grace_seconds, request_timeout):
        """KubeSpawner's pod delete, but transient API errors are retried, not raised.

        Raising here makes the hub forget a session whose pod keeps running.
        """
        try:
            return await super()._make_delete_pod_request(
                pod_name, delete_options, grace_seconds, request_timeout
            )
        except ApiException as e:
            if e.status in RETRY_STATUS or e.status == 409:
                self.log.warning(
                    "Deleting pod %s of %s failed with %s; retrying", pod_name, self._log_who, e.status
                )
                return False
            raise

    async def _start(self):
        """KubeSpawner's start; if it fails, remove any pod it may have left behind.

        A create whose response was lost (or that the hub's timeout cancelled)
        may still have made a pod, and the hub's own clean-up only stops pods
        its watch has already seen.
        """
        try:
            return await super()._start()
        except BaseException as e:  # also a start cancelled by the hub's start_timeout
            self.log.warning(
                "Start failed for %s (%s); removing pod %s if it exists",
                self._log_who,
                type(e).__name__,
                self.pod_name,
            )
            try:
                await self.stop(now=True)
            except Exception:
                self.log.exception("Could not remove pod %s of %s", self.pod_name, self._log_who)
            if isinstance(e, ApiException):
                raise _pod_create_error(e) from e
            raise

    def get_env(self):
        """KubeSpawner's environment plus the session's (not template-expanded: it holds JSON)."""
        env = super().get_env()
        env.update(self.session_environment())
        return env

    async def delete_forever(self):
        """Called when a server or user is deleted: drives are kept, always."""
        self.log.info("Keeping all drives of %s (drives are never deleted by the hub)", self._log_who)
