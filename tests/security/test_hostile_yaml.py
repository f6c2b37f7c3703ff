"""Hostile or broken admin YAML: a clear ProfileError naming the file, fast, never a hang or crash."""

from __future__ import annotations

import time

import pytest

from jupyterhub_sessions.profiles import ProfileError, load_session_type, load_session_types

HEAD = "display_name: X\nimage: {default: x}\n"


def billion_laughs(field: str) -> str:
    lines = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n")
        prev = name
    return HEAD + f"{field}:\n" + "".join(lines) + f"  z: *{prev}\n"


BOMBS = {
    "billion-laughs-in-pod-config": billion_laughs("extra_pod_config"),
    "billion-laughs-in-container-config": billion_laughs("extra_container_config"),
    "deep-flow-nesting": HEAD + "extra_pod_config: {k: " + "[" * 20000 + "]" * 20000 + "}\n",
    "deep-block-nesting": HEAD
    + "extra_pod_config:\n"
    + "".join(" " * i + f"k{i}:\n" for i in range(1, 200))
    + " " * 200
    + "v: 1\n",
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "name",
    [
        "billion-laughs-in-pod-config",
        "billion-laughs-in-container-config",
        "deep-flow-nesting",
        "deep-block-nesting",
    ],
)
def test_yaml_bombs_are_a_clear_profile_error_not_a_hang(tmp_path, name):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMBS[name])
    t0 = time.monotonic()
    with pytest.raises(ProfileError) as e:
        load_session_type(path)
    assert time.monotonic() - t0 < 10
    assert str(path) in str(e.value)
    assert "aliases" in e.value.reason or "nested deeper" in e.value.reason


def test_a_bomb_in_the_directory_stops_start_up_naming_the_file(tmp_path):
    (tmp_path / "good.yaml").write_text(HEAD + "default: true\n")
    (tmp_path / "evil.yaml").write_text(BOMBS["billion-laughs-in-pod-config"])
    with pytest.raises(ProfileError) as e:
        load_session_types(tmp_path)
    assert e.value.path.endswith("evil.yaml")


def test_small_legitimate_aliases_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(HEAD + "node_selector: &sel {pool: gpu}\nextra_pod_config: {nodeSelector: *sel}\n")
    st = load_session_type(path)
    assert st.extra_pod_config == {"nodeSelector": {"pool": "gpu"}}


@pytest.mark.parametrize(
    "text, field",
    [
        ("!!python/object/apply:os.system ['touch /tmp/pwned']\n", "(file)"),
        (HEAD + "extra_pod_config: !!python/object/apply:os.system ['true']\n", "(file)"),
        (
            HEAD + 'description: "<script>alert(1)</script>"\nresources: {cpu: {default: 1e309}}\n',
            "resources",
        ),
        (HEAD + "environment: {'A=B; rm -rf /': x}\n", "environment"),
        (HEAD + "slug: '../../etc'\n", "slug"),
        ("\x00\x01\x02", "(file)"),
        ("[" * 10, "(file)"),
    ],
)
def test_malformed_and_unsafe_yaml_is_refused_with_the_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as e:
        load_session_type(path)
    assert e.value.field.split(".")[0] == field, e.value
    assert not (tmp_path / "pwned").exists()


def test_oversized_profile_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(HEAD + "description: '" + "x" * (300 * 1024) + "'\n")
    with pytest.raises(ProfileError, match="larger than"):
        load_session_type(path)
