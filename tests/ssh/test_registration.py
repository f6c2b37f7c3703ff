"""How hub configs register the ssh service: least-privilege role, users may open its pages."""

from jupyterhub.scopes import scope_definitions
from traitlets.config import Config

from jupyterhub_sessions.hub.services import configure_ssh_service as configure_hub
from jupyterhub_sessions.hub.services import ssh_service as hub_service


def test_hub_service_role_is_least_privilege(tmp_path):
    service, role = hub_service(tmp_path, "http://127.0.0.1:8000/", port=12345)
    assert service["name"] == "ssh" and service["url"] == "http://127.0.0.1:12345"
    assert service["command"][1:3] == ["-m", "jupyterhub_sessions.ssh"]
    assert service["environment"]["JUPYTERHUB_SESSIONS_DATA_DIR"] == str(tmp_path)
    assert service["environment"]["JUPYTERHUB_SESSIONS_PUBLIC_URL"] == "http://127.0.0.1:8000/"
    # JupyterHub 5.5 has no start:servers; there the role holds the scope that grants it (compat)
    start = "start:servers" if "start:servers" in scope_definitions else "servers"
    assert sorted(role["scopes"]) == sorted(
        ["read:users", "read:servers", start, "access:servers", "access:services!service=sessions"]
    )
    assert role["services"] == ["ssh"]


def test_kubernetes_forwards_through_sessions(tmp_path):
    service, _ = hub_service(tmp_path, "http://hub/", port=1, local=False)
    assert "--SSHGateway.forward_through_session=True" in service["command"]
    assert not any(a.startswith("--SSHGateway.port_forwarding") for a in service["command"])
    local, _ = hub_service(tmp_path, "http://hub/", port=1)
    assert not any("forward_through_session" in a for a in local["command"])


def test_configure_hub_merges_into_existing_user_role(tmp_path):
    c = Config()
    c.JupyterHub.port = 8123
    c.JupyterHub.services.append({"name": "sessions"})
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self", "shares!user"]}]
    configure_hub(c, data_dir=tmp_path)
    configure_hub(c, data_dir=tmp_path)  # idempotent
    assert [s["name"] for s in c.JupyterHub.services] == ["sessions", "ssh"]
    ssh = c.JupyterHub.services[1]
    assert ssh["environment"]["JUPYTERHUB_SESSIONS_PUBLIC_URL"] == "http://127.0.0.1:8123/"
    user = next(r for r in c.JupyterHub.load_roles if r["name"] == "user")
    assert user["scopes"] == ["self", "shares!user", "access:services!service=ssh"]
    assert [r["name"] for r in c.JupyterHub.load_roles].count("ssh-service") == 1


def test_configure_hub_creates_user_role_when_none(tmp_path):
    c = Config()
    configure_hub(c, data_dir=tmp_path)
    user = next(r for r in c.JupyterHub.load_roles if r["name"] == "user")
    assert user["scopes"] == ["self", "access:services!service=ssh"]
