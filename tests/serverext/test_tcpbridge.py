"""`sessions-api/tcp/<port>`: one TCP connection into the session over a websocket.

A `jupyter server` with the extension, scoped like a pod (every listening port
is the session's), and a raw TCP echo server beside it.
"""

from __future__ import annotations

import os

import pytest
import websocket

from .servertools import start_jupyter_server, start_tcp_echo
from .test_extension import LAB_INFO


@pytest.fixture(scope="module")
def pod_like_server(tmp_path_factory):
    server = start_jupyter_server(
        tmp_path_factory.mktemp("bridge"), LAB_INFO, extra_args=["--SessionsServerExtension.ports_scope=all"]
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tcp_echo(tmp_path_factory):
    proc = start_tcp_echo(tmp_path_factory.mktemp("tcp"))
    yield proc
    proc.stop()


def bridge(server, port, token=None):
    url = server.url.replace("http://", "ws://") + f"sessions-api/tcp/{port}"
    header = [] if token == "" else [f"Authorization: token {server.token if token is None else token}"]
    return websocket.create_connection(url, header=header, timeout=15)


def test_bytes_go_both_ways_and_the_port_hanging_up_closes_it(pod_like_server, tcp_echo):
    ws = bridge(pod_like_server, tcp_echo.port)
    try:
        payload = os.urandom(200_000)
        ws.send_binary(payload)
        got = b""
        while len(got) < len(payload):
            opcode, data = ws.recv_data()
            assert opcode == websocket.ABNF.OPCODE_BINARY
            got += data
        assert got == payload
        ws.send_binary(b"bye\n")
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
    finally:
        ws.close()


@pytest.mark.parametrize("token", ["", "not-the-token"])
def test_no_bridge_without_the_sessions_auth(pod_like_server, tcp_echo, token):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        bridge(pod_like_server, tcp_echo.port, token=token)
    assert e.value.status_code in (302, 401, 403)


def test_only_ports_listening_in_the_session(pod_like_server, tcp_echo):
    from tests.hubtools import free_port

    for port, status in [
        (free_port(), 403),
        (pod_like_server.port, 403),
        ("0", 400),
        ("99999", 400),
        ("abc", 400),
        ("1e3", 400),
    ]:
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            bridge(pod_like_server, port)
        assert e.value.status_code == status, port
    r = pod_like_server.get("sessions-api/tcp/abc")
    assert r.status_code == 400  # also over plain HTTP: never a page


def test_sftp_bridge_needs_the_sessions_auth(pod_like_server):
    url = pod_like_server.url.replace("http://", "ws://") + "sessions-api/sftp"
    for header in ([], ["Authorization: token not-the-token"]):
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            websocket.create_connection(url, header=header, timeout=15)
        assert e.value.status_code in (302, 401, 403)


def test_sftp_bridge_speaks_sftp_from_the_servers_root(pod_like_server):
    """SSH_FXP_INIT → SSH_FXP_VERSION from the session's sftp-server, then the root dir is its cwd."""
    import struct

    ws = websocket.create_connection(
        pod_like_server.url.replace("http://", "ws://") + "sessions-api/sftp",
        header=[f"Authorization: token {pod_like_server.token}"],
        timeout=15,
    )
    try:
        ws.send_binary(struct.pack(">IBI", 5, 1, 3))  # INIT, version 3
        reply = ws.recv()
        length, kind, version = struct.unpack(">IBI", reply[:9])
        assert kind == 2 and version == 3  # VERSION
        path = b"."
        ws.send_binary(struct.pack(">IBII", 1 + 4 + 4 + len(path), 16, 7, len(path)) + path)  # REALPATH
        reply = ws.recv()
        assert reply[4] == 104  # NAME
        (name_len,) = struct.unpack(">I", reply[13:17])
        assert reply[17 : 17 + name_len].decode() == str(pod_like_server.root)
    finally:
        ws.close()


def test_no_sftp_server_is_a_clear_404(tmp_path):
    """A session image without OpenSSH's sftp-server: the bridge answers 404 (the ssh gateway turns
    that into "sftp is not available in this session"), and the session's log names the package."""
    config = tmp_path / "config"
    config.mkdir()
    # what an image without openssh-sftp-server looks like to the server: nowhere to find one
    (config / "jupyter_server_config.py").write_text(
        "import jupyterhub_sessions.serverext.tcpbridge as _t\n"
        "_t.SFTP_SERVER_PATHS = ('/nonexistent/sftp-server',)\n"
    )
    server = start_jupyter_server(
        tmp_path, LAB_INFO, extra_args=["--SessionsServerExtension.ports_scope=all"]
    )
    try:
        url = server.url.replace("http://", "ws://") + "sessions-api/sftp"
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            websocket.create_connection(url, header=[f"Authorization: token {server.token}"], timeout=15)
        assert e.value.status_code == 404
        assert server.get("sessions-api/sftp").status_code == 404  # also over plain HTTP
        log = server.log_path.read_text(errors="replace")
        assert "sftp-server is not installed in this session (install openssh-sftp-server" in log
        # not a refusal for everyone: the same server without a token is refused before that
        r = server.get("sessions-api/sftp", token="")
        assert r.status_code in (302, 401, 403)
    finally:
        server.stop()
