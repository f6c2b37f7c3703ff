"""The Kubernetes backend: a KubeSpawner that runs sessions as pods.

A session's options become KubeSpawner traits (image, resources, node
placement, extra pod/container config, environment) plus two volumes: the
user's drive (a PVC, see kube_drives), which is the server's root, its working
directory and $HOME, and an emptyDir scratch space. Traits the admin configured
are the base; each session starts from that base, so nothing from a previous
session leaks into the next.

Starting and watching a session follows the cluster as it is (see kube_status):
a start that cannot succeed (image not found, server crashing) fails at once
with the cluster's reason, one that does not get a node gives up just before
the hub's timeout with the scheduler's message, and a pod that crash-loops or
is evicted counts as stopped. Which pods hold a drive comes from KubeSpawner's
shared pod reflector (one watch for the hub), not a listing per spawn.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import re

from jupyterhub.utils import exponential_backoff
from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner import KubeSpawner
from traitlets import Dict, Float, List, TraitError, Unicode, default, validate

from ..drives import (
    ANNOTATION_DRIVE,
    LABEL_DRIVE,
    LABEL_DRIVE_OWNER,
    DriveInUse,
    drive_slug,
    legacy_drive_slug,
    pvc_name,
    user_slug,
)
from ..options import SessionOptions
from ..profiles import PROFILE_LIST_CONFLICT, SessionType, memory_bytes
from . import kube_status
from .kube_drives import RETRY_STATUS, KubeDriveBackend
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


def _volume_rows(pod: dict) -> list[dict]:
    """(name, what, where) of each volume the pod's notebook container mounts."""
    spec = pod.get("spec") or {}
    sources = {v.get("name"): v for v in spec.get("volumes") or []}
    rows = []
    container = (spec.get("containers") or [{}])[0]
    for mount in container.get("volumeMounts") or []:
        vol = sources.get(mount.get("name")) or {}
        kind = next((k for k in vol if k != "name"), "")
        detail = vol.get(kind) or {}
        what = kind + (
            " " + ", ".join(f"{k}={v}" for k, v in detail.items()) if isinstance(detail, dict) else ""
        )
        rows.append({"name": mount.get("name"), "what": what.strip(), "where": mount.get("mountPath")})
    return rows


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


class WatchedStart:
    """KubeSpawner's public `start()`, raced against a watch of the new pod.

    A class of its own, listed between `SessionSpawnerMixin` and `KubeSpawner` in
    `SessionKubeSpawner`'s bases, so the mixin's `start()` (which records why a start failed, for
    the dashboard and the spawn form) wraps the whole watched start, and `super().start()` here is
    KubeSpawner's. KubeSpawner 7.0 and 7.1 offer no hook for this: `modify_pod_hook` and
    `after_pod_created_hook` run before the pod exists or once, not while it comes up.
    """

    async def start(self):
        """KubeSpawner's start, ended early when the cluster says it cannot succeed.

        If it fails, any pod it may have left behind is removed: a create whose
        response was lost (or that the hub's timeout cancelled) may still have
        made a pod, and the hub's own clean-up only stops pods its watch has seen.
        """
        self._start_began = asyncio.get_running_loop().time()  # the hub's start_timeout runs from here
        # mark where this start's events begin now, before the first await: the progress page may
        # already be reading, and must not take the last pod's events for this one's
        old_events = self.events
        if old_events:
            self._last_event = old_events[-1]["metadata"]["uid"]
        try:
            return await self._start_watched()
        except BaseException as e:  # also a start cancelled by the hub's start_timeout
            self.log.warning(
                "Start failed for %s (%s: %s); removing pod %s if it exists",
                self._log_who,
                type(e).__name__,
                getattr(e, "jupyterhub_message", "") or e,
                self.pod_name,
            )
            try:
                await self.stop(now=True)
            except Exception:
                self.log.exception("Could not remove pod %s of %s", self.pod_name, self._log_who)
            if isinstance(e, ApiException) and e.status in (403, 422):
                raise self._refused(e) from None
            if isinstance(e, ApiException):
                raise _pod_create_error(e) from e
            raise

    def _refused(self, e: ApiException):
        """The cluster refused the pod (admission, quota, policy): say why, as it said it."""
        try:
            said = json.loads(e.body).get("message") or e.reason
        except (TypeError, ValueError, AttributeError):
            said = e.reason
        return user_error(
            500,
            f"The cluster refused the session's pod ({e.status} {e.reason}): {said}. Ask an administrator.",
        )

    async def _start_watched(self):
        """Run KubeSpawner's start beside a watch on the new pod; the first to finish wins."""
        reflector = await self._pod_watch("watch the session's pod")
        old = reflector.pods.get(self._ref_key)
        stale_uid = old["metadata"].get("uid") if old else None
        # KubeSpawner.start() keeps this future as `_start_future`, which ends its progress events
        start = asyncio.ensure_future(super().start())
        watch = asyncio.ensure_future(self._watch_start(stale_uid))
        try:
            done, _ = await asyncio.wait({start, watch}, return_when=asyncio.FIRST_COMPLETED)
            if start in done:
                return start.result()
            return watch.result()  # raises the cluster's reason
        finally:
            for task in (start, watch):
                if not task.done():
                    task.cancel()
            await asyncio.gather(start, watch, return_exceptions=True)

    async def _watch_start(self, stale_uid: str | None):
        """Raise (with the cluster's words) once the new pod cannot come up, or just before
        the hub's start_timeout would end the spawn with no reason at all."""
        loop = asyncio.get_running_loop()
        margin = max(1.0, min(5.0, self.start_timeout * 0.1))
        deadline = self._start_began + self.start_timeout - margin
        while loop.time() < deadline:
            await asyncio.sleep(max(0.0, min(0.25, deadline - loop.time())))
            pod = self.pod_reflector.pods.get(self._ref_key) if self.pod_reflector else None
            if pod is None or pod["metadata"].get("uid") == stale_uid:
                continue
            trouble = kube_status.start_trouble(pod, self.events)
            if trouble:
                self.log.warning("Giving up start of %s pod %s: %s", self._log_who, self.pod_name, trouble)
                raise user_error(500, f"The session could not start. {trouble}")
        message = kube_status.gave_up_message(self.start_timeout - margin, self.events)
        self.log.warning("Giving up start of %s pod %s: %s", self._log_who, self.pod_name, message)
        raise user_error(503, message)


