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
