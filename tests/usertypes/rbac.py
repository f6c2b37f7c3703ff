"""The Role rules the hub's service account holds on a real Zero to JupyterHub install."""

from __future__ import annotations

import yaml

from ..conftest import REPO

OUR_ROLE = REPO / "hub_config" / "kubernetes" / "user-types-rbac.yaml"


def _role_rules(text: str) -> list[dict]:
    # the chart's template lines ({{ ... }}) only name and label things: the rules are plain YAML
    plain = "\n".join(line for line in text.splitlines() if "{{" not in line)
    role = next(d for d in yaml.safe_load_all(plain) if isinstance(d, dict) and d.get("kind") == "Role")
    return role["rules"]


def chart_hub_rules() -> list[dict]:
    """The chart's hub Role (templates/hub/rbac.yaml; $Z2JH_CHART_DIR, a failure in CI when missing)."""
    from ..hub_config.chart import chart_dir

    return _role_rules((chart_dir() / "jupyterhub" / "templates" / "hub" / "rbac.yaml").read_text())


def our_rules() -> list[dict]:
    """The extra Role hub_config/kubernetes/user-types-rbac.yaml grants for personal types."""
    return _role_rules(OUR_ROLE.read_text())
