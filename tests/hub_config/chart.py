"""The hub pod of a Zero to JupyterHub install, laid out from the chart's own files.

The chart (`$Z2JH_CHART_DIR`, default `<repo>/../shared/z2jh-4.4.0`) is used read-only:

- values: the chart's `values.yaml` deep-merged (Helm's rules) with ours
  (`hub_config/kubernetes/values.yaml`) and a test's overrides, validated against the
  chart's `values.schema.yaml`, as `helm install` does;
- the pod's files, under a temporary root standing in for `/`: the chart's
  `jupyterhub_config.py` and `z2jh.py` at `/usr/local/etc/jupyterhub/`, the
  ConfigMap's resource names in `config/`, the Secret (rendered values with `Chart`
  and `Release`, generated secrets, service tokens) in `secret/`, every
  `hub.extraFiles` entry at its `mountPath`, volumes under `/srv`;
- the container's environment (deployment.yaml's `env`, `hub.extraEnv`, and the
  `<SERVICE>_SERVICE_PORT` variables Kubernetes adds).

`HubPod.load_config()` runs the chart's config in this process with its paths pointed
at the root (a patched copy, the chart's files are not edited); `HubPod.command()`
runs it unpatched in a private mount namespace where the root's directories are
mounted at the real paths and the chart's Service names resolve to 127.0.0.1 (a
stand-in for cluster DNS).
"""

from __future__ import annotations

import copy
import os
import re
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OUR_VALUES = REPO / "hub_config" / "kubernetes" / "values.yaml"
CHART_ENV = "Z2JH_CHART_DIR"
CHART_MOUNT = "/usr/local/etc/jupyterhub"  # where deployment.yaml mounts the chart's config
HUB_WORKDIR = "/srv/jupyterhub"  # the hub image's WORKDIR; the sqlite-pvc volume
RELEASE = "sessions"


def chart_dir() -> Path:
    """The chart's files: `$Z2JH_CHART_DIR`, else `<repo>/../shared/z2jh-4.4.0`.

    Missing: a failure in CI (`CI=true`), a skip elsewhere.
    """
    value = os.environ.get(CHART_ENV)
    path = Path(value) if value else REPO.parent / "shared" / "z2jh-4.4.0"
    if (path / "jupyterhub" / "files" / "hub" / "jupyterhub_config.py").is_file():
        return path.resolve()
    why = f"Zero to JupyterHub chart files not found at {path} (set {CHART_ENV})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why)
    pytest.skip(why)


def chart_version(chart: Path) -> str:
    """The chart release the files come from (their README names the tag)."""
    m = re.search(r"release tag `([^`]+)`", (chart / "README.md").read_text())
    if m:
        return m.group(1)
    m = re.search(r"(\d+\.\d+\.\d+)$", chart.name)
    assert m, f"no chart version in {chart}/README.md or its name"
    return m.group(1)


