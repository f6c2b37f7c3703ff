"""jupyterhub-sessions as Zero to JupyterHub runs it: the chart's own loader, values, pod and image.

Everything is held against the chart's real files (`$Z2JH_CHART_DIR`, see chart.py): the
values are validated by the chart's schema, the chart's `jupyterhub_config.py` loads our
config (from `hub.extraFiles`, where the chart puts it), and a real hub started from that
config spawns a session on the fake Kubernetes API.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import jsonschema
import psutil
import pytest
import yaml

from jupyterhub_sessions.hub.compat import available_scope
from jupyterhub_sessions.spawner.kube import SessionKubeSpawner
from jupyterhub_sessions.z2jh_config import Z2JHConfigError
from tests.hubtools import Hub, free_port, kill_processes_of, wait_for
from tests.kube_fake.kubelet import use_cluster

from .chart import (
    CHART_MOUNT,
    HUB_WORKDIR,
    OUR_VALUES,
    HubPod,
    autohttps,
    chart_dir,
    chart_version,
    namespaces_available,
    render_values,
)

KUBE_DIR = OUR_VALUES.parent
STATE_DIR = "/srv/jupyterhub-sessions"
AUTOHTTPS = {"proxy": {"https": {"enabled": True, "type": "letsencrypt", "hosts": ["hub.example.org"]}}}
POSTGRES = {"hub": {"db": {"type": "postgres", "url": "postgresql://hub@db.example.org/jupyterhub"}}}


@pytest.fixture(scope="module")
def chart():
    return chart_dir()


def pod_for(chart, tmp_path, *overrides) -> HubPod:
    return HubPod(chart, tmp_path / "pod", render_values(chart, *overrides)).layout(chart_config_paths=True)


# -- values ------------------------------------------------------------------------------------


def test_our_values_pass_the_charts_schema_which_refuses_typos(chart):
    values = render_values(chart)
    assert values["hub"]["extraFiles"]["jupyterhub-sessions-config"]["mountPath"].startswith(
        CHART_MOUNT + "/jupyterhub_config.d/"
    )
    with pytest.raises(jsonschema.ValidationError, match="extraFile"):
        render_values(chart, {"hub": {"extraFile": {}}})  # the schema is really applied


def test_the_config_the_chart_runs_is_the_shipped_config_file():
    values = yaml.safe_load(OUR_VALUES.read_text())
    snippet = values["hub"]["extraFiles"]["jupyterhub-sessions-config"]["stringData"]
    assert snippet == (KUBE_DIR / "jupyterhub_config.py").read_text()
    assert "get_config()" not in snippet  # z2jh's get_config needs a key: TypeError in the chart


# -- the chart's loader -------------------------------------------------------------------------


def test_the_charts_loader_runs_our_config(chart, tmp_path, monkeypatch):
    pod = pod_for(chart, tmp_path)
    c = pod.load_config(monkeypatch)
    # the chart's own config ran (its labels, its proxy), then ours from jupyterhub_config.d
    assert c.KubeSpawner.common_labels["app.kubernetes.io/managed-by"] == "kubespawner"
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.JupyterHub.spawner_class == "jupyterhub_sessions.spawner.kube.SessionKubeSpawner"
    assert c.JupyterHub.allow_named_servers is True and c.JupyterHub.named_server_limit_per_user == 3
    assert c.KubeSpawner.storage_pvc_ensure is False and c.KubeSpawner.delete_pvc is False
    assert c.SessionKubeSpawner.drive_capacity == "20Gi"  # hub.config pass-through from our values
    services = {s["name"]: s for s in c.JupyterHub.services}
    # sessions-dashboard: the home page's read-only token, no process of its own
    assert set(services) == {"sessions", "ssh", "sessions-dashboard"}
    assert "url" not in services["sessions-dashboard"] and services["sessions-dashboard"]["display"] is False
    assert services["sessions"]["url"] == "http://hub:8181"  # the chart's hub Service name
    assert services["ssh"]["url"] == "http://hub:8282"
    state = str(pod.path(STATE_DIR))  # the state volume (hub.extraVolumeMounts)
    assert services["sessions"]["environment"]["JUPYTERHUB_SESSIONS_DATA_DIR"] == state
    assert services["ssh"]["environment"]["JUPYTERHUB_SESSIONS_DATA_DIR"] == state
    # the dashboard's token is kept on the state volume, so it survives a hub pod's restart
    token_file = pod.path(STATE_DIR) / "sessions-dashboard-token"
    assert token_file.read_text().strip() == services["sessions-dashboard"]["api_token"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert set(roles["sessions-dashboard-reader"]["scopes"]) == {
        "read:servers",
        "access:services!service=sessions",
    }
    assert roles["sessions-service"]["services"] == ["sessions"]
    assert {"list:users", "read:servers", "delete:servers"} <= set(roles["sessions-service"]["scopes"])
    assert roles["ssh-service"]["services"] == ["ssh"]
    assert {"read:servers", available_scope("start:servers"), "access:servers"} <= set(
        roles["ssh-service"]["scopes"]
    )
    assert {"access:services!service=sessions", "access:services!service=ssh", "self"} <= set(
        roles["user"]["scopes"]
    )


def test_the_chart_helpers_are_what_our_config_reads(chart):
    # names (ConfigMap) and the Service env vars the chart itself relies on, and the proxy-http label
    config = (chart / "jupyterhub" / "files" / "hub" / "jupyterhub_config.py").read_text()
    z2jh = (chart / "jupyterhub" / "files" / "hub" / "z2jh.py").read_text()
    assert "def get_config(key, default=None)" in z2jh and "def get_name(name)" in z2jh
    assert f'config_dir = "{CHART_MOUNT}/jupyterhub_config.d"' in config
    assert 'get_name_env("proxy-api", "_SERVICE_PORT")' in config
    deployment = (chart / "jupyterhub" / "templates" / "hub" / "deployment.yaml").read_text()
    assert 'hub.jupyter.org/network-access-proxy-http: "true"' in deployment


@pytest.mark.parametrize(
    "overrides, url",
    [
        ({}, "http://proxy-public:80/"),
        (AUTOHTTPS, "http://proxy-http:8000/"),
        ({**AUTOHTTPS, "hub": {"baseUrl": "/jhub/"}}, "http://proxy-http:8000/jhub/"),
        ({"proxy": {"https": {"enabled": True, "type": "offload"}}}, "http://proxy-public:80/"),
        ({"proxy": {"https": {"enabled": True, "type": "manual", "hosts": ["h.org"]}}}, "https://h.org/"),
        ({"fullnameOverride": None}, "http://sessions-jupyterhub-proxy-public:80/"),
    ],
    ids=["default", "autohttps", "autohttps-base-url", "offload", "manual", "release-prefix"],
)
def test_the_ssh_gateway_reaches_sessions_through_the_proxy_url_of_each_value_set(
    chart, tmp_path, monkeypatch, overrides, url
):
    pod = pod_for(chart, tmp_path, overrides)
    c = pod.load_config(monkeypatch)
    (ssh,) = [s for s in c.JupyterHub.services if s["name"] == "ssh"]
    assert ssh["environment"]["JUPYTERHUB_SESSIONS_PUBLIC_URL"] == url


@pytest.mark.parametrize(
    "values, where",
    [
        ({"singleuser": {"profileList": [{"display_name": "Big", "kubespawner_override": {}}]}}, None),
        ({"hub": {"config": {"KubeSpawner": {"profile_list": [{"display_name": "Big"}]}}}}, None),
    ],
    ids=["singleuser.profileList", "hub.config.KubeSpawner.profile_list"],
)
def test_a_kubespawner_profile_list_stops_the_hub_naming_the_setting(
    chart, tmp_path, monkeypatch, values, where
):
    pod = pod_for(chart, tmp_path, values)
    with pytest.raises(Z2JHConfigError, match=r"singleuser\.profileList|KubeSpawner\.profile_list") as e:
        pod.load_config(monkeypatch)
    assert "session type" in str(e.value)


async def test_a_profile_list_set_after_our_config_is_refused_by_the_spawner(kube):
    from traitlets import TraitError

    from tests.kube_fake.hub import FakeHub, spawner_config

    c = spawner_config(kube)
    assert FakeHub(c, SessionKubeSpawner).user("ada").spawner("ok").profile_list == []
    c.KubeSpawner.profile_list = [{"display_name": "Big", "kubespawner_override": {"image": "x"}}]
    with pytest.raises(TraitError, match=r"KubeSpawner\.profile_list is set"):
        FakeHub(c, SessionKubeSpawner).user("ada").spawner("big")


# -- hub state on a volume ----------------------------------------------------------------------


@pytest.mark.parametrize("db", [{}, POSTGRES], ids=["sqlite-pvc", "postgres"])
def test_hub_state_is_on_a_volume_whatever_the_db_type(chart, tmp_path, monkeypatch, db):
    pod = pod_for(chart, tmp_path, db)
    c = pod.load_config(monkeypatch)
    (ssh,) = [s for s in c.JupyterHub.services if s["name"] == "ssh"]
    container_dir = "/" + str(Path(ssh["environment"]["JUPYTERHUB_SESSIONS_DATA_DIR"]).relative_to(pod.root))
    assert container_dir == STATE_DIR
    assert pod.on_volume(container_dir), pod.volume_mounts()
    # the old place, /srv/jupyterhub/sessions, is on a volume only with sqlite-pvc
    assert pod.on_volume(HUB_WORKDIR + "/sessions") is (pod.values["hub"]["db"]["type"] == "sqlite-pvc")
    # what volume_mounts() assumes is what the chart's Deployment template does
    deployment = (chart / "jupyterhub" / "templates" / "hub" / "deployment.yaml").read_text()
    assert re.search(
        r'if eq \.Values\.hub\.db\.type "sqlite-pvc" \}\}\s+- mountPath: /srv/jupyterhub\s', deployment
    )
    assert "{{- with .Values.hub.extraVolumeMounts }}" in deployment


def test_the_state_volume_claim_is_a_valid_pvc_the_values_mount():
    from tests.kube_fake.validation import validate_schema

    manifest = yaml.safe_load((KUBE_DIR / "hub-state-pvc.yaml").read_text())
    validate_schema("PersistentVolumeClaim", manifest)  # the real core/v1 schema
    values = yaml.safe_load(OUR_VALUES.read_text())["hub"]
    (volume,) = [v for v in values["extraVolumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"]["claimName"] == manifest["metadata"]["name"]
    (mount,) = [m for m in values["extraVolumeMounts"] if m["name"] == volume["name"]]
    assert mount["mountPath"] == values["extraEnv"]["JUPYTERHUB_SESSIONS_DATA_DIR"] == STATE_DIR
    assert manifest["spec"]["accessModes"] == ["ReadWriteOnce"]  # the hub Deployment is Recreate


# -- image and docs -----------------------------------------------------------------------------


def dockerfile_stages() -> list[tuple[str, list[str]]]:
    """(FROM line, instructions) per stage of the hub Dockerfile (continuations joined)."""
    text = re.sub(r"\\\n", " ", (KUBE_DIR / "Dockerfile").read_text())
    stages: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append((line, []))
        else:
            stages[-1][1].append(line)
    return stages


def test_the_hub_image_is_the_charts_hub_image_plus_only_the_wheel(chart):
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: a stage with node builds the wheel"
    (_, builder), (final_from, final) = stages[0], stages[-1]
    assert "nodejs" in " ".join(builder) and "--wheel" in " ".join(builder)
    assert final_from == f"FROM quay.io/jupyterhub/k8s-hub:{chart_version(chart)}"
    copies = [i for i in final if i.upper().startswith(("COPY", "ADD"))]
    assert copies and all(i.startswith("COPY --from=") for i in copies)  # no sources, only the wheel
    install = " ".join(i for i in final if "pip install" in i)
    assert re.search(r"pip install .*-c \S+ \S+jupyterhub_sessions-\*\.whl", install)
    assert "npm" not in " ".join(final) and "node" not in " ".join(final)


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore rule (last match wins, `!` re-includes), for a path or any of its parents."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        rx = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        rx = rx.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(rx, c) for c in candidates):
            ignored = not negate
    return ignored


def test_the_build_context_leaves_out_local_state_environments_and_secrets():
    ignore = KUBE_DIR / "Dockerfile.dockerignore"
    assert (KUBE_DIR.parents[1] / ".dockerignore").resolve() == ignore.resolve()
    patterns = [
        line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    for path in (
        ".venv/bin/python",
        ".venv-chart/lib/x.py",
        "data/jupyterhub.sqlite",
        "data/ssh/ssh_host_ed25519_key",
        "labextension/node_modules/react/index.js",
        "jupyterhub_cookie_secret",
        "deploy/tls.key",
        ".env",
    ):
        assert _ignored(patterns, path), path
    for path in (
        "pyproject.toml",
        "README.md",
        "jupyterhub_sessions/__init__.py",
        "jupyterhub_sessions/configs/profiles/notebook.yaml",
        "labextension/src/index.ts",
        "labextension/package-lock.json",
        "jupyter-config/jupyter_server_config.d/jupyterhub_sessions.json",
    ):
        assert not _ignored(patterns, path), path


def test_the_admin_walkthrough_installs_the_tested_chart_version(chart):
    readme = (KUBE_DIR / "README.md").read_text()
    version = chart_version(chart)
    assert re.search(
        rf"helm upgrade --install \S+ jupyterhub/jupyterhub[^\n]*--version {re.escape(version)}", readme
    )
    assert "hub-state-pvc.yaml" in readme and "-f hub_config/kubernetes/values.yaml" in readme
    assert re.search(rf"[Tt]ested[^\n]*{re.escape(version)}", readme)


# -- a real hub from the chart's loader ----------------------------------------------------------


class ChartHub:
    """The proxy pod (configurable-http-proxy) and the hub pod (the chart's config, unpatched)."""

    def __init__(self, chart, tmp_path: Path, kube_api, pod_port: int, *overrides):
        self.admin_token = secrets.token_hex(32)
        self.ports = {name: free_port() for name in ("hub", "proxy-api", "proxy", "sessions", "pages", "ssh")}
        p = self.ports
        test_values = {
            # a test admin, the chart's way (hub.services / hub.loadRoles)
            "hub": {
                "services": {"test-admin": {"apiToken": self.admin_token}},
                "loadRoles": {
                    "test-admin": {
                        "services": ["test-admin"],
                        # tokens it makes for users carry at most its own scopes
                        "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users"]
                        + ["access:servers", "access:services"],
                    }
                },
                # one machine for every pod: each listens on its own loopback port
                "extraEnv": {
                    "JUPYTERHUB_SESSIONS_SERVICE_PORT": str(p["sessions"]),
                    "JUPYTERHUB_SESSIONS_SERVICE_BIND": "127.0.0.1",
                    "JUPYTERHUB_SESSIONS_SSH_SERVICE_PORT": str(p["pages"]),
                    "JUPYTERHUB_SESSIONS_SSH_PORT": str(p["ssh"]),
                    "JUPYTERHUB_SESSIONS_TEST_HUB": str(tmp_path / "pod"),
                },
                "extraConfig": {
                    "zz-test": (
                        f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{p['hub']}'\n"
                        f"c.KubeSpawner.port = {pod_port}\n"
                        "c.KubeSpawner.start_timeout = 30\nc.KubeSpawner.http_timeout = 15\n"
                    )
                },
            },
            # no user-scheduler runs in the fake cluster
            "scheduling": {"userScheduler": {"enabled": False}},
        }
        values = render_values(chart, *overrides, test_values)
        self.pod = HubPod(chart, tmp_path / "pod", values).layout()
        service_ports = {"hub": p["hub"], "proxy-api": p["proxy-api"], "proxy-public": p["proxy"]}
        if autohttps(values):
            service_ports["proxy-http"] = p["proxy"]
            service_ports["proxy-public"] = free_port()  # traefik's: nothing of ours may use it
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "KUBECONFIG": os.environ["KUBECONFIG"],  # the fake's kubeconfig (kube_api fixture)
            **self.pod.env(service_ports),
        }
        self.proxy = self._start_proxy(tmp_path)
        self.hub = Hub(
            url=f"http://127.0.0.1:{p['proxy']}/",
            data_dir=self.pod.root,
            admin_token=self.admin_token,
            config_file=self.pod.etc / "jupyterhub_config.py",
            env=env,
            log_path=tmp_path / "hub.log",
            # the hub image's command (deployment.yaml), in the pod's mount namespace
            argv=self.pod.command(
                [sys.executable, "-m", "jupyterhub", "--config", f"{CHART_MOUNT}/jupyterhub_config.py"]
            ),
        )

    def _start_proxy(self, tmp_path):
        p = self.ports
        log = open(tmp_path / "proxy.log", "ab")
        proc = subprocess.Popen(
            self.pod.command(
                [
                    "configurable-http-proxy",
                    "--ip=127.0.0.1",
                    f"--port={p['proxy']}",
                    "--api-ip=127.0.0.1",
                    f"--api-port={p['proxy-api']}",
                    f"--default-target=http://127.0.0.1:{p['hub']}",
                    f"--error-target=http://127.0.0.1:{p['hub']}/hub/error",
                ],
                hub=False,  # the proxy pod: it reaches the hub and services by their Service names
            ),
            env={
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "CONFIGPROXY_AUTH_TOKEN": self.pod.secret("hub.config.ConfigurableHTTPProxy.auth_token"),
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(lambda: _listening(p["proxy-api"]), 20, 0.1, "configurable-http-proxy")
        return proc

    def ssh_info(self, user: str) -> dict:
        """The ssh service's /api/info, once the hub has routed the proxy to it."""

        def info():
            r = self.hub.request("GET", "services/ssh/api/info", token=self.hub.user_token(user))
            return r.json() if r.status_code == 200 else None

        return wait_for(info, 60, 0.3, "the ssh service behind the proxy")

    def wait_for_gateway(self):
        import asyncssh

        async def key():
            return await asyncio.wait_for(asyncssh.get_server_host_key("127.0.0.1", self.ports["ssh"]), 5)

        return wait_for(lambda: asyncio.run(key()), 60, 0.3, "the SSH gateway").get_fingerprint()

    def stop(self):
        self.hub.stop()
        if self.proxy.poll() is None:
            self.proxy.send_signal(signal.SIGTERM)
            try:
                self.proxy.wait(10)
            except subprocess.TimeoutExpired:
                self.proxy.kill()
                self.proxy.wait(5)
        kill_processes_of(self.pod.root)
        # the hub's services carry no test marker (production code passes none on): by their URL
        services = [p for p, _ in _service_processes(self)]
        for p in services:
            p.kill()
        psutil.wait_procs(services, timeout=10)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def chart_hub(chart, kube, pod_server, tmp_path):
    why = namespaces_available()
    if why:
        pytest.fail(f"a hub pod needs a private mount namespace here: {why}")
    use_cluster(kube, pod_ip="127.0.0.1")  # the small cluster; every pod answers on pod_server
    hubs: list[ChartHub] = []

    def start(*overrides) -> ChartHub:
        h = ChartHub(chart, tmp_path, kube, pod_server, *overrides)
        hubs.append(h)
        h.hub.launch(timeout=120)
        return h

    try:
        yield start
    finally:
        for h in hubs:
            h.stop()


@pytest.mark.hub
@pytest.mark.parametrize("overrides", [{}, AUTOHTTPS], ids=["default-values", "autohttps-values"])
async def test_a_hub_from_the_charts_loader_spawns_a_session_reachable_at_the_proxy_url(
    kube, chart_hub, overrides
):
    h = await asyncio.to_thread(chart_hub, overrides)
    hub = h.hub
    log = hub.log_path.read_text()
    assert "Loading /usr/local/etc/jupyterhub/jupyterhub_config.d config: 50-jupyterhub-sessions.py" in log
    assert "jupyterhub-sessions on jupyterhub " in log  # compat.report at hub start

    user = await asyncio.to_thread(hub.ensure_user, "ada")
    r = await asyncio.to_thread(hub.start_session, user, "lab", {"session_type": "notebook", "cpu": 1})
    assert r.status_code in (201, 202), r.text
    (pod,) = [
        p for p in kube.objects("pods") if p["metadata"]["labels"].get("hub.jupyter.org/servername") == "lab"
    ]
    assert pod["metadata"]["labels"]["sessions.jupyterhub.org/session-type"] == "notebook"
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubespawner"  # the chart's labels

    # the URL the ssh gateway was given names the Service in front of the proxy for these values
    # (autohttps: proxy-public is traefik, here a port nothing answers on) and, fetched from the
    # hub pod, reaches the session through the proxy
    ssh_env = await asyncio.to_thread(wait_for, lambda: _service_env(h, "ssh"), 60, 0.2, "the ssh service")
    public_url = ssh_env["JUPYTERHUB_SESSIONS_PUBLIC_URL"]
    service = "proxy-http" if overrides else "proxy-public"
    assert public_url == f"http://{service}:{h.ports['proxy']}/"
    fetch = (
        "import sys, urllib.request as u; r = u.urlopen(sys.argv[1], timeout=10); "
        "print(r.status, r.read().decode())"
    )
    url = public_url + "user/ada/lab/api/status"
    got = await asyncio.to_thread(
        subprocess.run, h.pod.command([sys.executable, "-c", fetch, url]), capture_output=True, text=True
    )
    assert got.stdout.strip() == "200 session /user/ada/lab/api/status", got.stderr

    # stopping the session keeps its drive: no PVC is ever deleted
    await asyncio.to_thread(hub.stop_session, user, "lab")
    assert not [p for p in kube.objects("pods") if p["metadata"]["name"] == pod["metadata"]["name"]]
    assert len(kube.objects("persistentvolumeclaims")) == 1
    assert kube.requests_to("DELETE", "persistentvolumeclaims") == []


def _service_processes(h: ChartHub, service: str = ""):
    """(process, environment) of this pod's running hub services (`service`: only that one)."""
    import psutil

    ports = {"service": h.ports["sessions"], "ssh": h.ports["pages"]}
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        for name, port in ports.items():
            if service in ("", name) and f"jupyterhub_sessions.{name}" in cmd:
                try:
                    env = p.environ()
                except psutil.Error:
                    continue
                # the hub tells each managed service its URL; this pod's services have ports of their own
                if env.get("JUPYTERHUB_SERVICE_URL", "").endswith(f":{port}"):
                    yield p, env


def _service_env(h: ChartHub, service: str) -> dict | None:
    """The environment of a running hub service process of this pod (None if not running yet)."""
    return next((env for _, env in _service_processes(h, service)), None)


@pytest.mark.hub
@pytest.mark.parametrize(
    "db", [{}, {"hub": {"db": {"type": "sqlite-memory"}}}], ids=["sqlite-pvc", "no-hub-volume"]
)
async def test_ssh_host_key_and_keys_survive_a_hub_restart(chart_hub, db, tmp_path):
    from tests.ssh.conftest import keygen, register

    h = await asyncio.to_thread(chart_hub, db)
    fingerprint = await asyncio.to_thread(h.wait_for_gateway)
    user = await asyncio.to_thread(h.hub.ensure_user, "bo")
    assert (await asyncio.to_thread(h.ssh_info, user))["host_key_fingerprint"] == fingerprint
    keys_dir = tmp_path / "device"
    keys_dir.mkdir(mode=0o700)
    # registering proves possession: the key signs the service's challenge (ssh-keygen -Y sign)
    await asyncio.to_thread(register, h.hub, user, keygen(keys_dir, "laptop"), "laptop")

    # a new hub container: only the pod's volumes are kept
    await asyncio.to_thread(h.hub.stop)
    removed = h.pod.restart_filesystem()
    if db:  # no volume at /srv/jupyterhub (as with Postgres): the hub's working directory is new
        assert HUB_WORKDIR in removed and not any(h.pod.path(HUB_WORKDIR).iterdir())
    h.hub._tokens.clear()
    await asyncio.to_thread(h.hub.launch, 120)
    assert await asyncio.to_thread(h.wait_for_gateway) == fingerprint
    store = sqlite3.connect(h.pod.path(STATE_DIR) / "ssh" / "keys.sqlite")
    try:  # the registered key is still on the state volume either way (before the name is used again)
        assert [row[0] for row in store.execute("SELECT name FROM ssh_keys_v2")] == ["laptop"]
    finally:
        store.close()
    user = await asyncio.to_thread(h.hub.ensure_user, "bo")
    assert (await asyncio.to_thread(h.ssh_info, user))["host_key_fingerprint"] == fingerprint
    keys = h.hub.request("GET", "services/ssh/api/keys", token=h.hub.user_token(user)).json()["keys"]
    if db:
        # the in-memory hub database lost the user: "bo" is a new identity now (keys belong to
        # the hub user, not the name, SECURITY.md), so the old key is not theirs; with a real
        # Postgres (same volumes, kept database) the user and their keys both stay
        assert keys == []
    else:
        assert [k["name"] for k in keys] == ["laptop"]
