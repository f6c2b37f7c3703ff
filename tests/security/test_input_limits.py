"""Oversized and malformed JSON at every API we own or configure: a fast 4xx, nothing started,
nothing stopped, and the service still answering afterwards."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.hub

DEEP = "[" * 200_000 + "]" * 200_000
DEEP_OBJ = '{"a":' * 50_000 + "1" + "}" * 50_000


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"session_type": "x" * (5 * 1024 * 1024)}),
        json.dumps({f"k{i}": i for i in range(200_000)}),
        DEEP,
        DEEP_OBJ,
        '{"session_type": "notebook", "cpu": 1e999}',
        '{"session_type": "notebook", "cpu": NaN}',
        '{"session_type": ["notebook", "notebook"]}',
        "\xff\xfe not json",
        "",
    ],
    ids=[
        "5MB-string",
        "200k-keys",
        "deep-list",
        "deep-object",
        "inf",
        "nan",
        "list",
        "binary",
        "empty-object",
    ],
)
def test_hub_spawn_api_refuses_hostile_bodies_quickly(hub, body):
    user = hub.new_user("big")
    r, took = timed(
        lambda: hub.api(
            "POST",
            hub.server_path(user, "x"),
            data=body.encode("utf-8", "surrogateescape"),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
    )
    if body == "":  # no body means default options: that is a valid spawn
        assert r.status_code in (201, 202), r.text
        hub.stop_session(user, "x", timeout=90)
        return
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert took < 20
    assert not hub.user_model(user)["servers"].get("x", {}).get("ready")
    assert hub.api("GET", "").status_code == 200


def test_sessions_service_refuses_big_and_deep_bodies(hub, alice):
    path = f"services/sessions/api/sessions/{alice.name}/{alice.server}"
    for body, want in (
        (b"x" * (200 * 1024), 413),
        (DEEP.encode(), 400),
        (DEEP_OBJ.encode(), 400),
        (b'{"renew": true}', 400),
        (b"[]", 400),
    ):
        for method, suffix in (("DELETE", ""), ("POST", "/renew")):
            r = hub.request(
                method,
                path + suffix,
                token=alice.token,
                data=body,
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code in (want, 413, 400), (method, len(body), r.status_code, r.text[:200])
            assert r.headers["Content-Type"].startswith("application/json")
    # several MB: read and dropped (never kept), still a clear 413 through the proxy
    r = hub.request(
        "DELETE",
        path,
        token=alice.token,
        data=b"x" * (3 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413 and "larger than" in r.json()["message"], r.status_code
    assert alice.running()
    assert hub.request("GET", path, token=alice.token).status_code == 200


def test_session_api_refuses_big_and_deep_bodies(hub, alice):
    url = alice.base + "sessions-api/"
    for body in (
        DEEP.encode(),
        DEEP_OBJ.encode(),
        b"[1,2]",
        b'{"expires_in": 1e999}',
        json.dumps({"expires_in": "9" * 5000}).encode(),
    ):
        r = hub.request(
            "POST",
            url + "share-codes",
            token=alice.token,
            data=body,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400, (len(body), r.status_code, r.text[:200])
        r = hub.request(
            "DELETE",
            url + "shares",
            token=alice.token,
            data=body,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400, (len(body), r.status_code, r.text[:200])
    assert hub.request("GET", url + "session", token=alice.token).status_code == 200
    assert alice.running()
