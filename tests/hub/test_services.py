"""hub.services: the names hub config files use keep working after the move to hub/."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from jupyterhub_sessions.hub import roles, services


def test_old_config_names_are_the_new_functions():
    import jupyterhub_sessions.hub_setup as hub_setup
    import jupyterhub_sessions.serverext.hub_config as hub_config
    from jupyterhub_sessions import service, ssh
    from jupyterhub_sessions.hub import platform

    assert service.configure_hub is services.configure_sessions_service
    assert service.hub_service is services.sessions_service
    assert service.user_scopes is services.sessions_user_scopes
    assert ssh.configure_hub is services.configure_ssh_service
    assert ssh.configure_hub_for_cluster is services.configure_ssh_for_cluster
    assert ssh.hub_service is services.ssh_service
    assert hub_config.apply is roles.apply
    assert hub_setup.configure_platform is platform.configure_platform


def test_the_service_processes_do_not_load_hub_code():
    import subprocess
    import sys

    for package in ("jupyterhub_sessions.service.app", "jupyterhub_sessions.ssh.app"):
        code = f"import sys, {package}; print(sorted(m for m in sys.modules if m.split('.')[:2] == ['jupyterhub_sessions', 'hub']))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "[]", (package, out)


def test_every_part_registers_once_through_one_list(tmp_path):
    c = Config()
    c.JupyterHub.services.append({"name": "mine", "api_token": "x" * 32})
    for _ in range(2):
        services.configure_sessions_service(c, data_dir=tmp_path)
        services.configure_ssh_service(c, data_dir=tmp_path, public_url="http://hub/")
    names = [s["name"] for s in c.JupyterHub.services]
    assert names == ["mine", "sessions", "ssh"]
    assert [r["name"] for r in c.JupyterHub.load_roles].count("ssh-service") == 1
    assert roles.find_service(c, "ssh")["url"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize("hub_has_timeout", [True, False])
def test_our_services_get_time_to_start_where_jupyterhub_allows_it(tmp_path, monkeypatch, hub_has_timeout):
    """JupyterHub 6 waits `Service.timeout` for a managed service; 5.5 refuses that key."""
    monkeypatch.setattr(services, "has_service_timeout", lambda: hub_has_timeout)
    c = Config()
    services.configure_sessions_service(c, data_dir=tmp_path)
    services.configure_ssh_service(c, data_dir=tmp_path, public_url="http://127.0.0.1:8000/")
    ours = [s for s in c.JupyterHub.services if s["name"] in (services.SESSIONS, services.SSH)]
    assert len(ours) == 2
    for service in ours:
        if hub_has_timeout:
            assert service["timeout"] == services.SERVICE_START_TIMEOUT
        else:
            assert "timeout" not in service


def test_the_installed_hub_takes_every_key_of_our_services(tmp_path):
    """Each service entry is a valid JupyterHub Service on the JupyterHub installed here."""
    from jupyterhub.services.service import Service

    c = Config()
    services.configure_sessions_service(c, data_dir=tmp_path)
    services.configure_ssh_service(c, data_dir=tmp_path, public_url="http://127.0.0.1:8000/")
    for entry in c.JupyterHub.services:
        unknown = set(entry) - set(Service.class_traits())
        assert not unknown, (entry["name"], unknown)
