"""hub_config/kubernetes/jupyterhub_config.py loads in JupyterHub's own loader and drives real spawns.

The same file inside the Zero to JupyterHub chart's loader: test_chart.py.
"""

from __future__ import annotations

import pytest
from jupyterhub.app import JupyterHub

from jupyterhub_sessions.hub.compat import available_scope
from jupyterhub_sessions.profiles import ProfileError
from jupyterhub_sessions.spawner.kube import SessionKubeSpawner
from tests.conftest import PROFILES, REPO
from tests.kube_fake.hub import FakeHub, spawn, stop

CONFIG = REPO / "hub_config" / "kubernetes" / "jupyterhub_config.py"


def load(monkeypatch, tmp_path, **env):
    """The config as JupyterHub's own loader reads it."""
    monkeypatch.setenv("JUPYTERHUB_SESSIONS_PROFILES", str(env.pop("profiles", PROFILES)))
    monkeypatch.setenv("JUPYTERHUB_SESSIONS_DATA_DIR", str(tmp_path / "data"))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    app = JupyterHub()
    app.load_config_file(str(CONFIG))
    return app.config


def test_config_selects_the_session_spawner_and_named_servers(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path, JUPYTERHUB_SESSIONS_SERVER_LIMIT="5")
    assert c.JupyterHub.spawner_class == "jupyterhub_sessions.spawner.kube.SessionKubeSpawner"
    assert c.SessionKubeSpawner.session_types_dir == str(PROFILES)
    assert c.JupyterHub.allow_named_servers is True
    assert c.JupyterHub.named_server_limit_per_user == 5
    assert c.KubeSpawner.storage_pvc_ensure is False and c.KubeSpawner.delete_pvc is False
    (sessions,) = [s for s in c.JupyterHub.services if s["name"] == "sessions"]
    assert sessions["url"] == "http://hub:8181"
    assert "--bind-url=http://0.0.0.0:8181" in sessions["command"]
    assert sessions["environment"]["JUPYTERHUB_SESSIONS_PROFILES"] == str(PROFILES)
    assert any("sessions" in r.get("services", []) for r in c.JupyterHub.load_roles)
    assert (tmp_path / "data").is_dir()


def test_default_server_limit_is_three(monkeypatch, tmp_path):
    monkeypatch.delenv("JUPYTERHUB_SESSIONS_SERVER_LIMIT", raising=False)
    assert load(monkeypatch, tmp_path).JupyterHub.named_server_limit_per_user == 3


def test_a_bad_profile_stops_start_up(monkeypatch, tmp_path):
    bad = tmp_path / "profiles"
    bad.mkdir()
    (bad / "broken.yaml").write_text(
        "display_name: Broken\nimage: {default: x}\nresources: {cpu: {default: -1}}\n"
    )
    with pytest.raises(ProfileError) as e:
        load(monkeypatch, tmp_path, profiles=bad)
    assert "broken.yaml" in str(e.value) and "resources.cpu" in str(e.value)


async def test_spawner_configured_from_it_spawns_against_the_cluster(kube, monkeypatch, tmp_path):
    # like a hub pod: the API server comes from the environment (here the kubeconfig), not from config
    c = load(monkeypatch, tmp_path, JUPYTERHUB_SESSIONS_DRIVE_CAPACITY="5Gi")
    c.KubeSpawner.start_timeout = 15
    hub = FakeHub(c, SessionKubeSpawner)
    sp = hub.user("rose").spawner(name="lab")
    assert type(sp).__name__ == c.JupyterHub.spawner_class.rsplit(".", 1)[1]
    await spawn(sp, {"session_type": "notebook", "cpu": 2})
    (pod,) = kube.objects("pods")
    assert pod["status"]["phase"] == "Running"
    assert pod["metadata"]["labels"]["sessions.jupyterhub.org/session-type"] == "notebook"
    (pvc,) = kube.objects("persistentvolumeclaims")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    await stop(sp)
    assert kube.objects("pods") == [] and len(kube.objects("persistentvolumeclaims")) == 1


def test_values_yaml_matches_the_config_and_the_spawner():
    import yaml

    values = yaml.safe_load((CONFIG.parent / "values.yaml").read_text())
    hub = values["hub"]
    assert (
        hub["config"]["JupyterHub"]["spawner_class"] == "jupyterhub_sessions.spawner.kube.SessionKubeSpawner"
    )
    # every spawner setting in values is a real configurable trait (a typo would be ignored by the hub)
    traits = SessionKubeSpawner.class_traits(config=True)
    for name, value in hub["config"]["SessionKubeSpawner"].items():
        assert name in traits, name
        traits[name].validate(SessionKubeSpawner, value)
    port = int(hub["extraEnv"]["JUPYTERHUB_SESSIONS_SERVICE_PORT"])
    assert {"name": "sessions", "port": port, "targetPort": port} in hub["service"]["extraPorts"]
    assert values["singleuser"]["storage"]["type"] == "none"
    assert values["singleuser"]["cmd"] == "jupyterhub-singleuser"
    # the config reaches the hub through hub.extraFiles (the image only installs the wheel)
    (entry,) = [f for f in hub["extraFiles"].values() if "jupyterhub_config.d" in f["mountPath"]]
    assert entry["stringData"] == CONFIG.read_text()


