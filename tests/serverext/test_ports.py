"""Which listening ports count as "in the session"."""

import os
import subprocess
import sys

import pytest

from jupyterhub_sessions.serverext.ports import listening_ports

from .servertools import free_port, port_open, wait_until


@pytest.fixture
def child_server(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), timeout=20, what="http.server")
        yield proc, port
    finally:
        proc.kill()
        proc.wait(5)


def test_ports_of_the_process_tree_are_listed(child_server):
    proc, port = child_server
    ports = listening_ports(os.getpid(), "process-tree", exclude=set())
    (entry,) = [p for p in ports if p.port == port]
    assert entry.pid == proc.pid
    assert entry.address == "127.0.0.1"
    assert "python" in entry.process


def test_ports_of_other_process_trees_are_not(child_server):
    proc, port = child_server
    # from the point of view of a session rooted at another process
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert port not in {p.port for p in listening_ports(other.pid, "process-tree", exclude=set())}
    finally:
        other.kill()
        other.wait(5)


def test_excluded_ports_are_left_out(child_server):
    _, port = child_server
    assert port not in {p.port for p in listening_ports(os.getpid(), "process-tree", exclude={port})}


def test_all_scope_sees_ports_outside_the_tree(child_server):
    _, port = child_server
    assert port in {p.port for p in listening_ports(1, "all", exclude=set())}


def test_ports_only_on_another_address_are_not_proxyable():
    # jupyter-server-proxy connects to localhost; a socket bound elsewhere is unreachable
    from jupyterhub_sessions.serverext.ports import _reachable_from_localhost

    assert _reachable_from_localhost("127.0.0.1")
    assert _reachable_from_localhost("0.0.0.0")
    assert _reachable_from_localhost("::")
    assert _reachable_from_localhost("::1")
    assert not _reachable_from_localhost("10.1.2.3")
