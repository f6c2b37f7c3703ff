"""files.atomic_write: the one way state, personal types, the ssh host key and owner files are written."""

from __future__ import annotations

import os
import stat

import pytest

from jupyterhub_sessions.files import atomic_write


def test_replaces_the_file_private_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    atomic_write(path, "new")
    atomic_write(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "owner"
    path.write_text("alice")
    with pytest.raises(TypeError):
        atomic_write(path, 123)  # not bytes or str
    assert path.read_text() == "alice" and os.listdir(tmp_path) == ["owner"]


def test_a_planted_symlink_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "drive").mkdir()
    link = tmp_path / "drive" / ".owner"
    link.symlink_to(victim)
    atomic_write(link, "bob")
    assert victim.read_text() == "keep"
    assert not link.is_symlink() and link.read_text() == "bob"
