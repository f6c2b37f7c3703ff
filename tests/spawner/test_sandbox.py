"""The sandbox command line (spawner/sandbox.py) and the spawner's choice to use it, without a hub."""

from __future__ import annotations

import subprocess

import pytest

from jupyterhub_sessions.spawner import sandbox
from jupyterhub_sessions.spawner.sandbox import find_bwrap, sandbox_command


def mounts(args: list[str]) -> list[tuple[str, ...]]:
    """The mount operations of a bwrap command line, in order."""
    out, i = [], 1
    two = {"--bind", "--ro-bind", "--symlink"}
    while args[i] != "--":
        if args[i] in two:
            out.append((args[i], args[i + 1], args[i + 2]))
            i += 3
        elif args[i] in ("--tmpfs", "--dev", "--proc", "--chdir", "--cap-drop"):
            out.append((args[i], args[i + 1]))
            i += 2
        else:
            out.append((args[i],))
            i += 1
    return out


def test_the_data_dir_is_hidden_after_everything_readable_and_the_drive_comes_last(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    data = repo / "data"  # ./dev.sh run keeps the data dir inside the repository
    drive = data / "drives" / "u-key" / "home"
    runtime = data / "runtime" / "u-key-s"
    for p in (drive, runtime):
        p.mkdir(parents=True)
    monkeypatch.setattr(sandbox, "python_paths", lambda: [repo])
    ops = mounts(sandbox_command("bwrap", drive=drive, hidden=[data], writable=[runtime]))
    assert ("--ro-bind", str(repo), str(repo)) in ops
    hide = ops.index(("--tmpfs", str(data)))
    assert hide > ops.index(("--ro-bind", str(repo), str(repo)))
    assert ops.index(("--tmpfs", "/tmp")) < hide
    assert ops[hide + 1 :] == [
        ("--bind", str(drive), str(drive)),
        ("--bind", str(runtime), str(runtime)),
        ("--chdir", str(drive)),
    ]
    assert ("--ro-bind", "/etc", "/etc") in ops and ("--tmpfs", "/etc/ssh") in ops
    assert not [o for o in ops if o[0] == "--bind" and o[1] not in (str(drive), str(runtime))]


@pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap does not work here")
def test_a_command_in_the_sandbox_sees_its_drive_only(tmp_path):
    data = tmp_path / "data"
    mine, theirs = data / "drives" / "me" / "home", data / "drives" / "them" / "home"
    for d in (mine, theirs):
        d.mkdir(parents=True)
        (d / "f.txt").write_text(d.parent.name + "\n")
    (data / "jupyterhub.sqlite").write_text("db")
    cmd = sandbox_command(find_bwrap(), drive=mine, hidden=[data])
    script = f"cat f.txt; cat {theirs}/f.txt || echo no-theirs; cat {data}/jupyterhub.sqlite || echo no-db; echo new > g.txt"
    out = subprocess.run([*cmd, "/bin/sh", "-c", script], capture_output=True, text=True, timeout=60).stdout
    assert out.split() == ["me", "no-theirs", "no-db"]
    assert (mine / "g.txt").read_text() == "new\n"


def test_sandbox_off_or_missing(monkeypatch, tmp_path):
    from jupyterhub_sessions.spawner.local import LocalSessionSpawner

    sp = LocalSessionSpawner(data_dir=str(tmp_path), sandbox="off")
    assert sp.sandbox_prefix() == []
    monkeypatch.setattr("jupyterhub_sessions.spawner.local.find_bwrap", lambda: None)
    sp.sandbox = "auto"
    assert sp.sandbox_prefix() == []  # runs, and the hub warned at start-up
    sp.sandbox = "bwrap"
    with pytest.raises(RuntimeError, match="must run in a sandbox"):
        sp.sandbox_prefix()


def test_start_up_warning_when_sessions_are_not_isolated(monkeypatch):
    from jupyterhub_sessions import embedded

    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)
    monkeypatch.delenv("JUPYTERHUB_SESSIONS_SANDBOX", raising=False)
    assert "NOT isolated" in embedded.isolation_warning() and "bubblewrap" in embedded.isolation_warning()
    monkeypatch.setenv("JUPYTERHUB_SESSIONS_SANDBOX", "off")
    assert "NOT isolated" in embedded.isolation_warning()
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: "/usr/bin/bwrap")
    monkeypatch.setenv("JUPYTERHUB_SESSIONS_SANDBOX", "auto")
    assert embedded.isolation_warning() is None


@pytest.mark.skipif(find_bwrap() is None, reason="bubblewrap does not work here")
def test_a_directory_the_admin_lists_is_readable_and_only_that_one(tmp_path):
    """sandbox_readable_paths: software installed outside the system's paths (e.g. /opt/toolkit)."""
    from jupyterhub_sessions.spawner.local import LocalSessionSpawner

    drive, toolkit, other = tmp_path / "drive", tmp_path / "toolkit", tmp_path / "other"
    for d in (drive, toolkit, other):
        d.mkdir()
        (d / "f.txt").write_text(d.name + "\n")
    sp = LocalSessionSpawner(data_dir=str(tmp_path / "data"), sandbox="bwrap")
    sp.sandbox_readable_paths = [str(toolkit)]
    (tmp_path / "data").mkdir()
    sp.home_dir = str(drive)
    sp.get_env = dict  # no hub (user, runtime dir) here
    sp.sandbox_writable = lambda env, prepared=None: []
    script = f"cat {toolkit}/f.txt; cat {other}/f.txt || echo no-other; echo x > {toolkit}/g || echo ro"
    cmd = [*sp.sandbox_prefix(), "/bin/sh", "-c", script]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    assert out.split() == ["toolkit", "no-other", "ro"]