def _arg(command, name):
    """The value of `--name=value` in a service command (None if absent)."""
    prefix = f"--{name}="
    values = [a[len(prefix) :] for a in command if a.startswith(prefix)]
    return values[-1] if values else None


def test_ssh_service_runs_in_the_hub_pod_forwarding_through_sessions(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path, JUPYTERHUB_SESSIONS_SSH_PUBLIC_HOST="ssh.example.org")
    (svc,) = [s for s in c.JupyterHub.services if s["name"] == "ssh"]
    cmd = svc["command"]
    assert svc["url"] == "http://hub:8282"  # the proxy reaches the pages through z2jh's hub Service
    assert _arg(cmd, "SSHService.bind_url") == "http://0.0.0.0:8282"
    assert _arg(cmd, "SSHGateway.ip") == "0.0.0.0" and _arg(cmd, "SSHGateway.port") == "2222"
    assert _arg(cmd, "SSHGateway.port_fallback") == "False"
    assert (
        _arg(cmd, "SSHGateway.forward_through_session") == "True"
        and _arg(cmd, "SSHGateway.port_forwarding") is None
    )
    assert _arg(cmd, "SSHService.public_host") == "ssh.example.org"
    assert _arg(cmd, "SSHService.public_port") == "22"
    # outside the chart's loader: z2jh's default names (tests/hub_config/test_chart.py: the chart's)
    assert svc["environment"]["JUPYTERHUB_SESSIONS_PUBLIC_URL"] == "http://proxy-public:80/"
    assert svc["environment"]["JUPYTERHUB_SESSIONS_DATA_DIR"] == str(tmp_path / "data")  # host key persists
    (role,) = [r for r in c.JupyterHub.load_roles if "ssh" in r.get("services", [])]
    assert set(role["scopes"]) >= {
        "read:users",
        "read:servers",
        available_scope("start:servers"),
        "access:servers",
    }
    (user_role,) = [r for r in c.JupyterHub.load_roles if r["name"] == "user"]
    assert "access:services!service=ssh" in user_role["scopes"]


def test_ssh_service_can_be_left_out(monkeypatch, tmp_path):
    c = load(monkeypatch, tmp_path, JUPYTERHUB_SESSIONS_SSH="0")
    # sessions-dashboard: the home page's read-only token (no process)
    assert [s["name"] for s in c.JupyterHub.services] == ["sessions-dashboard", "sessions"]


def test_values_and_ssh_service_manifest_expose_the_gateway():
    import yaml

    values = yaml.safe_load((CONFIG.parent / "values.yaml").read_text())
    hub = values["hub"]
    ssh_port = int(hub["extraEnv"]["JUPYTERHUB_SESSIONS_SSH_PORT"])
    pages_port = int(hub["extraEnv"]["JUPYTERHUB_SESSIONS_SSH_SERVICE_PORT"])
    assert {"name": "ssh-pages", "port": pages_port, "targetPort": pages_port} in hub["service"]["extraPorts"]
    ingress_ports = {p["port"] for rule in hub["networkPolicy"]["ingress"] for p in rule["ports"]}
    assert {ssh_port, pages_port} <= ingress_ports
    proxy_egress = {
        p["port"] for rule in values["proxy"]["chp"]["networkPolicy"]["egress"] for p in rule["ports"]
    }
    assert pages_port in proxy_egress
    manifest = yaml.safe_load((CONFIG.parent / "ssh-service.yaml").read_text())
    assert manifest["kind"] == "Service" and manifest["spec"]["type"] == "LoadBalancer"
    (port,) = manifest["spec"]["ports"]
    assert port["targetPort"] == ssh_port and port["port"] == 22  # the config's default public port
    assert manifest["spec"]["selector"]["component"] == "hub"  # z2jh's hub pod labels


def test_ssh_service_manifest_is_a_valid_kubernetes_object():
    import yaml

    from tests.kube_fake.validation import validate_schema

    manifest = yaml.safe_load((CONFIG.parent / "ssh-service.yaml").read_text())
    validate_schema("Service", manifest)  # the real core/v1 schema (kubernetes-validate), strict
    broken = {**manifest, "spec": {**manifest["spec"], "ports": [{"port": "twenty-two"}]}}
    with pytest.raises(Exception, match="422|Invalid|twenty-two"):
        validate_schema("Service", broken)
