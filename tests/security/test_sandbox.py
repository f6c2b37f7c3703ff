"""Embedded sessions run in a bubblewrap sandbox (issue 17, item 8).

From a terminal and from a kernel of alice's running session, as alice (or
anyone she shares with) would try it: her own drive works; bob's drive, the
hub's database, cookie secret, `ports.json`, the services' state and the
other processes on the machine are out of reach; the server's token is not
on the drive. Her own web app still works through the port proxy and is
listed by the ports API, and stopping the session leaves no process behind.
"""

from __future__ import annotations

import os

import psutil
import pytest

from jupyterhub_sessions.drives import user_slug
from jupyterhub_sessions.spawner.sandbox import find_bwrap

from ..hubtools import free_port, wait_for
from ..terminaltools import Terminal, run_in_kernel

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module", autouse=True)
def needs_bwrap():
    if find_bwrap() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bubblewrap (bwrap) does not work here: ./dev.sh install puts it in; CI must have it")
        pytest.skip("bubblewrap (bwrap) does not work on this machine")


def secrets_of_the_platform(hub, bob) -> dict[str, str]:
    """Files a session must not read: {label: absolute path} (each exists on the host)."""
    data = hub.data_dir
    paths = {
        "bob's drive": data / "drives" / user_slug(bob.name) / "home" / "secret.txt",
        "hub database": data / "jupyterhub.sqlite",
        "cookie secret": data / "jupyterhub_cookie_secret",
        "ports.json": data / "ports.json",
        "sessions service state": data / "sessions-service-state.json",
    }
    paths = {label: p for label, p in paths.items() if p.exists()}
    assert {"bob's drive", "hub database", "cookie secret", "ports.json"} <= set(paths)
    return {label: str(p) for label, p in paths.items()}


def test_a_terminal_reads_its_own_drive_and_nothing_of_the_platform(hub, alice, bob):
    with Terminal(hub, alice.base, alice.token) as term:
        # the own drive: read what the API wrote, write a file the host sees
        assert term.run("cat secret.txt") == alice.secret
        term.run("echo from-the-sandbox > made-here.txt")
        own = hub.data_dir / "drives" / user_slug(alice.name) / "home"
        assert (own / "made-here.txt").read_text().strip() == "from-the-sandbox"
        # nothing else of the data directory
        for label, path in secrets_of_the_platform(hub, bob).items():
            out = term.run(f"cat {path} >/dev/null 2>&1 && echo READABLE || echo refused")
            assert out == "refused", label
        listed = term.run(f"ls -A {hub.data_dir / 'drives'}").split()
        assert listed == [user_slug(alice.name)]
        assert term.run(f"ls -A {hub.data_dir / 'drives' / user_slug(alice.name)}").split() == ["home"]
        # no other process of the machine: not the hub, not bob's session
        hub_pid = hub.proc.pid
        out = term.run(f"cat /proc/{hub_pid}/environ >/dev/null 2>&1 && echo READABLE || echo refused")
        assert out == "refused"
        assert "jupyterhub " not in term.run("ps -eo args")
        # nor the server's memory, where visitors' tokens pass (the server is the sandbox's pid 1)
        assert "jupyterhub.singleuser" in term.run("cat /proc/1/cmdline | tr '\\0' ' '")
        for what in ("environ", "mem"):
            out = term.run(f"head -c 1 /proc/1/{what} >/dev/null 2>&1 && echo READABLE || echo refused")
            assert out == "refused", what
        # the server's token is nowhere on the drive (jupyter's runtime files live elsewhere)
        assert term.run('grep -rlF "$JUPYTERHUB_API_TOKEN" "$HOME" | wc -l') == "0"
        assert not term.run('echo "$JUPYTER_RUNTIME_DIR"').startswith(str(own))
        # the system is there, read-only
        assert "refused" in term.run("touch /usr/sandbox-test 2>/dev/null && echo WRITABLE || echo refused")


def test_a_kernel_is_confined_the_same_way(hub, alice, bob):
    paths = secrets_of_the_platform(hub, bob)
    code = (
        "import os\n"
        f"for label, path in {paths!r}.items():\n"
        "    try:\n"
        "        open(path, 'rb').read(1)\n"
        "        print(label, 'READABLE')\n"
        "    except OSError as e:\n"
        "        print(label, 'refused', type(e).__name__)\n"
        "print('own', open('secret.txt').read())\n"
    )
    out = run_in_kernel(hub, alice.base, alice.token, code)
    assert "READABLE" not in out, out
    assert all(f"{label} refused" in out for label in paths), out
    assert f"own {alice.secret}" in out


def test_the_sessions_own_web_app_is_listed_and_proxied(hub, alice, bob):
    port = free_port()
    with Terminal(hub, alice.base, alice.token) as term:
        term.run(f"python3 -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 & true")

        def listed(victim):
            r = hub.request("GET", victim.base + "sessions-api/ports", token=victim.token)
            assert r.status_code == 200, r.text
            return [p for p in r.json() if p["port"] == port]

        (entry,) = wait_for(lambda: listed(alice), timeout=30, what="the app in the ports list")
        assert entry["process"].startswith("python")
        r = hub.request("GET", alice.base + f"proxy/{port}/secret.txt", token=alice.token)
        assert r.status_code == 200 and r.text == alice.secret
        assert listed(bob) == []  # another session does not see it
        term.run("kill %1")


def test_stopping_a_sandboxed_session_leaves_no_process(hub):
    user = hub.new_user("sbxstop")
    r = hub.start_session(user, "s", {"session_type": "notebook"}, timeout=180)
    assert r.status_code in (201, 202), r.text
    base = f"user/{user}/s/"
    token = hub.user_token(user)
    with Terminal(hub, base, token) as term:
        term.run("(sleep 3600 &) ; setsid sleep 3600 > /dev/null 2>&1 < /dev/null & true")
    run_in_kernel(hub, base, token, "print(1)")

    def processes():
        out = []
        for p in psutil.process_iter(["pid"]):
            try:
                env = p.environ()
            except (psutil.Error, OSError):
                continue
            if (
                env.get("JUPYTERHUB_SESSIONS_TEST_HUB") == str(hub.data_dir)
                and env.get("JUPYTERHUB_USER") == user
            ):
                out.append(p)
        return out

    assert len(processes()) >= 4  # bwrap, its init, the server, the sleeps
    assert {p.name() for p in processes()} >= {"bwrap", "sleep"}
    hub.stop_session(user, "s")
    wait_for(lambda: processes() == [], timeout=30, what="every process of the session gone")


def test_no_isolation_warning_where_the_sandbox_works(hub):
    assert "NOT isolated" not in hub.log_path.read_text(errors="replace")
