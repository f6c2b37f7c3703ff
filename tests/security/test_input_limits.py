"""Oversized and malformed JSON at every API we own or configure: a fast 4xx, nothing started,
nothing stopped, and the service still answering afterwards."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.hub

DEEP = "[" * 200_000 + "]" * 200_000
DEEP_OBJ = '{"a":' * 50_000 + "1" + "}" * 50_000
SMALL_DEEP = "[" * 20_000 + "]" * 20_000  # 40 kB: under the sessions service's 64 kB limit
SMALL_DEEP_OBJ = '{"a":' * 10_000 + "1" + "}" * 10_000


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


@pytest.mark.parametrize(
    "body, message",
    [
        (json.dumps({"session_type": "x" * (5 * 1024 * 1024)}), "'session_type': longer than 256 characters"),
        (json.dumps({f"k{i}": i for i in range(200_000)}), "'k0': unknown option"),
        (DEEP, "Invalid JSON in body of request"),
        (DEEP_OBJ, "Invalid JSON in body of request"),
        ('{"session_type": "notebook", "cpu": 1e999}', "'cpu': must be a finite number"),
        ('{"session_type": "notebook", "cpu": NaN}', "'cpu': must be a finite number"),
        ('{"session_type": ["notebook", "notebook"]}', "'session_type': expected a single value"),
        ("\xff\xfe not json", "Invalid JSON in body of request"),
    ],
    ids=["5MB-string", "200k-keys", "deep-list", "deep-object", "inf", "nan", "list", "binary"],
)
def test_hub_spawn_api_refuses_hostile_bodies_quickly(hub, body, message):
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
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert message in r.json()["message"], r.text[:300]
    assert took < 20
    assert "x" not in hub.user_model(user)["servers"]
    assert hub.api("GET", "").status_code == 200


def test_hub_spawn_api_empty_body_is_the_default_options(hub):
    """The positive control of the cases above: no body is a valid spawn (default options)."""
    user = hub.new_user("big")
    r = hub.api("POST", hub.server_path(user, "x"), data=b"", headers={"Content-Type": "application/json"})
    assert r.status_code in (201, 202), r.text
    try:
        hub.wait_ready(user, "x", timeout=180)
    finally:
        hub.stop_session(user, "x", timeout=90)


def test_sessions_service_refuses_big_and_deep_bodies(hub, alice):
    path = f"services/sessions/api/sessions/{alice.name}/{alice.server}"
    for body, want, message in (
        (b"x" * (200 * 1024), 413, "larger than 65536 bytes"),
        (DEEP.encode(), 413, "larger than 65536 bytes"),
        (DEEP_OBJ.encode(), 413, "larger than 65536 bytes"),
        # nesting deep enough to break a recursive parser, inside the size limit
        (SMALL_DEEP.encode(), 400, "not valid JSON"),
        (SMALL_DEEP_OBJ.encode(), 400, "not valid JSON"),
        (b'{"renew": true}', 400, "Unexpected field 'renew'"),
        (b"[]", 400, "must be a JSON object"),
    ):
        for method, suffix in (("DELETE", ""), ("POST", "/renew")):
            r = hub.request(
                method,
                path + suffix,
                token=alice.token,
                data=body,
                headers={"Content-Type": "application/json"},
            )
            why = (method, len(body), r.status_code, r.text[:200])
            assert r.status_code == want and message in r.json()["message"], why
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
