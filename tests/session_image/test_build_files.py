"""The session-image build files agree with the profiles (no Docker engine needed)."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO

IMAGE_DIR = REPO / "hub_config" / "kubernetes" / "session-image"


def test_the_images_the_profiles_name_are_the_ones_build_sh_builds(shipped_types):
    listed = subprocess.run(
        ["bash", str(IMAGE_DIR / "build.sh"), "--print"], capture_output=True, text=True, check=True
    ).stdout.split()
    named = {i for st in shipped_types.values() for i in [st.image.default, *st.image.allowed]}
    assert named == set(listed)
    dockerfile = (IMAGE_DIR / "Dockerfile").read_text()
    assert "openssh-sftp-server" in dockerfile and "install-session.sh" in dockerfile
    assert re.search(r"^ARG BASE=quay\.io/jupyter/[a-z-]+:\d{4}-\d{2}-\d{2}$", dockerfile, re.M)  # pinned
