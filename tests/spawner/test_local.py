"""The embedded backend: drive directories, and sessions through a real hub."""

import os
from pathlib import Path

import pytest

from jupyterhub_sessions.drives import DriveError, user_slug
from jupyterhub_sessions.spawner.local import LocalDriveBackend


async def test_drive_directories(tmp_path):
    backend = LocalDriveBackend(tmp_path)
    assert await backend.list_drives("alice") == []
    with pytest.raises(DriveError, match="no drive named 'data'"):
        await backend.ensure_drive("alice", "data", create=False)
    d = await backend.ensure_drive("alice", "data", create=True)
    assert Path(d.ref) == tmp_path / "alice" / "data" and Path(d.ref).is_dir()
    (Path(d.ref) / "keep.txt").write_text("precious")
    again = await backend.ensure_drive("alice", "data", create=True)
    assert again.ref == d.ref and (Path(d.ref) / "keep.txt").read_text() == "precious"
    assert [x.name for x in await backend.list_drives("alice")] == ["data"]
    assert await backend.list_drives("bob") == []


@pytest.mark.parametrize("user", ["../../etc", "a/b", "ünï", ".."])
async def test_hostile_user_names_stay_inside_root(tmp_path, user):
    backend = LocalDriveBackend(tmp_path)
    d = await backend.create_drive(user, "home")
    path = Path(d.ref).resolve()
    assert path.is_relative_to(tmp_path.resolve()) and path.parent.name == user_slug(user)


@pytest.mark.parametrize("name", ["..", "../x", "a/b", ".hidden", ""])
async def test_hostile_drive_names_refused(tmp_path, name):
    with pytest.raises(DriveError):
        await LocalDriveBackend(tmp_path).create_drive("alice", name)
    assert list(tmp_path.iterdir()) == []


async def test_symlinked_drive_is_not_followed(tmp_path):
    backend = LocalDriveBackend(tmp_path / "drives")
    (tmp_path / "drives" / "alice").mkdir(parents=True)
    os.symlink(tmp_path, tmp_path / "drives" / "alice" / "evil")
    assert await backend.get_drive("alice", "evil") is None
    with pytest.raises(DriveError, match="something else"):
        await backend.create_drive("alice", "evil")


@pytest.mark.hub
def test_session_lifecycle_through_the_hub(hub):
    user = hub.new_user("life")
    r = hub.start_session(
        user,
        "work",
        {"session_type": "notebook", "cpu": 2, "timeout": -1, "drive": "__new__", "new_drive": "thesis"},
    )
    assert r.status_code in (201, 202), r.text
    server = hub.user_model(user)["servers"]["work"]
    assert server["user_options"]["drive"] == "thesis"
    assert server["user_options"]["timeout"] == -1 and server["user_options"]["cpu"] == 2.0
    drive_dir = hub.data_dir / "drives" / user_slug(user) / "thesis"
    assert drive_dir.is_dir()

    # the session runs in its drive: a file written through the session lands there
    token = hub.user_token(user)
    r = hub.request(
        "PUT",
        f"user/{user}/work/api/contents/hello.txt",
        token=token,
        json={"type": "file", "format": "text", "content": "hi"},
    )
    assert r.status_code == 201, r.text
    assert (drive_dir / "hello.txt").read_text() == "hi"

    # the same drive cannot be mounted twice; nothing is created for the refused spawn
    r = hub.start_session(user, "other", {"drive": "thesis"}, wait=False)
    assert r.status_code == 409 and "in use by 'work'" in r.json()["message"]
    assert not hub.user_model(user)["servers"].get("other", {}).get("ready")

    # out-of-bounds options are a 400 naming the field
    r = hub.start_session(user, "bad", {"cpu": 64}, wait=False)
    assert r.status_code == 400 and "'cpu'" in r.json()["message"]
    r = hub.start_session(user, "bad", {"drive": "../../etc"}, wait=False)
    assert r.status_code == 400 and "drive" in r.json()["message"]

    # stopping keeps the drive and its files; the drive is free again
    hub.stop_session(user, "work")
    assert (drive_dir / "hello.txt").read_text() == "hi"
    r = hub.start_session(user, "other", {"drive": "thesis", "session_type": "notebook"})
    assert r.status_code in (201, 202), r.text
    hub.stop_session(user, "other")