def chart_pins(chart: Path) -> dict[str, str]:
    """`package: version` of the chart's hub image (images/hub/requirements.txt)."""
    pins = {}
    for line in (chart / "images" / "hub" / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def chart_python() -> str:
    """The chart's Python (its hub image has 3.12) if this machine has it, else this one's base Python."""
    import glob
    import subprocess

    candidates = [os.environ.get("Z2JH_PYTHON", ""), "python3.12"]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    for candidate in filter(None, candidates):
        exe = shutil.which(candidate) or candidate
        try:
            ok = subprocess.run([exe, "-c", "import venv"], capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return exe
    return getattr(sys, "_base_executable", sys.executable)


# -- values -----------------------------------------------------------------------------


def helm_merge(base: dict, override: dict) -> dict:
    """Helm's merge of user values into defaults: maps merge, anything else replaces, null deletes."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = helm_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def drop_nulls(values):
    """Values as the chart's Secret renders them (`merge dict .Values | toYaml`): null keys left out.

    The chart's config relies on it: `get_config("nameOverride", default=...)` must see no key,
    not a null (a null would become the pods' `app` label).
    """
    if isinstance(values, dict):
        return {k: drop_nulls(v) for k, v in values.items() if v is not None}
    if isinstance(values, list):
        return [drop_nulls(v) for v in values]
    return values


def our_values() -> dict:
    return yaml.safe_load(OUR_VALUES.read_text())


def render_values(chart: Path, *overrides: dict, ours: bool = True) -> dict:
    """Chart defaults + our values + overrides, validated like `helm install` does."""
    import jsonschema

    values = yaml.safe_load((chart / "jupyterhub" / "values.yaml").read_text())
    for extra in ([our_values()] if ours else []) + list(overrides):
        values = helm_merge(values, extra)
    schema = yaml.safe_load((chart / "jupyterhub" / "values.schema.yaml").read_text())
    jsonschema.validate(values, schema)
    return values


def name_templates(values: dict, release: str = RELEASE) -> dict[str, str]:
    """Resource names, as the chart's `jupyterhub.name-templates` renders them into the ConfigMap."""
    override = values.get("fullnameOverride")
    if isinstance(override, str):
        fullname = override
    else:
        name = values.get("nameOverride") or "jupyterhub"
        fullname = release if name in release else f"{release}-{name}"
    dash = f"{fullname}-" if fullname else ""
    names = {
        "fullname": fullname,
        "fullname-dash": dash,
        "hub": f"{dash}hub",
        "hub-pvc": f"{dash}hub-db-dir",
        "proxy": f"{dash}proxy",
        "proxy-api": f"{dash}proxy-api",
        "proxy-http": f"{dash}proxy-http",
        "proxy-public": f"{dash}proxy-public",
        "autohttps": f"{dash}autohttps",
        "singleuser": f"{dash}singleuser",
        "image-pull-secret": f"{dash}image-pull-secret",
        "user-scheduler-deploy": f"{dash}user-scheduler",
        "user-placeholder": f"{dash}user-placeholder",
    }
    names["priority"] = fullname or f"{release}-default-priority"
    names["user-scheduler"] = names["user-scheduler-deploy"] if fullname else f"{release}-user-scheduler"
    return names


def autohttps(values: dict) -> bool:
    """The chart's `$autoHTTPS`: traefik in front, and a `proxy-http` Service to the proxy."""
    https = values["proxy"]["https"]
    return bool(https.get("enabled") and https.get("hosts") and https.get("type") == "letsencrypt")


# -- the pod ----------------------------------------------------------------------------


@dataclass
class HubPod:
    chart: Path
    root: Path  # stands in for the container's `/`
    values: dict
    release: str = RELEASE
    names: dict = field(default_factory=dict)

    def __post_init__(self):
        self.names = self.names or name_templates(self.values, self.release)

    def path(self, container_path: str) -> Path:
        """Where a path of the container lives under the root."""
        return self.root / container_path.lstrip("/")

    @property
    def etc(self) -> Path:
        return self.path(CHART_MOUNT)

    # what deployment.yaml mounts (checked against the template in the tests)
    def volume_mounts(self) -> list[str]:
        hub = self.values["hub"]
        mounts = [f"{CHART_MOUNT}/{name}" for name in ("jupyterhub_config.py", "z2jh.py", "config", "secret")]
        mounts += [f["mountPath"] for f in (hub.get("extraFiles") or {}).values()]
        mounts += [m["mountPath"] for m in hub.get("extraVolumeMounts") or []]
        if hub["db"]["type"] == "sqlite-pvc":
            mounts.append(HUB_WORKDIR)
        return mounts

    def on_volume(self, container_path: str) -> bool:
        p = Path(container_path)
        return any(p == Path(m) or Path(m) in p.parents for m in self.volume_mounts())

    def layout(self, chart_config_paths: bool = False) -> HubPod:
        """Write the pod's files. `chart_config_paths`: the chart's files point at the root."""
        self.etc.mkdir(parents=True, exist_ok=True)
        for name in ("jupyterhub_config.py", "z2jh.py"):
            text = (self.chart / "jupyterhub" / "files" / "hub" / name).read_text()
            if chart_config_paths:
                text = text.replace(CHART_MOUNT, str(self.etc))
            (self.etc / name).write_text(text)
        config = self.etc / "config"
        config.mkdir(exist_ok=True)
        for key, value in self.names.items():
            (config / key).write_text(value)
        self._write_secret()
        for item in (self.values["hub"].get("extraFiles") or {}).values():
            target = self.path(item["mountPath"])
            target.parent.mkdir(parents=True, exist_ok=True)
            if "stringData" in item:
                target.write_text(item["stringData"])
            elif "data" in item:
                target.write_text(yaml.safe_dump(item["data"]))
        self.path(HUB_WORKDIR).mkdir(parents=True, exist_ok=True)
        for mount in self.values["hub"].get("extraVolumeMounts") or []:
            self.path(mount["mountPath"]).mkdir(parents=True, exist_ok=True)
        return self

    def _write_secret(self) -> None:
        secret = self.etc / "secret"
        secret.mkdir(exist_ok=True)
        rendered = drop_nulls(self.values)
        rendered["Chart"] = {
            "Name": "jupyterhub",
            "Version": chart_version(self.chart),
            "AppVersion": "5.5.0",
        }
        rendered["Release"] = {"Name": self.release, "Namespace": "default", "Service": "Helm"}
        (secret / "values.yaml").write_text(yaml.safe_dump(rendered))
        for key in (
            "hub.config.ConfigurableHTTPProxy.auth_token",
            "hub.config.JupyterHub.cookie_secret",
            "hub.config.CryptKeeper.keys",
        ):
            if not (secret / key).exists():
                (secret / key).write_text(secrets.token_hex(32))
        for key, service in (self.values["hub"].get("services") or {}).items():
            token = service.get("apiToken") or secrets.token_hex(32)
            (secret / f"hub.services.{key}.apiToken").write_text(token)

    def secret(self, key: str) -> str:
        return (self.etc / "secret" / key).read_text()

    def env(self, service_ports: dict[str, int] | None = None, map_paths: bool = False) -> dict[str, str]:
        """The hub container's environment: deployment.yaml's `env`, `hub.extraEnv`, Service ports.

        `map_paths`: absolute paths in `hub.extraEnv` point under the root (in-process loading).
        """
        env = {
            "PYTHONUNBUFFERED": "1",
            "HELM_RELEASE_NAME": self.release,
            "POD_NAMESPACE": "default",
            "CONFIGPROXY_AUTH_TOKEN": self.secret("hub.config.ConfigurableHTTPProxy.auth_token"),
        }
        for name, value in (self.values["hub"].get("extraEnv") or {}).items():
            if isinstance(value, dict):  # valueFrom etc.: not rendered here
                continue
            value = str(value)
            if map_paths and value.startswith("/"):
                value = str(self.path(value))
            env[name] = value
        ports = {"hub": 8081, "proxy-api": 8001, "proxy-public": 80, **(service_ports or {})}
        if autohttps(self.values):
            ports.setdefault("proxy-http", 8000)
        for short, port in ports.items():
            var = self.names[short].upper().replace("-", "_") + "_SERVICE_PORT"
            env[var] = str(port)
            if short == "proxy-public":
                env[var + "_HTTP"] = str(port)
        return env

    def restart_filesystem(self) -> list[str]:
        """A new container: everything outside the pod's volumes is gone. Returns what was removed."""
        removed = []
        for top in sorted(self.root.rglob("*"), key=lambda p: len(p.parts)):
            if not top.exists():
                continue
            container = "/" + str(top.relative_to(self.root))
            if self.on_volume(container):
                continue
            if top.is_dir() and any(Path(m).is_relative_to(container) for m in self.volume_mounts()):
                continue  # a parent of a volume: keep the way to it
            removed.append(container)
            if top.is_dir():
                shutil.rmtree(top)
            else:
                top.unlink()
        self.path(HUB_WORKDIR).mkdir(parents=True, exist_ok=True)  # the image's WORKDIR, empty
        return removed

    # -- running the chart's config ---------------------------------------------------
    def load_config(self, monkeypatch, env: dict | None = None):
        """The hub's config as the chart's `jupyterhub_config.py` builds it, in this process."""
        from jupyterhub.app import JupyterHub
        from tornado.httpclient import AsyncHTTPClient

        for key, value in {**self.env(map_paths=True), **(env or {})}.items():
            monkeypatch.setenv(key, value)
        saved_client = AsyncHTTPClient._save_configuration()  # the chart switches to curl
        saved_path = list(sys.path)
        sys.modules.pop("z2jh", None)
        try:
            app = JupyterHub()
            app.load_config_file(str(self.etc / "jupyterhub_config.py"))
            return app.config
        finally:
            AsyncHTTPClient._restore_configuration(saved_client)
            sys.path[:] = saved_path
            sys.modules.pop("z2jh", None)

    def hosts_file(self) -> Path:
        """/etc/hosts of the namespace: the chart's Service names resolve to 127.0.0.1."""
        path = self.root.parent / f"{self.root.name}-hosts"
        names = " ".join(sorted({self.names[k] for k in ("hub", "proxy-api", "proxy-public", "proxy-http")}))
        path.write_text(f"127.0.0.1 localhost {names}\n::1 localhost\n")
        return path

    def command(self, argv: list[str], hub: bool = True) -> list[str]:
        """`argv` in a private mount namespace where the chart's Service names resolve.

        `hub`: the hub container: the root's /usr/local/etc and /srv mounted, in its WORKDIR.
        Otherwise another pod of the release (the proxy): only the names.
        """
        script = f"set -e; mount --bind {self.hosts_file()} /etc/hosts; "
        if hub:
            script += (
                f"mount --bind {self.path('/usr/local/etc')} /usr/local/etc; "
                f"mount --bind {self.path('/srv')} /srv; cd {HUB_WORKDIR}; "
            )
        script += 'exec "$@"'

        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "hub-pod", *argv]


def namespaces_available() -> str | None:
    """Why private mount namespaces cannot be used here, or None when they can."""
    import subprocess

    if shutil.which("unshare") is None:
        return "no unshare command"
    r = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", "mount --bind /srv /srv"],
        capture_output=True,
        text=True,
    )
    return None if r.returncode == 0 else f"unshare --mount failed: {r.stderr.strip()}"
