"""Shared victims for the hostile-input tests: two users, each with one running session and a secret file."""

from __future__ import annotations

import secrets

import pytest


class Victim:
    def __init__(self, hub, prefix, server):
        self.hub = hub
        self.name = hub.new_user(prefix)
        self.server = server
        self.secret = "secret-" + secrets.token_hex(8)
        self.token = hub.user_token(self.name)

    @property
    def base(self) -> str:
        """Path of the session under the public URL, e.g. user/alice/s1/."""
        return f"user/{self.name}/{self.server}/"

    def start(self):
        r = self.hub.start_session(
            self.name,
            self.server,
            {"session_type": "notebook", "timeout": 3600, "collaborative": True},
            wait=False,
        )
        assert r.status_code in (201, 202), r.text
        return self

    def ready(self):
        self.hub.wait_ready(self.name, self.server, timeout=180)
        r = self.hub.request(
            "PUT",
            self.base + "api/contents/secret.txt",
            token=self.token,
            json={"type": "file", "format": "text", "content": self.secret},
        )
        assert r.status_code == 201, r.text
        return self

    def running(self) -> bool:
        s = self.hub.user_model(self.name)["servers"].get(self.server)
        return bool(s and s["ready"] and not s["pending"])


@pytest.fixture(scope="package")
def victims(hub):
    a, b = Victim(hub, "alice", "s1").start(), Victim(hub, "bob", "s2").start()
    a.ready(), b.ready()
    try:
        yield a, b
    finally:
        for v in (a, b):
            hub.stop_session(v.name, v.server, wait=False)


@pytest.fixture
def alice(victims):
    return victims[0]


@pytest.fixture
def bob(victims):
    return victims[1]
