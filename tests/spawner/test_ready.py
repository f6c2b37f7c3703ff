"""The embedded spawner's start returns once the session listens (LocalSessionSpawner.wait_until_listening).

The hub looks for a new server with exponential backoff; a start that returns
only when the server accepts connections is found at the hub's first look.
A process that dies or never listens fails the start with its last output.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from jupyterhub_sessions.spawner.local import LaunchFailed, LocalSessionSpawner
from tests.hubtools import free_port

LISTEN_LATER = """
import socket, sys, time
print("starting up", flush=True)
time.sleep(float(sys.argv[2]))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(60)
"""


@pytest.fixture
def spawner(tmp_path):
    sp = LocalSessionSpawner(data_dir=str(tmp_path), start_timeout=30)
    sp.user = SimpleNamespace(name="alice")
    sp.launch_events = []
    procs = []

    def run(*args):
        log = sp.open_session_log()  # the session's output goes to its log file, as in start()
        sp.proc = subprocess.Popen([sys.executable, "-c", *args], stdout=log, stderr=log)
        log.close()
        procs.append(sp.proc)

    sp.run = run
    yield sp
    for p in procs:
        p.kill()
        p.wait(5)


async def test_returns_once_the_session_listens_not_before(spawner):
    port = free_port()
    spawner.run(LISTEN_LATER, str(port), "0.7")
    t = time.monotonic()
    await spawner.wait_until_listening(port, time.monotonic() + 30)
    assert time.monotonic() - t >= 0.6  # it waited for the server ...
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # ... which listens now: no ConnectionRefusedError
    assert spawner.latest_progress == "The server is up"


async def test_a_session_that_dies_fails_the_start_with_its_output(spawner):
    spawner.run("print('ImportError: no module named jupyterhub', flush=True); raise SystemExit(3)")
    with pytest.raises(LaunchFailed) as failed:
        await spawner.wait_until_listening(free_port(), time.monotonic() + 30)
    assert "exit status 3" in failed.value.jupyterhub_message
    assert failed.value.session_output == ["ImportError: no module named jupyterhub"]


async def test_a_session_that_never_listens_fails_at_the_deadline(spawner):
    spawner.run(LISTEN_LATER, str(free_port()), "60")
    with pytest.raises(LaunchFailed) as failed:
        await spawner.wait_until_listening(free_port(), time.monotonic() + 1)
    assert "did not start listening" in failed.value.jupyterhub_message
    assert failed.value.session_output == ["starting up"]
