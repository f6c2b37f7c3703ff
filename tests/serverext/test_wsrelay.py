"""Websockets through the port proxy: the app's handshake, frames passed as they are."""

from __future__ import annotations

import random
import struct
import sys

import pytest
import websocket

from jupyterhub_sessions.serverext.wsrelay import FrameBoundaries, close_frame

from . import bulk_app
from .servertools import free_port, start_jupyter_server, start_process


def frame(payload: bytes, masked: bool = False) -> bytes:
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = bytes((0x82, mask_bit | n))
    elif n < 65536:
        head = bytes((0x82, mask_bit | 126)) + struct.pack("!H", n)
    else:
        head = bytes((0x82, mask_bit | 127)) + struct.pack("!Q", n)
    return head + (b"\x01\x02\x03\x04" if masked else b"") + payload


def test_frame_boundaries_are_found_across_any_split():
    rng = random.Random(3)
    frames = [frame(b"x" * n, masked=rng.random() < 0.5) for n in (0, 1, 125, 126, 127, 65535, 65536, 70000)]
    stream = b"".join(frames)
    ends = set()
    pos = 0
    for f in frames:
        pos += len(f)
        ends.add(pos)
    for _ in range(50):
        fb = FrameBoundaries()
        pos = 0
        while pos < len(stream):
            piece = stream[pos : pos + rng.randint(1, 9000)]
            fb.feed(piece)
            pos += len(piece)
            assert fb.at_boundary == (pos in ends)
    # stopping at the first boundary inside a piece (where a close frame may go)
    for start in (3, len(frames[0]) + 1, len(stream) - 5):
        fb = FrameBoundaries()
        fb.feed(stream[:start])  # inside a frame
        taken = fb.feed(stream[start:], stop_at_boundary=True)
        assert start + taken == min(e for e in ends if e > start)
        assert fb.at_boundary


def test_close_frame():
    assert close_frame(1008, "revoked") == b"\x88\x09\x03\xf0revoked"
    assert close_frame(None, None) == b"\x88\x00"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ws")
    port = free_port()
    app = start_process([sys.executable, bulk_app.__file__, str(port)], port, tmp, "app")
    server = start_jupyter_server(tmp / "server", {"session_type": "notebook", "interface": {"kind": "lab"}})
    yield server, app
    server.stop()
    app.stop()


def test_the_app_chooses_the_subprotocol(setup):
    """jupyter-server-proxy#459: the proxy used to pick the first one offered itself."""
    server, app = setup
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/proxy/{app.port}/ws",
        header=[f"Authorization: token {server.token}"],
        subprotocols=["first", "app.v1", "app.v2"],
        timeout=10,
    )
    try:
        assert ws.subprotocol == "app.v2"
        big = bytes(range(256)) * 80_000  # 20 MB in one binary message, echoed whole
        ws.send_binary(big)
        assert ws.recv() == big
    finally:
        ws.close()


def test_an_app_that_refuses_the_upgrade_answers_over_http(setup):
    server, app = setup
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(
            f"ws://127.0.0.1:{server.port}/proxy/{app.port}/small",
            header=[f"Authorization: token {server.token}"],
            timeout=10,
        )
    assert e.value.status_code == 200  # the app's plain answer, passed on


def test_cross_origin_websockets_are_refused_before_the_app_sees_them(setup):
    server, app = setup
    url = f"ws://127.0.0.1:{server.port}/proxy/{app.port}/ws"
    auth = f"Authorization: token {server.token}"
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(url, header=[auth], origin="http://evil.example", timeout=10)
    assert e.value.status_code == 403
    ws = websocket.create_connection(url, header=[auth], origin=f"http://127.0.0.1:{server.port}", timeout=10)
    ws.close()


TRACK = """
from tornado.websocket import WebSocketHandler

_original = WebSocketHandler.get_websocket_protocol


def _seen(self):
    with open({path!r}, "a") as f:
        f.write(self.request.path + "\\n")
    return _original(self)


WebSocketHandler.get_websocket_protocol = _seen
"""


def test_relayed_websockets_are_seen_as_accepted_websockets(tmp_path, setup):
    """Whatever tracks accepted websockets by tornado's hook (revoke.track_websockets) finds
    relayed ones: it is how a revoke or a periodic access check closes them."""
    _, app = setup
    seen = tmp_path / "seen.txt"
    (tmp_path / "s" / "config").mkdir(parents=True)
    (tmp_path / "s" / "config" / "jupyter_server_config.py").write_text(TRACK.format(path=str(seen)))
    server = start_jupyter_server(tmp_path / "s", {"session_type": "notebook", "interface": {"kind": "lab"}})
    try:
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{server.port}/proxy/{app.port}/ws",
            header=[f"Authorization: token {server.token}"],
            timeout=10,
        )
        ws.close()
    finally:
        server.stop()
    assert f"/proxy/{app.port}/ws" in seen.read_text().splitlines()
