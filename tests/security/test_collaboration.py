"""jupyter-collaboration's rooms (advisory class: unauthenticated or cross-user room access):
only the session's owner (and people it is shared with) can open a document session or join
its websocket room; another user's token and no token are refused."""

from __future__ import annotations

import pytest
import websocket

pytestmark = pytest.mark.hub


def doc_session(hub, victim, token):
    return hub.request(
        "PUT",
        victim.base + "api/collaboration/session/secret.txt",
        token=token,
        json={"format": "text", "type": "file"},
    )


def test_other_users_cannot_open_or_join_a_collaboration_room(hub, alice, bob):
    r = doc_session(hub, alice, alice.token)
    assert r.status_code in (200, 201), r.text  # the owner can
    room = f"{r.json()['format']}:{r.json()['type']}:{r.json()['fileId']}"

    for token in (bob.token, ""):
        r = doc_session(hub, alice, token)
        assert r.status_code in (302, 401, 403), (r.status_code, r.text[:200])

    ws_url = hub.url.replace("http", "ws", 1) + alice.base + f"api/collaboration/room/{room}"
    # the owner's token joins the room ...
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {alice.token}"], timeout=30)
    ws.close()
    # ... bob's token and no token are refused at the handshake
    for header in ([f"Authorization: token {bob.token}"], []):
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            websocket.create_connection(ws_url, header=header, timeout=30)
        assert e.value.status_code in (302, 401, 403)
