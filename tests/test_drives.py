import pytest
from kubespawner.slugs import is_valid_label, is_valid_object_name

from jupyterhub_sessions.drives import (
    DriveError,
    drive_labels,
    pvc_name,
    user_slug,
    validate_drive_name,
)

HOSTILE_USERS = ["alice", "Alice", "ünïcødé", "名前", "a-b", "a--b", "../../etc", "x" * 200, "a b", "a.b@c"]


@pytest.mark.parametrize("name", ["home", "Data_1", "a", "x" * 40, "2024-thesis"])
def test_valid_drive_names(name):
    assert validate_drive_name(name) == name


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../x", "a/b", "-x", "_x", "x" * 41, "a b", "dr\u00efve", "a\x00", None, 3, ["a"]]
)
def test_invalid_drive_names(name):
    with pytest.raises(DriveError, match="Invalid drive name"):
        validate_drive_name(name)


@pytest.mark.parametrize("user", HOSTILE_USERS)
def test_names_are_valid_kubernetes_names(user):
    name = pvc_name(user, "home")
    assert is_valid_object_name(name[len("drive-") :]) and len(name) <= 63
    for value in drive_labels(user, "home").values():
        assert is_valid_label(value)
    assert "/" not in user_slug(user) and ".." not in user_slug(user)


def test_names_never_collide():
    pairs = [(u, d) for u in HOSTILE_USERS for d in ["home", "b-c", "c", "Home"]]
    pairs += [("a-b", "c"), ("a", "b-c"), ("a--b", "c"), ("a", "-b--c")]
    names = {pvc_name(u, d) for u, d in pairs}
    assert len(names) == len(set(pairs))
    slugs = {user_slug(u) for u in HOSTILE_USERS}
    assert len(slugs) == len(HOSTILE_USERS)


def test_storage_keys_hash_the_exact_names_in_full():
    from jupyterhub_sessions.drives import drive_slug, storage_digest

    assert user_slug("alice").endswith("-" + storage_digest("user", "alice"))
    assert len(storage_digest("user", "alice")) == 52  # all 256 bits, base32
    assert drive_slug("alice", "home").endswith("-" + storage_digest("drive", "alice", "home"))
    # the readable hint carries no identity: names that read alike still differ
    assert user_slug("Bob@Example.org") != user_slug("bob.example.org") != user_slug("bob-example-org")
    assert storage_digest("drive", "a", "bc") != storage_digest("drive", "ab", "c")


def test_names_that_collided_before_get_different_storage():
    from jupyterhub_sessions.drives import legacy_pvc_name, legacy_user_slug

    from .drivetools import legacy_collision

    victim, attacker = legacy_collision()
    assert victim != attacker
    assert legacy_user_slug(victim) == legacy_user_slug(attacker)  # the old scheme: one folder for both
    assert user_slug(victim) != user_slug(attacker)
    assert pvc_name(victim, "home") != pvc_name(attacker, "home")
    assert drive_labels(victim, "home") != drive_labels(attacker, "home")
    assert legacy_pvc_name(victim, "home") != pvc_name(victim, "home")
