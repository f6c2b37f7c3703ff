import textwrap

import pytest

from jupyterhub_sessions.profiles import ProfileError, load_session_types

from .conftest import PROFILES, REPO

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


def test_a_broken_edit_keeps_the_last_good_set_and_says_why(tmp_path, caplog):
    import logging
    import os
    import shutil

    from jupyterhub_sessions.profiles import SessionTypesWatcher

    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles)
    watcher = SessionTypesWatcher(profiles, logging.getLogger("test.types"))
    good = watcher.status()
    assert good.error is None and "notebook" in good.types

    def edit(name, text):
        path = profiles / name
        path.write_text(text)
        st = path.stat()  # a new mtime even within the clock's resolution
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    with caplog.at_level(logging.INFO, logger="test.types"):
        edit("notebook.yaml", "display_name: [unclosed\n")
        broken = watcher.status()
        again = watcher.status()
    assert broken.types == good.types and "notebook.yaml" in broken.error and "not valid YAML" in broken.error
    assert again.error == broken.error and again.error_since == broken.error_since
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "still serving the last good set" in errors[0].getMessage()

    # a second file added with a bad field: still the last good set, the new reason
    edit("extra.yaml", "display_name: X\nimage: {default: x}\ncolour: red\n")
    edit("notebook.yaml", (PROFILES / "notebook.yaml").read_text())
    status = watcher.status()
    assert status.types == good.types and "extra.yaml" in status.error and "colour" in status.error

    # fixed: the new set is served and the error is gone
    edit("extra.yaml", "display_name: Extra\nimage: {default: x}\n")
    fixed = watcher.status()
    assert fixed.error is None and "extra" in fixed.types and fixed.types["extra"].display_name == "Extra"


def test_a_directory_that_never_loaded_raises(tmp_path):
    from jupyterhub_sessions.profiles import SessionTypesWatcher

    (tmp_path / "bad.yaml").write_text("display_name: [\n")
    watcher = SessionTypesWatcher(tmp_path)
    with pytest.raises(ProfileError, match="bad.yaml"):
        watcher.status()
    with pytest.raises(ProfileError, match="bad.yaml"):
        watcher.types()


def test_the_set_the_hub_config_loads_keeps_serving_after_a_broken_edit(tmp_path, monkeypatch):
    """The hub config loads the types at start-up (a bad file stops the hub there); an edit that
    breaks a file before any spawn form was shown still serves that set, not a 500."""
    import shutil

    from traitlets.config.loader import PyFileConfigLoader

    from jupyterhub_sessions.profiles import session_types_watcher

    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES, profiles)
    monkeypatch.setenv("JUPYTERHUB_SESSIONS_PROFILES", str(profiles))
    monkeypatch.setenv("JUPYTERHUB_SESSIONS_DATA_DIR", str(tmp_path / "data"))
    config = REPO / "jupyterhub_sessions" / "configs" / "local_config.py"
    PyFileConfigLoader(config.name, str(config.parent)).load_config()
    (profiles / "notebook.yaml").write_text("display_name: [unclosed\n")
    later = session_types_watcher(profiles).status()  # what the spawn form asks first
    assert "notebook" in later.types and "notebook.yaml" in later.error
