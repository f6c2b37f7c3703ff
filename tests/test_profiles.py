import textwrap

import pytest

from jupyterhub_sessions.profiles import ProfileError, load_session_types

GOOD = """
display_name: Test
image: {default: img:1}
"""


def write(tmp_path, name, text):
    (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path / name


def test_shipped_profiles_load(shipped_types):
    assert {"notebook", "desktop", "carta", "firefly", "gpu"} <= set(shipped_types)
    nb = shipped_types["notebook"]
    assert nb.default and nb.interface.kind == "lab" and nb.collaborative
    assert shipped_types["carta"].interface.kind == "webapp"
    assert shipped_types["gpu"].resources.gpu.default == 1
    assert shipped_types["gpu"].access.groups == ["gpu-users"]
    assert shipped_types["desktop"].interface.name == "desktop"


def test_slug_defaults_to_file_name(tmp_path):
    write(tmp_path, "my-type.yaml", GOOD)
    assert list(load_session_types(tmp_path)) == ["my-type"]


@pytest.mark.parametrize(
    "text, field, reason",
    [
        (GOOD + "resources: {cpu: {default: 8, choices: [1, 2]}}", "resources.cpu", "not one of the choices"),
        (GOOD + "resources: {memory: {default: lots}}", "resources.memory.default", "not a memory quantity"),
        (GOOD + "timeouts: {default: 5, choices: [60]}", "timeouts", "not an allowed timeout"),
        (GOOD + "timeouts: {choices: [0]}", "timeouts.choices", "positive"),
        (GOOD + "interface: {kind: webapp}", "interface", "needs a command"),
        (GOOD + "interface: {kind: vnc}", "interface.kind", "Input should be"),
        (GOOD + "colaborative: true", "colaborative", "Extra inputs are not permitted"),
        ("display_name: x\n", "image", "Field required"),
        (GOOD + "slug: Bad_Slug", "slug", "pattern"),
        (GOOD + "environment: {'1BAD': x}", "environment", "not a valid environment variable"),
        (GOOD + "resources: {gpu: {default: 0.5, choices: [0.5]}}", "resources.gpu", "whole numbers"),
    ],
)
def test_bad_field_is_named(tmp_path, text, field, reason):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ProfileError) as e:
        load_session_types(tmp_path)
    assert e.value.path == str(path)
    assert e.value.field == field
    assert reason in e.value.reason
    assert str(path) in str(e.value) and field in str(e.value)


def test_invalid_yaml_names_line(tmp_path):
    write(tmp_path, "broken.yaml", "display_name: [unclosed\nimage: x\n")
    with pytest.raises(ProfileError) as e:
        load_session_types(tmp_path)
    assert "broken.yaml" in str(e.value) and "line" in e.value.reason


@pytest.mark.parametrize("text", ["- a list\n", "just a string\n", "", "!!python/object:os.system {}\n"])
def test_not_a_mapping(tmp_path, text):
    write(tmp_path, "x.yaml", text)
    with pytest.raises(ProfileError):
        load_session_types(tmp_path)


def test_duplicate_slug_names_both_files(tmp_path):
    write(tmp_path, "a.yaml", GOOD + "slug: same")
    write(tmp_path, "b.yaml", GOOD + "slug: same")
    with pytest.raises(ProfileError) as e:
        load_session_types(tmp_path)
    assert "b.yaml" in e.value.path and "a.yaml" in e.value.reason


def test_empty_or_missing_dir(tmp_path):
    with pytest.raises(ProfileError, match="no session types"):
        load_session_types(tmp_path)
    with pytest.raises(ProfileError, match="does not exist"):
        load_session_types(tmp_path / "nope")


def test_oversized_file(tmp_path):
    write(tmp_path, "big.yaml", GOOD + "description: '" + "x" * 300_000 + "'\n")
    with pytest.raises(ProfileError, match="larger than"):
        load_session_types(tmp_path)


def default_dirs() -> dict[str, str]:
    """Where the hub's spawner and the sessions service look for session types by default."""
    from jupyterhub_sessions.service.app import SessionsService
    from jupyterhub_sessions.spawner.local import LocalSessionSpawner

    return {
        "spawner": LocalSessionSpawner().session_types_dir,
        "sessions service": SessionsService().profiles_dir,
    }


def test_shipped_dir_is_the_default(monkeypatch, shipped_types, tmp_path):
    monkeypatch.delenv("JUPYTERHUB_SESSIONS_PROFILES", raising=False)
    for who, directory in default_dirs().items():
        assert load_session_types(directory) == shipped_types, who
    # and $JUPYTERHUB_SESSIONS_PROFILES replaces it for both
    write(tmp_path, "only.yaml", GOOD)
    monkeypatch.setenv("JUPYTERHUB_SESSIONS_PROFILES", str(tmp_path))
    for who, directory in default_dirs().items():
        assert list(load_session_types(directory)) == ["only"], who
