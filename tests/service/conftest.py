"""A real hub for the service tests, with a stand-in `test-ssh` service allowed to mark sessions SSH.

The hub runs our managed `sessions` service exactly as shipped; the tests
also run cull passes in-process against its API with a fake clock, so it is
a hub of its own (a far-future pass would stop other suites' sessions).
"""

import secrets

import pytest

SSH_SERVICE = "test-ssh"


@pytest.fixture(scope="package")
def svc_hub(tmp_path_factory):
    from ..hubtools import start_hub, wait_for

    ssh_token = secrets.token_hex(32)
    extra = (
        f"c.JupyterHub.services.append({{'name': {SSH_SERVICE!r}, 'api_token': {ssh_token!r}}})\n"
        f"c.JupyterHub.load_roles.append({{'name': 'test-ssh-role', "
        f"'scopes': ['access:services!service=sessions'], 'services': [{SSH_SERVICE!r}]}})\n"
    )
    hub = start_hub(
        tmp_path_factory.mktemp("svc-hub"),
        extra_config=extra,
        env={"JUPYTERHUB_SESSIONS_SSH_SERVICES": f"ssh,{SSH_SERVICE}"},
        timeout=180,  # a loaded 2-core machine starts three services slowly
    )
    hub.ssh_token = ssh_token
    try:
        wait_for(
            lambda: hub.request("GET", "services/sessions/api/sessions").status_code == 200,
            timeout=30,
            what="sessions service up",
        )
        yield hub
    finally:
        hub.stop()


def stop_count(hub, user: str, server: str) -> int:
    """How many times the hub began stopping user/server (from its debug log)."""
    label = f"{user}:{server}" if server else user
    return hub.log_path.read_text(errors="replace").count(f"] Stopping {label}\n")
