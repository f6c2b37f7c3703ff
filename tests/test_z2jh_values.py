"""`jupyterhub-sessions z2jh-values`: the pre-puller pulls every session-type image.

Checked against the real chart files (Zero to JupyterHub 4.4.0 in $Z2JH_CHART_DIR): the
fragment is valid for the chart's values schema, its keys make valid init container names
in the puller DaemonSet, and the shipped values.yaml carries exactly this fragment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from jupyterhub_sessions.cli import main
from jupyterhub_sessions.z2jh_values import pre_puller, split_image
from tests.conftest import PROFILES, REPO

VALUES = REPO / "hub_config" / "kubernetes" / "values.yaml"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def chart_dir() -> Path:
    path = Path(os.environ.get("Z2JH_CHART_DIR") or REPO.parent / "shared" / "z2jh-4.4.0")
    if not (path / "jupyterhub" / "values.schema.yaml").is_file():
        message = f"Zero to JupyterHub chart files not found at {path} (set Z2JH_CHART_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def printed(capsys, *args) -> dict:
    assert main(["z2jh-values", *args]) == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_every_session_type_image_is_pre_pulled(capsys, shipped_types):
    values = printed(capsys, "--profiles", str(PROFILES))
    images = values["prePuller"]["extraImages"]
    pulled = {f"{v['name']}:{v['tag']}" for v in images.values()}  # how the chart's template joins them
    for st in shipped_types.values():
        assert {st.image.default, *st.image.allowed} <= pulled, st.slug
    # the GPU type's toleration, so pullers reach tainted GPU nodes
    assert values["prePuller"]["extraTolerations"] == shipped_types["gpu"].tolerations


def test_the_fragment_fits_the_charts_schema_and_daemonset(capsys):
    chart = chart_dir() / "jupyterhub"
    schema = yaml.safe_load((chart / "values.schema.yaml").read_text())["properties"]["prePuller"]
    defaults = yaml.safe_load((chart / "values.yaml").read_text())["prePuller"]
    values = printed(capsys, "--profiles", str(PROFILES))
    jsonschema.validate({**defaults, **values["prePuller"]}, schema)  # as helm merges them
    for key in values["prePuller"]["extraImages"]:
        container = f"image-pull-{key}"  # _helpers-daemonset.tpl names each init container so
        assert DNS_LABEL.match(container) and len(container) <= 63, container


def test_the_shipped_values_match_the_profiles(capsys):
    shipped = yaml.safe_load(VALUES.read_text())
    assert shipped["prePuller"] == printed(capsys, "--profiles", str(PROFILES))["prePuller"], (
        "hub_config/kubernetes/values.yaml is out of date: paste `jupyterhub-sessions z2jh-values`"
    )


def test_digests_tags_and_clashing_names(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "display_name: A\nimage:\n  default: reg.example/x/lab:1\n"
        "  allowed: [reg.example/x/lab:1, other.example/lab@sha256:abc123, plain]\n"
    )
    from jupyterhub_sessions.profiles import load_session_types

    images = pre_puller(load_session_types(tmp_path))["prePuller"]["extraImages"]
    assert images == {
        "lab": {"name": "reg.example/x/lab", "tag": "1"},
        "lab-2": {"name": "other.example/lab@sha256", "tag": "abc123"},
        "plain": {"name": "plain", "tag": "latest"},
    }
    assert split_image("localhost:5000/img") == ("localhost:5000/img", "latest")


def test_a_bad_profiles_dir_is_a_clear_error(capsys, tmp_path):
    assert main(["z2jh-values", "--profiles", str(tmp_path / "none")]) == 1
    assert "session types directory does not exist" in capsys.readouterr().err
