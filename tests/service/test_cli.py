"""`jupyterhub-sessions list|get|start|renew|delete` against the real hub and service."""

import json
import subprocess
import sys

import pytest

from jupyterhub_sessions.service.cli import main

pytestmark = pytest.mark.hub


@pytest.fixture
def cli(svc_hub, monkeypatch, capsys):
    """Run the CLI in-process as `user` (JUPYTERHUB_URL/JUPYTERHUB_API_TOKEN from the environment)."""

    def run(user, *argv):
        monkeypatch.setenv("JUPYTERHUB_URL", svc_hub.url)
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", svc_hub.user_token(user))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_a_session_from_start_to_delete(svc_hub, cli):
    user = svc_hub.new_user("cli")
    code, out, err = cli(user, "start", "lab", "-o", "session_type=notebook", "-o", "timeout=900")
    assert code == 0, err
    assert f"{user}/lab " in out
    try:
        svc_hub.wait_ready(user, "lab")

        code, out, _ = cli(user, "list")
        assert code == 0
        header, row = out.strip().splitlines()
        assert header.split()[:4] == ["USER", "SESSION", "TYPE", "DRIVE"]
        assert row.split()[:5] == [user, "lab", "notebook", "home", "running"]

        code, out, _ = cli(user, "get", "lab", "--json")
        session = json.loads(out)
        assert code == 0 and session["timeout"] == 900 and session["renewals"] == 0

        code, out, _ = cli(user, "renew", "lab")
        assert code == 0 and out.startswith(f"Renewed {user}/lab: expires ")
        code, out, _ = cli(user, "get", "lab")
        assert "renewals:    1" in out and "type:        notebook" in out

        # the hub's own refusal, as it is: the drive is held by 'lab'
        code, out, err = cli(user, "start", "other", "-o", "drive=home")
        assert code == 1 and "Drive 'home' is in use by 'lab'" in err and "HTTP 409" in err
        assert "other" not in svc_hub.user_model(user)["servers"]

        code, out, _ = cli(user, "delete", "lab")
        assert code == 0 and f"{user}/lab" in out and "drive home kept" in out
        code, out, err = cli(user, "get", "lab")
        assert code == 1 and "No running session 'lab'" in err and "HTTP 404" in err
    finally:
        if svc_hub.user_model(user)["servers"].get("lab"):
            svc_hub.stop_session(user, "lab")


def test_bad_options_print_the_hubs_message_and_create_nothing(svc_hub, cli):
    user = svc_hub.new_user("clibad")
    code, _, err = cli(user, "start", "x", "-o", "timeout=7")
    assert code == 1
    assert "Invalid session option 'timeout'" in err and "HTTP 400" in err
    code, _, err = cli(user, "start", "x", "--options-json", "[1]")
    assert code == 2 and "JSON object" in err
    code, _, err = cli(user, "start", "x", "-o", "novalue")
    assert code == 2 and "KEY=VALUE" in err
    assert svc_hub.user_model(user)["servers"] == {}


def test_other_users_sessions_are_refused(svc_hub, cli):
    me, them = svc_hub.new_user("clime"), svc_hub.new_user("clithem")
    code, _, err = cli(me, "delete", "--user", them, "x")
    assert code == 1 and "may not change sessions" in err and "HTTP 403" in err
    code, _, err = cli(me, "list", "--user", them)
    assert code == 1 and "HTTP 403" in err


def test_the_installed_command_reads_its_environment(svc_hub):
    user = svc_hub.new_user("cliexe")
    env = {
        "PATH": "/usr/bin:/bin",
        "JUPYTERHUB_URL": svc_hub.url,
        "JUPYTERHUB_API_TOKEN": svc_hub.user_token(user),
    }
    r = subprocess.run(
        [sys.executable, "-m", "jupyterhub_sessions.cli", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "No sessions."
    r = subprocess.run(
        [sys.executable, "-m", "jupyterhub_sessions.cli", "list"],
        env={**env, "JUPYTERHUB_API_TOKEN": "wrong"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "HTTP 401" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "jupyterhub_sessions.cli", "list"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "JUPYTERHUB_URL" in r.stderr
