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


# ---- _policy.yaml: what users may bring --------------------------------------------

POLICY = """
custom_images:
  allow: [registry.example.org/team-*/**]
  tags: {deny: [latest]}
user_types:
  images: {allow: [quay.io/jupyter/*], require_digest: false}
  resources:
    cpu: {default: 1, min: 0.5, max: 4}
  timeouts: {default: 3600, choices: [900, 3600]}
  placements:
    - {name: highmem, node_selector: {pool: highmem}}
"""


def test_the_policy_file_is_not_a_type_and_its_image_policy_applies_to_every_type(tmp_path):
    from jupyterhub_sessions.profiles import load_platform

    write(tmp_path, "a.yaml", GOOD)
    write(
        tmp_path,
        "b.yaml",
        GOOD.replace("image: {default: img:1}", "image: {default: img:1, custom: {allow: [quay.io/me/*]}}"),
    )
    write(
        tmp_path,
        "c.yaml",
        GOOD.replace("image: {default: img:1}", "image: {default: img:1, custom: {allow: []}}"),
    )
    write(tmp_path, "_policy.yaml", POLICY)
    types, policy = load_platform(tmp_path)
    assert set(types) == {"a", "b", "c"}
    assert types["a"].image.custom.allow == ["registry.example.org/team-*/**"]
    assert types["a"].image.custom_rule == "_policy.yaml: custom_images"
    # a type's own policy wins; an empty one opts out
    assert types["b"].image.custom.allow == ["quay.io/me/*"]
    assert types["b"].image.custom_rule == "session type 'b': image.custom"
    assert not types["c"].image.accepts_custom
    assert policy.user_types.placements[0].node_selector == {"pool": "highmem"}
    assert policy.user_images.allow == ["quay.io/jupyter/*"]


@pytest.mark.parametrize(
    "text, field, reason",
    [
        ("custom_images: {allow: [jupyter/*]}", "custom_images.allow", "registry host"),
        ("custom_images: {allow: [quay.io/*], privileged: true}", "custom_images.privileged", "Extra inputs"),
        ("user_types: {max_per_user: 5}", "(file)", "need an image policy"),
        (
            "user_types: {images: {allow: [quay.io/*]}, default_image: evil.io/x:1}",
            "(file)",
            "not one of the allowed",
        ),
        (
            "user_types: {images: {allow: [quay.io/*]}, placements: [{name: a, node_selector: {}}]}",
            "user_types.placements.0.node_selector",
            "at least 1",
        ),
        (
            "user_types: {images: {allow: [quay.io/*]}, interfaces: [desktop]}",
            "user_types.interfaces.0",
            "Input should be",
        ),
        (
            "user_types: {images: {allow: [quay.io/*]}, max_per_user: 100000}",
            "user_types.max_per_user",
            "less than",
        ),
    ],
)
def test_a_bad_policy_file_names_file_and_field(tmp_path, text, field, reason):
    write(tmp_path, "a.yaml", GOOD)
    path = write(tmp_path, "_policy.yaml", text)
    with pytest.raises(ProfileError) as e:
        load_session_types(tmp_path)
    assert e.value.path == str(path)
    assert e.value.field == field
    assert reason in e.value.reason


@pytest.mark.parametrize("field", ["author: eve", "revision: 3", "source: x", "slug: u.abcdefabcdef"])
def test_fields_the_hub_sets_cannot_be_written_in_a_type_file(tmp_path, field):
    write(tmp_path, "a.yaml", GOOD + field + "\n")
    with pytest.raises(ProfileError) as e:
        load_session_types(tmp_path)
    assert e.value.field == field.split(":")[0]


def test_the_watcher_serves_the_policy_with_the_types(tmp_path):
    from jupyterhub_sessions.profiles import SessionTypesWatcher

    write(tmp_path, "a.yaml", GOOD)
    watcher = SessionTypesWatcher(tmp_path)
    assert watcher.status().policy.user_types is None
    write(tmp_path, "_policy.yaml", POLICY)
    assert watcher.status().policy.user_types.max_per_user == 10
    # a broken policy edit keeps the last good policy and types, and says why
    write(tmp_path, "_policy.yaml", "user_types: {max_per_user: 0}")
    status = watcher.status()
    assert status.policy.user_types is not None and "_policy.yaml" in status.error


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
