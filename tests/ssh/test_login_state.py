"""Nothing is decided before authentication succeeds (issue 17 item 3).

The attack: query (unsigned) the victim's *public* key under the victim's login
name, which the server accepts as "would be OK", then switch to one's own name
and key and authenticate for real. The gateway is driven through the exact
calls asyncssh makes for that sequence; the target must be the attacker's own
session, and every channel checks it again.
"""

from __future__ import annotations

import asyncssh
import pytest

from jupyterhub_sessions.ssh.gateway import SSHGateway, _Connection
from jupyterhub_sessions.ssh.hubclient import SessionTarget, SessionUnavailable
from jupyterhub_sessions.ssh.keys import parse_public_key
from jupyterhub_sessions.ssh.store import KeyStore

CREATED = {"victim": "2026-01-01T00:00:00Z", "mallory": "2026-01-02T00:00:00Z"}


class FakeHub:
    def __init__(self):
        self.created = dict(CREATED)
        self.started: list[str] = []

    async def user_identity(self, user):
        return self.created.get(user)

    async def get_session(self, user, server):
        if user not in self.created:
            return None
        return SessionTarget(
            user, server, True, True, None, f"/user/{user}/", {"drive": "home"}, self.created[user]
        )

    async def ssh_connection(self, *args):
        return True

    async def forget_ssh_connections(self, service):
        return True


class FakeConn:
    """The asyncssh connection as the owner sees it."""

    def __init__(self):
        self.extra = {"peername": ("127.0.0.1", 1)}
        self.banners = []

    def get_extra_info(self, name, default=None):
        return self.extra.get(name, default)

    def send_auth_banner(self, msg):
        self.banners.append(msg)


def keypair():
    private = asyncssh.generate_private_key("ssh-ed25519")
    return private, private.convert_to_public()


@pytest.fixture
async def world(tmp_path):
    store = KeyStore(tmp_path / "keys.sqlite")
    hub = FakeHub()
    keys = {}
    for user in CREATED:
        _, public = keypair()
        keys[user] = public
        await store.add(user, CREATED[user], "laptop", parse_public_key(public.export_public_key().decode()))
    gateway = SSHGateway(store, hub, "token", str(tmp_path))
    return gateway, hub, keys


def login(gateway) -> _Connection:
    conn = _Connection(gateway)
    fake = FakeConn()
    conn.connection_made(fake)
    return conn


async def authenticate(conn, username):
    """What asyncssh does after a successful attempt: the final name, then auth_completed."""
    conn.conn.extra["username"] = username
    conn.auth_completed()


async def test_a_query_for_someone_elses_key_sets_nothing(world):
    gateway, hub, keys = world
    conn = login(gateway)
    conn.begin_auth("victim")
    assert await conn.validate_public_key("victim", keys["victim"])  # the query is answered "OK"...
    assert conn.auth is None  # ...but nothing is decided
    conn.begin_auth("mallory")
    assert await conn.validate_public_key("mallory", keys["mallory"])
    await authenticate(conn, "mallory")
    assert (conn.auth.user, conn.auth.identity) == ("mallory", CREATED["mallory"])
    target = await conn.channel_target()
    assert target.user == "mallory" and target.url == "/user/mallory/"


async def test_a_key_of_another_user_is_not_accepted_for_ones_own_name(world):
    gateway, _, keys = world
    conn = login(gateway)
    assert not await conn.validate_public_key("mallory", keys["victim"])
    assert not await conn.validate_public_key("victim+work", keys["mallory"])


async def test_every_channel_checks_the_user_is_still_the_same(world):
    gateway, hub, keys = world
    conn = login(gateway)
    assert await conn.validate_public_key("mallory+work", keys["mallory"])
    await authenticate(conn, "mallory+work")
    assert (await conn.channel_target()).server == "work"
    # the user is deleted and someone creates "mallory" again while the connection is open
    hub.created["mallory"] = "2026-05-01T00:00:00Z"
    with pytest.raises(SessionUnavailable, match="no longer valid"):
        await conn.channel_target()


async def test_a_removed_key_stops_opening_channels(world):
    gateway, hub, keys = world
    conn = login(gateway)
    assert await conn.validate_public_key("mallory", keys["mallory"])
    await authenticate(conn, "mallory")
    (stored,) = await gateway.store.list("mallory", CREATED["mallory"])
    await gateway.store.remove("mallory", CREATED["mallory"], stored.id)
    with pytest.raises(SessionUnavailable):
        await conn.channel_target()
