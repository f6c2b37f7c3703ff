"""What a session on the embedded backend gets: $SCRATCH, its Python in terminals, honest refusals.

Through the shared hub (tests/conftest.py `hub`), as a user's REST calls and
terminal would see it.
"""

import json
import re
import stat
from pathlib import Path

import pytest

from ..hubtools import free_port, wait_for
from ..terminaltools import Terminal

pytestmark = pytest.mark.hub


def session_env(hub, user, server):
    for proc, env in hub.session_processes():
        if env.get("JUPYTERHUB_USER") == user and env.get("JUPYTERHUB_SERVER_NAME") == server:
            return proc, env
    raise AssertionError(f"no process for {user}/{server}")


def test_scratch_is_private_to_the_session_and_removed_at_stop(hub):
    user = hub.new_user("scratch")
    r = hub.start_session(user, "s1", {"session_type": "notebook"})
    assert r.status_code in (201, 202), r.text
    _, env = session_env(hub, user, "s1")
    scratch = Path(env["SCRATCH"])
    assert scratch.is_dir() and stat.S_IMODE(scratch.stat().st_mode) == 0o700
    assert scratch.resolve().is_relative_to((hub.data_dir / "scratch").resolve())
    assert json.loads(env["JUPYTERHUB_SESSIONS_SESSION"])["scratch"] == str(scratch)
    assert scratch != Path(env["JUPYTERHUB_SESSIONS_DRIVE_PATH"])
    (scratch / "big.tmp").write_bytes(b"x" * 1000)
    (scratch / "sub").mkdir()
    (scratch / "sub" / "f").write_text("y")
    drive = Path(env["JUPYTERHUB_SESSIONS_DRIVE_PATH"])
    (scratch / "link-to-drive").symlink_to(drive)
    (drive / "kept.txt").write_text("kept")

    hub.stop_session(user, "s1")
    assert not scratch.exists()
    assert (drive / "kept.txt").read_text() == "kept", "removing scratch never follows links into the drive"

    # started again: a new, empty scratch at the same place
    hub.start_session(user, "s1", {"session_type": "notebook"})
    assert session_env(hub, user, "s1")[1]["SCRATCH"] == str(scratch) and list(scratch.iterdir()) == []
    hub.stop_session(user, "s1")


def test_terminal_runs_the_session_python_and_its_web_server_is_reachable(hub):
    user = hub.new_user("term")
    r = hub.start_session(user, "t", {"session_type": "notebook"})
    assert r.status_code in (201, 202), r.text
    try:
        token = hub.user_token(user)
        _, env = session_env(hub, user, "t")
        port = free_port()
        with Terminal(hub, f"user/{user}/t/", token) as term:
            out = term.run(
                "command -v python; python -c 'import sys; print(sys.prefix)'; echo SCRATCH=$SCRATCH; "
                f"(python -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 &)"
            )
        import sys

        assert sys.prefix in out, out
        assert f"SCRATCH={env['SCRATCH']}" in out
        assert re.search(r"/python\n", out), out

        def listing():
            resp = hub.request("GET", f"user/{user}/t/proxy/{port}/", token=token)
            return resp if resp.status_code == 200 else None

        resp = wait_for(listing, timeout=30, what="python -m http.server through the session's proxy")
        assert "Directory listing" in resp.text
    finally:
        hub.stop_session(user, "t")


def test_types_whose_app_is_missing_are_refused_with_the_reason(hub):
    user = hub.new_user("missing")
    token = hub.user_token(user)
    r = hub.start_session(user, "viewer", {"session_type": "carta"}, token=token, wait=False)
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert message.startswith(
        "CARTA image viewer is not available here: its app program 'carta' is not installed"
    )
    assert not hub.user_model(user)["servers"].get("viewer", {}).get("ready")


def progress_events(hub, user, server, token, timeout=120):
    """The hub's progress event stream of a starting session, until ready or failed."""
    import requests

    events = []
    with requests.get(
        hub.url + f"hub/api/users/{user}/servers/{server}/progress",
        headers={"Authorization": f"token {token}"},
        stream=True,
        timeout=timeout,
    ) as resp:
        assert resp.status_code == 200, resp.text
        for line in resp.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[5:])
                events.append(event)
                if event.get("ready") or event.get("failed"):
                    break
    return events


def test_launch_progress_names_the_steps(hub):
    from concurrent.futures import ThreadPoolExecutor

    user = hub.new_user("progress")
    token = hub.user_token(user)
    with ThreadPoolExecutor(1) as pool:
        # the hub answers the POST only after up to 10 s of the start: watch from another thread
        post = pool.submit(
            hub.start_session, user, "p", {"session_type": "notebook"}, token=token, wait=False
        )
        wait_for(
            lambda: (hub.user_model(user)["servers"].get("p") or {}).get("pending") == "spawn",
            timeout=30,
            interval=0.02,
            what="spawn pending",
        )
        events = progress_events(hub, user, "p", token)
        assert post.result().status_code in (201, 202)
    try:
        messages = [e.get("message", "") for e in events]
        assert events[-1].get("ready"), messages
        assert any(m.startswith("Session process started (pid ") for m in messages), messages
        assert "Extension loaded: jupyterhub_sessions.serverext" in messages, messages
        assert any(m.startswith("The server is up") for m in messages), messages
        progress = [e["progress"] for e in events if "progress" in e]
        assert progress == sorted(progress)
    finally:
        hub.stop_session(user, "p")
