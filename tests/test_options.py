import pytest

from jupyterhub_sessions.options import OptionsError, parse_session_options


def parse(types, raw, user="alice", groups=()):
    return parse_session_options(raw, types, user, groups)


def test_defaults(shipped_types):
    o = parse(shipped_types, {})
    assert o.session_type == "notebook"
    assert (o.cpu, o.memory, o.gpu, o.drive, o.timeout) == (1.0, "2G", 0, "home", 3600)
    assert o.create_drive and not o.collaborative


def test_form_style_and_json_style_agree(shipped_types):
    form = {
        "session_type": ["notebook"],
        "cpu": ["2"],
        "memory": ["4G"],
        "timeout": ["-1"],
        "collaborative": ["on"],
        "drive": ["work"],
    }
    js = {
        "session_type": "notebook",
        "cpu": 2,
        "memory": "4G",
        "timeout": -1,
        "collaborative": True,
        "drive": "work",
    }
    assert parse(shipped_types, form) == parse(shipped_types, js)
    assert parse(shipped_types, js).timeout == -1


def test_new_drive(shipped_types):
    o = parse(shipped_types, {"drive": "__new__", "new_drive": "thesis"})
    assert (o.drive, o.create_drive) == ("thesis", True)
    o = parse(shipped_types, {"drive": "data"})
    assert (o.drive, o.create_drive) == ("data", False)


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"session_type": "nope"}, "session_type"),
        ({"session_type": "gpu"}, "session_type"),  # alice is not in gpu-users
        ({"cpu": 3}, "cpu"),
        ({"cpu": "lots"}, "cpu"),
        ({"cpu": "nan"}, "cpu"),
        ({"cpu": True}, "cpu"),
        ({"memory": "64G"}, "memory"),
        ({"memory": "2G; rm -rf /"}, "memory"),
        ({"timeout": 7}, "timeout"),
        ({"timeout": 3600.5}, "timeout"),
        ({"session_type": "carta", "timeout": -1}, "timeout"),
        ({"session_type": "carta", "collaborative": True}, "collaborative"),
        ({"collaborative": "maybe"}, "collaborative"),
        ({"image": "evil/miner:latest"}, "image"),
        ({"drive": "../other-user"}, "drive"),
        ({"drive": "__new__"}, "new_drive"),
        ({"drive": "__new__", "new_drive": "a/b"}, "new_drive"),
        ({"extra_pod_config": {"hostPID": True}}, "extra_pod_config"),
        ({"cpu": ["1", "2"]}, "cpu"),
        ({"drive": "x" * 1000}, "drive"),
        ({"session_type": {"$ne": 1}}, "session_type"),
    ],
)
def test_bad_options_name_the_field(shipped_types, raw, field):
    with pytest.raises(OptionsError) as e:
        parse(shipped_types, raw)
    assert e.value.field == field


def test_not_a_dict(shipped_types):
    with pytest.raises(OptionsError):
        parse(shipped_types, ["session_type"])


def test_group_restricted_type(shipped_types):
    o = parse(shipped_types, {"session_type": "gpu"}, user="bob", groups=["gpu-users"])
    assert o.gpu == 1 and o.cpu == 4


def test_range_resources(shipped_types):
    o = parse(shipped_types, {"session_type": "carta", "cpu": "3.5", "memory": "6Gi"})
    assert o.cpu == 3.5 and o.memory == "6Gi"
    with pytest.raises(OptionsError):
        parse(shipped_types, {"session_type": "carta", "cpu": 9})
