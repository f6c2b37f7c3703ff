"""Policies and records for the personal-types tests (each test builds its own)."""

from __future__ import annotations

import pytest

from jupyterhub_sessions.profiles import PlatformPolicy

POLICY = {
    "custom_images": {"allow": ["registry.example.org/**"], "tags": {"deny": ["latest"]}},
    "user_types": {
        "max_per_user": 3,
        "images": {"allow": ["quay.io/jupyter/*", "registry.example.org/**"], "tags": {"deny": ["latest"]}},
        "resources": {
            "cpu": {"default": 1, "min": 0.5, "max": 4},
            "memory": {"default": "2G", "min": "1G", "max": "8G"},
            "gpu": {"default": 0, "choices": [0, 1]},
        },
        "timeouts": {"default": 3600, "choices": [900, 3600, 14400], "allow_never": True},
        "lifetime": {"max_age": 86400, "renewal_period": 43200, "max_renewals": 2},
        "placements": [
            {"name": "highmem", "node_selector": {"pool": "highmem"}},
            {
                "name": "gpu",
                "node_selector": {"pool": "gpu"},
                "tolerations": [{"key": "gpu", "operator": "Exists"}],
            },
        ],
    },
}

GOOD = {"name": "My R", "image": "quay.io/jupyter/r-notebook:2025-10-20"}


@pytest.fixture
def policy() -> PlatformPolicy:
    return PlatformPolicy.model_validate(POLICY)
