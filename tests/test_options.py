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


def test_a_custom_image_within_the_types_policy_is_recorded(shipped_types):
    from jupyterhub_sessions.images import ImagePolicy
    from jupyterhub_sessions.profiles import PlatformPolicy, with_policy

    policy = PlatformPolicy(
        custom_images=ImagePolicy(allow=["registry.example.org/team-*/**"], tags={"deny": ["latest"]})
    )
    types = {slug: with_policy(t, policy) for slug, t in shipped_types.items()}
    o = parse(types, {"image": "registry.example.org/team-a/my-notebook:2.1"})
    assert o.image == "registry.example.org/team-a/my-notebook:2.1"
    # the admin's listed images need no policy
    assert parse(types, {"image": "registry.example.org/jupyterhub-sessions/minimal-notebook:0.1.0"})
    for image, rule in [
        ("evil.io/team-a/x:1", "_policy.yaml: custom_images.allow"),
        ("registry.example.org/team-a/x", "_policy.yaml: custom_images.tags.deny"),
        ("registry.example.org/team-a/x:1;id", "_policy.yaml: custom_images: reference grammar"),
        (["registry.example.org/team-a/x:1", "b"], None),
        ({"a": 1}, "_policy.yaml: custom_images: reference grammar"),
    ]:
        with pytest.raises(OptionsError) as e:
            parse(types, {"image": image})
        assert e.value.field == "image"
        if rule:
            assert f"(rule: {rule})" in e.value.reason
    # without a policy only the listed images are allowed
    bare = {
        s: t.model_copy(update={"image": t.image.model_copy(update={"custom": None})})
        for s, t in types.items()
    }
    with pytest.raises(OptionsError, match="not an allowed image"):
        parse(bare, {"image": "registry.example.org/team-a/my-notebook:2.1"})


def test_only_an_image_the_user_named_counts_as_chosen(shipped_types):
    assert not parse(shipped_types, {}).image_chosen
    nb = shipped_types["notebook"]
    assert not parse(shipped_types, {"image": nb.image.default}).image_chosen
    assert parse(shipped_types, {"image": nb.image.allowed[1]}).image_chosen
