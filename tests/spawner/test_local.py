"""The embedded backend: drive directories, and sessions through a real hub."""

import os
from pathlib import Path

import pytest

from jupyterhub_sessions.drives import DriveError, legacy_user_slug, user_slug
from jupyterhub_sessions.spawner import local_drives
from jupyterhub_sessions.spawner.local import LocalDriveBackend

from ..drivetools import legacy_collision


async def test_drive_directories(tmp_path):
    backend = LocalDriveBackend(tmp_path)
    assert await backend.list_drives("alice") == []
    with pytest.raises(DriveError, match="no drive named 'data'"):
        await backend.ensure_drive("alice", "data", create=False)
    d = await backend.ensure_drive("alice", "data", create=True)
    assert Path(d.ref) == tmp_path / user_slug("alice") / "data" and Path(d.ref).is_dir()
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
    await backend.create_drive("alice", "home")
    os.symlink(tmp_path, backend.user_dir("alice") / "evil")
    assert await backend.get_drive("alice", "evil") is None
    with pytest.raises(DriveError, match="something else"):
        await backend.create_drive("alice", "evil")


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


async def test_names_that_collided_before_never_share_a_drive(tmp_path):
    victim, attacker = legacy_collision()
    backend = LocalDriveBackend(tmp_path, known_users=lambda: [victim, attacker])
    d = await backend.create_drive(victim, "home")
    (Path(d.ref) / "secret.txt").write_text("victim's")
    assert await backend.list_drives(attacker) == []
    assert await backend.get_drive(attacker, "home") is None
    mine = await backend.create_drive(attacker, "home")
    assert mine.ref != d.ref and list(Path(mine.ref).iterdir()) == []
    assert (Path(d.ref) / "secret.txt").read_text() == "victim's"


async def test_storage_of_another_user_is_refused_even_when_the_key_matches(tmp_path, monkeypatch):
    # a hash collision of the new key (none is known; forced here) still gets nobody in
    backend = LocalDriveBackend(tmp_path)
    d = await backend.create_drive("victim", "home")
    (Path(d.ref) / "secret.txt").write_text("victim's")
    monkeypatch.setattr(local_drives, "user_slug", lambda name: user_slug("victim"))
    for attempt in (
        backend.list_drives("attacker"),
        backend.get_drive("attacker", "home"),
        backend.create_drive("attacker", "home"),
        backend.ensure_drive("attacker", "home", create=True),
    ):
        with pytest.raises(DriveError, match="belongs to something else"):
            await attempt
    with pytest.raises(DriveError, match="belongs to something else"):
        backend.owned_path("attacker", "home")
    assert [x.name for x in await backend.list_drives("victim")] == ["home"]
    assert os.listdir(d.ref) == ["secret.txt"]


async def test_a_folder_without_owner_file_is_not_handed_out(tmp_path):
    (tmp_path / user_slug("alice") / "home").mkdir(parents=True)
    with pytest.raises(DriveError, match="belongs to something else"):
        await LocalDriveBackend(tmp_path).get_drive("alice", "home")


def legacy_drive(root: Path, user: str, drive: str = "home", content: str = "old work") -> Path:
    """A drive as versions before 0.2 left it: <root>/<safe_slug>/<drive>, no owner file, 0755."""
    path = root / legacy_user_slug(user) / drive
    path.mkdir(parents=True)
    (path / "notes.txt").write_text(content)
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o755)
    return path


async def test_a_legacy_drive_moves_to_its_owner_with_everything_in_it(tmp_path):
    old = legacy_drive(tmp_path, "Alice@Example.org")
    backend = LocalDriveBackend(tmp_path, known_users=lambda: ["Alice@Example.org", "bob"])
    assert await backend.list_drives("bob") == []  # someone else's first look changes nothing
    assert old.is_dir()
    (d,) = await backend.list_drives("Alice@Example.org")
    assert (d.name, Path(d.ref)) == ("home", tmp_path / user_slug("Alice@Example.org") / "home")
    assert (Path(d.ref) / "notes.txt").read_text() == "old work"
    assert not old.parent.exists()  # moved, not copied
    assert mode(Path(d.ref)) == 0o700 and mode(Path(d.ref).parent) == 0o700
    again = await backend.ensure_drive("Alice@Example.org", "home", create=False)
    assert again.ref == d.ref


