"""The service application's settings, registration helper, and behaviour when a profile breaks."""

import shutil

import pytest
from traitlets import TraitError
from traitlets.config import Config

from jupyterhub_sessions.hub.services import configure_sessions_service as configure_hub
from jupyterhub_sessions.hub.services import sessions_service as hub_service
from jupyterhub_sessions.hub.services import sessions_user_scopes as user_scopes
from jupyterhub_sessions.service.app import SessionsService

from ..conftest import PROFILES


def test_settings_come_from_the_hub_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_NAME", "sess")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/services/sess/")
    monkeypatch.setenv("JUPYTERHUB_SESSIONS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUPYTERHUB_SESSIONS_SSH_SERVICES", "ssh, gw2 ,")
    app = SessionsService()
    assert app.state_file == str(tmp_path / "sess-service-state.json")
    assert app.service_prefix == "/services/sess/"
    assert app.ssh_services == {"ssh", "gw2"}
    assert app.oauth_client_id == "service-sess"
    with pytest.raises(TraitError):
        app.cull_every = -1
    with pytest.raises(TraitError):
        app.concurrency = 0
    app.initialize(["--cull-every=5", "--remove-named-servers", "--concurrency=3"])
    assert (app.cull_every, app.remove_named_servers, app.concurrency) == (5, True, 3)


def test_registration_is_least_privilege_and_idempotent(tmp_path):
    service, role = hub_service(data_dir=tmp_path, port=12345, cull_every=30)
    assert service["url"] == "http://127.0.0.1:12345"
    assert service["command"][-2:] == ["jupyterhub_sessions.service", "--cull-every=30"]
    assert service["environment"]["JUPYTERHUB_SESSIONS_DATA_DIR"] == str(tmp_path)
    # read:users:groups: who a personal session type may be shared with (issue 19)
    assert sorted(role["scopes"]) == [
        "delete:servers",
        "list:users",
        "read:servers",
        "read:users:groups",
        "read:users:name",
    ]
    assert role["services"] == ["sessions"]
    c = Config()
    configure_hub(c, data_dir=tmp_path)
    configure_hub(c, data_dir=tmp_path)
    services = c.JupyterHub.services  # one entry, however often registered
    assert [s["name"] for s in services] == ["sessions"]
    assert user_scopes() == {"access:services!service=sessions"}


async def test_a_profile_broken_while_running_keeps_the_last_good_types(tmp_path):
    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles)
    app = SessionsService(profiles_dir=str(profiles), state_file=str(tmp_path / "s.json"), api_token="x")
    app.init_parts()
    try:
        good = app.session_types()
        assert "notebook" in good
        (profiles / "notebook.yaml").write_text("display_name: [unclosed\n")
        assert app.session_types() == good
        assert "notebook.yaml" in app._types_error
    finally:
        app.client.close()