class SessionKubeSpawner(SessionSpawnerMixin, WatchedStart, KubeSpawner):
    """KubeSpawner for jupyterhub-sessions: session types, named drives, timeouts."""

    drive_mount_path = Unicode(
        "/home/jovyan",
        config=True,
        help="""Where the session's drive (its PVC) is mounted in the session container.

        It is also the server's root (the file browser), the working directory
        and $HOME, so everything a user saves, dotfiles included, is on the
        drive, as on the embedded backend. The default is the home of the
        docker-stacks `jovyan` user, as in Zero to JupyterHub; e.g. '/home/jovyan'.
        """,
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
        help="""sizeLimit of the scratch emptyDir (a Kubernetes quantity); None = no limit.

        The session also requests and is limited to this much `ephemeral-storage`,
        so the scheduler only places it on a node with that much local disk free
        (a limit without a request would let nodes fill up and evict sessions).
        The limit covers everything the pod writes outside its drive: scratch,
        the container's own filesystem and its logs. E.g. '20Gi'.
        """,
    )

    stuck_after = Float(
        60.0,
        config=True,
        help="""Seconds past its grace period after which a stopping pod counts as stuck.

        A pod on a node that stopped answering is never confirmed gone; while it
        exists its drive stays attached there. After this long, starting a session
        on that drive is refused with a message naming the pod, its node, since
        when it is stopping and how an administrator can remove it. E.g. 60.
        """,
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

    @validate("profile_list")
    def _refuse_profile_list(self, proposal):
        # a KubeSpawner profile would silently replace the session type's image and resources;
        # z2jh_config refuses it at hub start, this catches one set later (e.g. a later extraConfig)
        if proposal["value"]:
            self.log.error(PROFILE_LIST_CONFLICT.format(where="KubeSpawner.profile_list"))
            raise TraitError(PROFILE_LIST_CONFLICT.format(where="KubeSpawner.profile_list"))
        return proposal["value"]

    @validate("guarantee_fraction")
    def _check_fraction(self, proposal):
        if not 0 < proposal["value"] <= 1:
            raise ValueError("guarantee_fraction must be in (0, 1]")
        return proposal["value"]

    @default("fs_gid")
    def _default_fs_gid(self):
        # a new drive's root belongs to root: group `users` (docker-stacks' jovyan
        # is in it) makes it writable, as Zero to JupyterHub's singleuser.fsGid does
        return 100

    @default("cmd")
    def _default_cmd(self):
        # an explicit command, so KubeSpawner passes our args (it drops them
        # when the image's own entrypoint is used)
        return ["jupyterhub-singleuser"]

    # the drive is the server's root and working directory (the file browser opens there)
    @default("notebook_dir")
    def _default_notebook_dir(self):
        return self.drive_mount_path

    @default("working_dir")
    def _default_working_dir(self):
        return self.drive_mount_path

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

    async def _pod_watch(self, what: str):
        """KubeSpawner's shared pod reflector, started if needed; a first listing that
        failed is retried (KubeSpawner would re-raise that failure on every spawn).
        Transient API errors are retried up to `k8s_api_request_retry_timeout`."""

        def failed() -> bool:
            reflector = self.pod_reflector
            first = reflector.first_load_future if reflector else None
            return bool(first and first.done() and not first.cancelled() and first.exception())

        result = {}

        async def attempt():
            try:
                result["reflector"] = await self._start_watching_pods(replace=failed())
                return True
            except ApiException as e:
                if e.status in RETRY_STATUS:
                    self.log.warning(
                        "Kubernetes API error %s on %s for %s, retrying", e.status, what, self._log_who
                    )
                    return False
                self.log.error(
                    "Kubernetes API refused %s for %s: %s %s", what, self._log_who, e.status, e.reason
                )
                raise user_error(
                    500, f"The cluster refused to {what} ({e.status} {e.reason}). Ask an administrator."
                ) from None

        try:
            await exponential_backoff(attempt, f"{what} failed", timeout=self.k8s_api_request_retry_timeout)
        except (TimeoutError, asyncio.TimeoutError):
            raise user_error(
                503, f"The cluster did not answer in time ({what}). Nothing was changed; please try again."
            ) from None
        return result["reflector"]

    async def _check_drive_free(self, opts: SessionOptions) -> None:
        """Refuse (409) if a pod still holds the drive, even one the hub lost track of.

        Reads KubeSpawner's shared pod reflector (one list and watch for the whole
        hub), so a spawn costs no API request. Pods that ended (Failed/Succeeded)
        hold nothing. Our own leftover pod is KubeSpawner's to replace, unless it
        is stuck stopping on a node that no longer answers.
        """
        reflector = await self._pod_watch(f"check whether drive '{opts.drive}' is in use")
        # pods started before 0.2 carry the old drive label
        slugs = {drive_slug(self.user.name, opts.drive), legacy_drive_slug(self.user.name, opts.drive)}
        now = datetime.datetime.now(datetime.timezone.utc)
        for pod in list(reflector.pods.values()):
            meta = pod.get("metadata") or {}
            if (
                meta.get("namespace") != self.namespace
                or (meta.get("labels") or {}).get(LABEL_DRIVE) not in slugs
            ):
                continue
            if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
                continue
            stuck = (
                bool(meta.get("deletionTimestamp"))
                and kube_status.overdue_seconds(pod, now) > self.stuck_after
            )
            if meta.get("name") == self.pod_name and not stuck:
                continue
            if stuck:
                message = kube_status.stuck_message(opts.drive, pod, now)
            elif meta.get("deletionTimestamp"):
                message = f"Drive '{opts.drive}' is still in use by a session that is stopping. Try again in a minute."
            else:
                holder = (meta.get("annotations") or {}).get("hub.jupyter.org/servername", "")
                message = str(DriveInUse(opts.drive, holder))
            self.log.warning(
                "Refused %s drive=%s: pod %s holds it (node=%s, stopping=%s)",
                self._log_who,
                opts.drive,
                meta.get("name"),
                (pod.get("spec") or {}).get("nodeName"),
                meta.get("deletionTimestamp") or "no",
            )
            raise user_error(409, message)

    async def apply_session(self, opts: SessionOptions, st: SessionType) -> None:
        """Turn validated options into KubeSpawner traits (from the configured base)."""
        if self.enable_user_namespaces:
            await self._ensure_namespace()
        await self._check_drive_free(opts)
        # the claim ensure_drive found for exactly this user and drive (a pre-0.2 one keeps its name)
        claim = self.session_drive.ref if self.session_drive else pvc_name(self.user.name, opts.drive)
        self.configure_pod(opts, st, claim)
        self.log.info(
            "Pod for %s: type=%s image=%s cpu=%s memory=%s gpu=%s drive=%s pvc=%s",
            self._log_who,
            st.slug,
            opts.image,
            opts.cpu,
            opts.memory,
            opts.gpu,
            opts.drive,
            claim,
        )

    def configure_pod(self, opts: SessionOptions, st: SessionType, claim: str) -> None:
        """The KubeSpawner traits of a session (no API calls: the type details' pod spec uses it too)."""
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
        if self.scratch_size_limit:
            limits.setdefault("ephemeral-storage", self.scratch_size_limit)
            guarantees.setdefault("ephemeral-storage", limits["ephemeral-storage"])
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
                "persistentVolumeClaim": {"claimName": claim},
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

    async def launch_preview(self, opts: SessionOptions, st: SessionType) -> dict:
        """The pod this type would run, as YAML: KubeSpawner's own `get_pod_manifest()` on this
        (preview) spawner configured by `configure_pod`, exactly as a start builds it; no API call."""
        import yaml
        from kubernetes_asyncio.client import ApiClient

        from .preview import redact_pod

        self.session = opts
        self.session_type_obj = st
        self.default_url = self.session_default_url(st)
        self.configure_pod(opts, st, pvc_name(self.user.name, opts.drive))
        manifest = await self.get_pod_manifest()
        pod = redact_pod(ApiClient().sanitize_for_serialization(manifest))
        volumes = _volume_rows(pod)
        return {
            "kind": "pod",
            "title": "Pod spec",
            "text": yaml.safe_dump(pod, sort_keys=False, default_flow_style=False, width=100),
            "volumes": volumes,
            "note": "Generated by KubeSpawner.get_pod_manifest() for a session named "
            f"“{self.name or 'default'}” with the type's default choices; tokens are created when it starts.",
        }

    @property
    def _ref_key(self) -> str:
        return f"{self.namespace}/{self.pod_name}"

    # ---- the one private KubeSpawner method overridden --------------------------------------
    #
    # KubeSpawner 7.0 (the Zero to JupyterHub 4.4.0 hub) and 7.1 have no public hook for a failed
    # pod deletion: `stop()` runs `_make_delete_pod_request` under `exponential_backoff`, which
    # retries only a False result and lets any ApiException out, and the hub then forgets a
    # session whose pod keeps running. Re-implementing `stop()` would copy KubeSpawner's
    # reflector and backoff logic; overriding the one request method keeps its contract
    # (True/False, used with exponential_backoff) and turns transient API errors into a retry.
    # Checked against KubeSpawner 7.0.0 and 7.1.0: same signature and contract.

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

    async def poll(self):
        """KubeSpawner's poll, plus: a crash-looping server or a pod the cluster is
        removing (evicted, node lost) is a stopped session, so the hub tidies up."""
        status = await super().poll()
        if status is not None:
            return status
        pod = self.pod_reflector.pods.get(self._ref_key) if self.pod_reflector else None
        if pod is None or (pod.get("status") or {}).get("phase") == "Pending":
            return status
        if pod["metadata"].get("deletionTimestamp"):
            # evicted, or its node is gone: the cluster is deleting it; forcing that from here
            # could leave a partitioned node writing to the drive, so it is left to the cluster
            self.log.warning("Pod %s of %s is being removed by the cluster", self.pod_name, self._log_who)
            return 1
        crashed = kube_status.crash_of(pod)
        if crashed:
            self.log.warning("Pod %s of %s is crash-looping: %s", self.pod_name, self._log_who, crashed)
            if self.delete_stopped_pods:  # the hub only stops servers it thinks are running
                try:
                    await self.stop(now=True)
                except Exception:
                    self.log.exception("Could not remove crashed pod %s of %s", self.pod_name, self._log_who)
            return crashed[0] or 1
        return None

    async def stop(self, now=False):
        """KubeSpawner's stop; a pod that stays after its deletion was accepted (its node
        no longer answers) is left to the cluster instead of failing the stop."""
        try:
            return await super().stop(now=now)
        except (TimeoutError, asyncio.TimeoutError):
            pod = self.pod_reflector.pods.get(self._ref_key) if self.pod_reflector else None
            if pod is None or not pod["metadata"].get("deletionTimestamp"):
                raise
            self.log.warning(
                "Pod %s of %s is still stopping on node %s (not answering?); its drive stays attached "
                "until the pod is gone",
                self.pod_name,
                self._log_who,
                (pod.get("spec") or {}).get("nodeName"),
            )

    def get_env(self):
        """KubeSpawner's environment plus the session's (not template-expanded: it holds JSON)."""
        env = super().get_env()
        env.update(self.session_environment())
        env.setdefault("HOME", self.drive_mount_path)  # dotfiles and caches on the drive too
        env.setdefault("SCRATCH", self.scratch_mount_path)
        return env

    async def delete_forever(self):
        """Called when a server or user is deleted: drives are kept, always."""
        self.log.info("Keeping all drives of %s (drives are never deleted by the hub)", self._log_who)