async def test_an_ambiguous_legacy_drive_is_left_alone_and_served_to_nobody(tmp_path, caplog):
    victim, attacker = legacy_collision()
    old = legacy_drive(tmp_path, victim, content="victim's")
    backend = LocalDriveBackend(tmp_path, known_users=lambda: [victim, attacker])
    for user in (attacker, victim):
        assert await backend.list_drives(user) == []
        assert await backend.get_drive(user, "home") is None
    fresh = await backend.create_drive(attacker, "home")
    assert list(Path(fresh.ref).iterdir()) == []
    assert (old / "notes.txt").read_text() == "victim's" and not (old.parent / ".owner").exists()
    assert "matches users" in caplog.text and str(old.parent) in caplog.text


async def test_without_the_hub_user_list_nothing_is_migrated(tmp_path):
    old = legacy_drive(tmp_path, "alice")
    backend = LocalDriveBackend(tmp_path)  # e.g. the SSH gateway: it only serves
    assert await backend.list_drives("alice") == [] and backend.owned_path("alice", "home") is None
    assert old.is_dir()


async def test_a_migration_that_stopped_half_way_is_finished(tmp_path):
    old = legacy_drive(tmp_path, "alice")
    local_drives._write_owner(old.parent, "alice")  # marked, then the hub died before the rename
    backend = LocalDriveBackend(tmp_path, known_users=lambda: ["alice", "alice2"])
    (d,) = await backend.list_drives("alice")
    assert (Path(d.ref) / "notes.txt").read_text() == "old work"


async def test_existing_folders_are_made_private(tmp_path):
    backend = LocalDriveBackend(tmp_path)
    d = await backend.create_drive("alice", "home")
    for path in (Path(d.ref), Path(d.ref).parent):
        os.chmod(path, 0o777)
    await backend.get_drive("alice", "home")
    assert mode(Path(d.ref)) == 0o700 and mode(Path(d.ref).parent) == 0o700
    assert mode(Path(d.ref).parent / ".owner") == 0o600


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

    # a session has no terminal, so the spawner's SIGINT is a stop, not a "Shut down?" prompt
    (proc,) = [
        p
        for p, env in hub.session_processes()
        if env.get("JUPYTERHUB_USER") == user and env.get("JUPYTERHUB_SERVER_NAME") == "work"
    ]
    assert os.readlink(f"/proc/{proc.pid}/fd/0") == "/dev/null"

    # stopping keeps the drive and its files; the drive is free again
    hub.stop_session(user, "work")
    (log,) = (hub.data_dir / "session-logs").glob(f"{user_slug(user)}*/work.log")
    assert "received SIGINT, stopping" in log.read_text()  # through jupyter-server's cleanup
    assert (drive_dir / "hello.txt").read_text() == "hi"
    r = hub.start_session(user, "other", {"drive": "thesis", "session_type": "notebook"})
    assert r.status_code in (201, 202), r.text
    hub.stop_session(user, "other")


def test_a_desktop_served_by_a_proxy_entry_point_is_offered_only_where_that_is_installed(
    shipped_types, monkeypatch
):
    """The shipped desktop has no command: jupyter-remote-desktop-proxy serves it in its image.
    Locally it can start only if that server-proxy entry point is installed in this Python."""
    from jupyterhub_sessions.spawner import local

    spawner = local.LocalSessionSpawner()
    desktop = shipped_types["desktop"]
    monkeypatch.setattr(local, "_proxy_entry_points", lambda: {"rstudio"})
    reason = spawner.type_unavailable_reason(desktop)
    assert reason and "jupyter-server-proxy server named 'desktop'" in reason and "not installed" in reason
    monkeypatch.setattr(local, "_proxy_entry_points", lambda: {"desktop"})
    assert spawner.type_unavailable_reason(desktop) is None
    assert spawner.type_unavailable_reason(shipped_types["notebook"]) is None
    # the real lookup: this venv has no desktop server (the e2e form test shows it disabled)
    monkeypatch.undo()
    assert "desktop" not in local._proxy_entry_points()
