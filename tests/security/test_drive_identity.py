"""Drive identities through a real hub (issue 17, item 6).

Before 0.2 a drive folder was named by kubespawner's `safe_slug` (32-bit
hash): the reviewer found by brute force a user name landing on an
e-mail-like victim's folder, and logging in with it served the victim's
files. Here the same kind of pair (found in the setup, `drivetools`) logs in
to the running platform; and a drive left by the old scheme is found by its
owner, and only by its owner.
"""

from __future__ import annotations

import os

import pytest

from jupyterhub_sessions.drives import legacy_user_slug, user_slug

from ..drivetools import legacy_collision

pytestmark = pytest.mark.hub

OPTIONS = {"session_type": "notebook", "timeout": 3600}


def base(hub, user, server) -> str:
    """The session's path as the hub spells it (user names with '@' and '+' are escaped its way)."""
    return hub.user_model(user)["servers"][server]["url"].lstrip("/")


def contents(hub, user, server, path=""):
    return hub.request("GET", base(hub, user, server) + f"api/contents/{path}", token=hub.user_token(user))


def start(hub, user, server):
    r = hub.start_session(user, server, OPTIONS, timeout=180)
    assert r.status_code in (201, 202), r.text


def test_a_name_that_collided_before_gets_its_own_empty_drive(hub):
    victim, attacker = legacy_collision()
    for name in (victim, attacker):
        hub.ensure_user(name)
    start(hub, victim, "mail")
    try:
        r = hub.request(
            "PUT",
            base(hub, victim, "mail") + "api/contents/secret.txt",
            token=hub.user_token(victim),
            json={"type": "file", "format": "text", "content": "the victim's"},
        )
        assert r.status_code == 201, r.text
        start(hub, attacker, "mail")
        try:
            listed = [e["name"] for e in contents(hub, attacker, "mail").json()["content"]]
            assert "secret.txt" not in listed
            assert contents(hub, attacker, "mail", "secret.txt").status_code == 404
        finally:
            hub.stop_session(attacker, "mail")
    finally:
        hub.stop_session(victim, "mail")
    drives = hub.data_dir / "drives"
    assert (drives / user_slug(victim) / "home" / "secret.txt").read_text() == "the victim's"
    assert not (drives / user_slug(attacker) / "home" / "secret.txt").exists()


def test_a_drive_from_before_the_upgrade_opens_for_its_owner(hub):
    owner = hub.new_user("Legacy.Owner@")
    old = hub.data_dir / "drives" / legacy_user_slug(owner) / "home"
    old.mkdir(parents=True)
    (old / "thesis.txt").write_text("chapter one")
    os.chmod(old, 0o755)
    start(hub, owner, "back")
    try:
        r = contents(hub, owner, "back", "thesis.txt")
        assert r.status_code == 200 and r.json()["content"] == "chapter one"
    finally:
        hub.stop_session(owner, "back")
    new = hub.data_dir / "drives" / user_slug(owner) / "home"
    assert (new / "thesis.txt").read_text() == "chapter one" and not old.exists()
    assert new.stat().st_mode & 0o777 == 0o700
