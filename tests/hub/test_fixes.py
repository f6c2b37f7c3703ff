"""hub_fixes: group shares reach group members' tokens, on the hub's own terms.

Runs JupyterHub's real ORM and scope code on an in-memory database: alice
shares her server `s1` with the group `team`, whose member is bob.
"""

from __future__ import annotations

import pytest
from jupyterhub import orm, roles, scopes
from jupyterhub.apihandlers import base as api_base
from tornado import web

from jupyterhub_sessions.hub.fixes import (
    DEAD_SHARE_LINK,
    _refusing_dead_codes,
    include_group_shares_in_token_scopes,
)

SHARED = "access:servers!server=alice/s1"


@pytest.fixture
def fixed(monkeypatch):
    # start from stock JupyterHub (loading a hub config in this process already wraps it)
    # and undo the wrapping after each test
    stock = getattr(scopes.get_scopes_for, "__wrapped__", scopes.get_scopes_for)
    monkeypatch.setattr(scopes, "get_scopes_for", stock)
    monkeypatch.setattr(api_base, "get_scopes_for", stock)
    assert include_group_shares_in_token_scopes() is True
    return scopes.get_scopes_for


@pytest.fixture
def db():
    session = orm.new_session_factory("sqlite://")()
    for role in roles.get_default_roles():
        roles.create_role(session, role)
    session.add(orm.OAuthClient(identifier="jupyterhub"))
    users = {name: orm.User(name=name) for name in ("alice", "bob", "carol")}
    session.add_all(users.values())
    session.commit()
    for user in users.values():
        roles.assign_default_roles(session, user)
    spawner = orm.Spawner(user=users["alice"], name="s1")
    session.add(spawner)
    session.add(orm.OAuthClient(identifier="jupyterhub-user-alice-s1", spawner=spawner))
    team = orm.Group(name="team")
    team.users.append(users["bob"])
    session.add(team)
    session.commit()
    orm.Share.grant(session, spawner, team)
    session.commit()
    yield session
    session.close()


def user(db, name):
    return orm.User.find(db, name)


def token(db, name, scopes_=("inherit",), client_id="jupyterhub"):
    raw = user(db, name).new_api_token(scopes=list(scopes_), client_id=client_id)
    return orm.APIToken.find(db, raw)


def test_group_members_tokens_get_the_share(db, fixed):
    assert SHARED in fixed(token(db, "bob"))
    # the hub's token model (GET /hub/api/user) uses the same answer
    assert api_base.get_scopes_for is fixed


def test_the_oauth_token_for_the_shared_server_gets_it(db, fixed):
    oauth = token(db, "bob", [SHARED, "read:users:name!user=bob"], client_id="jupyterhub-user-alice-s1")
    assert SHARED in fixed(oauth)


def test_a_token_that_did_not_ask_for_it_does_not_get_it(db, fixed):
    assert SHARED not in fixed(token(db, "bob", ["read:users:name!user=bob"]))


def test_non_members_get_nothing(db, fixed):
    assert SHARED not in fixed(token(db, "carol"))
    assert not any("alice" in s for s in fixed(token(db, "carol")))


def test_leaving_the_group_or_a_revoke_ends_it(db, fixed):
    bob_token = token(db, "bob")
    team = orm.Group.find(db, "team")
    team.users.remove(user(db, "bob"))
    db.commit()
    assert SHARED not in fixed(bob_token)

    team.users.append(user(db, "bob"))
    db.commit()
    assert SHARED in fixed(bob_token)
    orm.Share.revoke(db, user(db, "alice").orm_spawners["s1"], team)
    db.commit()
    assert SHARED not in fixed(bob_token)


def test_only_share_scopes_are_added(db, fixed):
    bob_token = token(db, "bob")
    before = set(scopes.get_scopes_for.__wrapped__(bob_token))
    assert set(fixed(bob_token)) - before == {SHARED}


def test_applying_twice_wraps_once(db, fixed):
    assert include_group_shares_in_token_scopes() is False
    assert scopes.get_scopes_for is fixed


class _Handler:
    current_user = None


@pytest.mark.parametrize(
    "error, expected",
    [
        (web.HTTPError(404, "Share not found or expired"), 403),
        (web.HTTPError(400, "Invalid share code: abcd1234"), 403),
        (web.HTTPError(403, "You can't share with yourself!"), 403),
        (web.HTTPError(400, "You can't share with yourself!"), 400),
        (web.HTTPError(404, "No such user"), 404),
    ],
)
async def test_only_dead_share_codes_become_the_403_page(error, expected):
    async def get(self):
        raise error

    def post(self):  # JupyterHub's post is synchronous
        raise error

    for method in (get, post):
        with pytest.raises(web.HTTPError) as e:
            await _refusing_dead_codes(method)(_Handler())
        assert e.value.status_code == expected
        if error.log_message.startswith(("Share not found", "Invalid share code")):
            assert e.value.log_message == DEAD_SHARE_LINK and "abcd1234" not in e.value.log_message
        else:
            assert e.value is error


async def test_live_share_pages_are_untouched():
    async def get(self):
        return "page"

    assert await _refusing_dead_codes(get)(_Handler()) == "page"
