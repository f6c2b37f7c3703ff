"""The embedded spawner's start returns once the session listens (spawner/ready.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from jupyterhub.spawner import SimpleLocalProcessSpawner

from jupyterhub_sessions.spawner.local import LocalSessionSpawner
from jupyterhub_sessions.spawner.ready import ReadyWhenListening
from tests.hubtools import free_port

LISTEN_LATER = """
import socket, sys, time
time.sleep(float(sys.argv[2]))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(60)
"""


class Probe(ReadyWhenListening, SimpleLocalProcessSpawner):
    """A local spawner whose process is a script (instead of a jupyter server)."""


@pytest.fixture
def spawner(monkeypatch):
    procs = []

    async def fake_start(self):
        # what SimpleLocalProcessSpawner.start does, with a script for a server
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-c", *self.script_args(self.port)])
        procs.append(self.proc)
        return ("127.0.0.1", self.port)

    monkeypatch.setattr(SimpleLocalProcessSpawner, "start", fake_start)
    probe = Probe(http_timeout=30)
    yield probe
    for p in procs:
        p.kill()
        p.wait(5)


def test_the_embedded_spawner_waits_for_its_session():
    assert issubclass(LocalSessionSpawner, ReadyWhenListening)
    assert LocalSessionSpawner.mro().index(ReadyWhenListening) < LocalSessionSpawner.mro().index(
        SimpleLocalProcessSpawner
    )


async def test_start_returns_once_the_session_listens(spawner):
    """The hub's own check (exponential backoff) then finds the server at its first look."""
    spawner.script_args = lambda port: [LISTEN_LATER, str(port), "0.7"]
    ip, port = await spawner.start()
    with socket.create_connection((ip, port), timeout=5):
        pass  # listening already: no ConnectionRefusedError


async def test_start_does_not_wait_for_a_session_that_died(spawner):
    spawner.script_args = lambda port: ["raise SystemExit(3)"]
    t = time.monotonic()
    await spawner.start()
    assert time.monotonic() - t < 20  # well before http_timeout (30 s)
    assert spawner.proc.poll() == 3


async def test_no_wait_when_switched_off(spawner):
    spawner.ready_poll_interval = 0
    spawner.script_args = lambda port: [LISTEN_LATER, str(port), "5"]
    ip, port = await spawner.start()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, port), timeout=5).close()
