"""Shared fixtures: paths to the shipped profiles and a scratch profiles dir."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"

# fake Kubernetes API fixtures: kube_api, kube, kube_client
pytest_plugins = ["tests.kube_fake.fixtures"]


@pytest.fixture
def shipped_types():
    from jupyterhub_sessions.profiles import load_session_types

    return load_session_types(PROFILES)
