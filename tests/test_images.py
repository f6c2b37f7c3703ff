"""Image references users give: the strict grammar, normalization, and the admin's policy rules."""

import pytest

from jupyterhub_sessions.images import ImageError, ImagePolicy, ImageRefused, parse_image_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "text, repository, tag, digest",
    [
        ("python", "docker.io/library/python", None, None),
        ("jupyter/base-notebook:2025-10-20", "docker.io/jupyter/base-notebook", "2025-10-20", None),
        ("quay.io/jupyter/scipy-notebook:x", "quay.io/jupyter/scipy-notebook", "x", None),
        ("localhost:5000/a/b@" + DIGEST, "localhost:5000/a/b", None, DIGEST),
        ("registry.example.org/team/img:1.0@" + DIGEST, "registry.example.org/team/img", "1.0", DIGEST),
        ("a__b/c-d.e:T_1", "docker.io/a__b/c-d.e", "T_1", None),
    ],
)
def test_references_are_normalized_to_what_the_runtime_pulls(text, repository, tag, digest):
    ref = parse_image_reference(text)
    assert (ref.text, ref.repository, ref.tag, ref.digest) == (text, repository, tag, digest)


# injection attempts and malformed references: all refused by the grammar, none reaches a pod spec
HOSTILE = [
    "registry.example.org/team/x;rm -rf /",
    "registry.example.org/team/x:1 --privileged",
    "registry.example.org/team/x:1\n--privileged",
    "registry.example.org/team/x:1\r\nX: y",
    "$(id)",
    "`id`",
    "registry.example.org/team/x:$(id)",
    "registry.example.org/team/x|sh",
    "registry.example.org/team/x&&true",
    "registry.example.org/../etc/passwd",
    "registry.example.org/team/x:1\x00",
    "registry.example.org/team/x:1\t",
    "--privileged",
    "-it",
    "Registry.example.org/team/x",
    "registry.example.org/Team/x",
    "registry.example.org/team/x:" + "a" * 129,
    "registry.example.org/team/x@sha256:abc",
    "registry.example.org/team/x@md5:" + "a" * 32,
    "registry.example.org:99999/x",
    "registry.example.org:0/x",
    "[::1]:5000/x",
    "registry.example.org/team/x:1{port}",
    "regіstry.example.org/team/x",  # Cyrillic i
    "registry.example.org/team/x'",
    'registry.example.org/team/x"',
    "registry.example.org//x",
    "registry.example.org/x/",
    "",
    "x" * 257,
    "registry.example.org/" + "/".join(["a"] * 130),
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_references_are_refused_by_the_grammar(text):
    with pytest.raises(ImageError) as e:
        parse_image_reference(text)
    assert e.value.rule == "grammar"
    assert not isinstance(e.value, ImageRefused)


@pytest.mark.parametrize("value", [None, 3, ["quay.io/x/y"], {"image": "quay.io/x/y"}, b"quay.io/x/y"])
def test_only_strings_are_references(value):
    with pytest.raises(ImageError, match="must be a string"):
        parse_image_reference(value)


POLICY = ImagePolicy(
    allow=["registry.example.org/team-*/**", "docker.io/jupyter/*"],
    tags={"deny": ["latest", "*-rc*"], "allow": ["[0-9]*", "20*", "v*"][1:]},
)


@pytest.mark.parametrize(
    "text, rule, words",
    [
        ("evil.io/team-a/x:2025", "here.allow", "evil.io/team-a/x is not one of the allowed"),
        ("registry.example.org/teamx/x:2025", "here.allow", "not one of the allowed"),
        ("registry.example.org/team-a:2025", "here.allow", "not one of the allowed"),
        ("jupyter/base-notebook", "here.tags.deny", "no tag means 'latest'"),
        ("jupyter/base-notebook:latest", "here.tags.deny", "'latest'"),
        ("jupyter/base-notebook:2025-rc1", "here.tags.deny", "'*-rc*'"),
        ("jupyter/base-notebook:1.0", "here.tags.allow", "not one of the allowed: 20*, v*"),
        ("jupyter/sub/base-notebook:2025", "here.allow", "docker.io/jupyter/sub/base-notebook"),
        ("a b", "here: reference grammar", "not allowed"),
    ],
)
def test_a_refusal_names_the_rule(text, rule, words):
    with pytest.raises(ImageError) as e:
        POLICY.check(text, "here")
    assert e.value.rule == rule
    assert words in e.value.reason
    assert f"(rule: {rule})" in str(e.value)


@pytest.mark.parametrize(
    "text",
    [
        "registry.example.org/team-a/x:2025",
        "registry.example.org/team-b/deep/er/image:v2",
        "jupyter/base-notebook:2025-10-20",
        "docker.io/jupyter/base-notebook:v1",
        "registry.example.org/team-a/x@" + DIGEST,
    ],
)
def test_allowed_references_pass(text):
    assert POLICY.check(text, "here").text == text


def test_require_digest():
    policy = ImagePolicy(allow=["quay.io/**"], require_digest=True)
    with pytest.raises(ImageRefused) as e:
        policy.check("quay.io/jupyter/x:1", "p")
    assert e.value.rule == "p.require_digest"
    assert policy.check("quay.io/jupyter/x@" + DIGEST, "p").digest == DIGEST


def test_an_empty_allow_list_allows_nothing():
    with pytest.raises(ImageRefused, match="not allowed here"):
        ImagePolicy(allow=[]).check("quay.io/jupyter/x:1", "p")


@pytest.mark.parametrize(
    "pattern", ["jupyter/*", "*", "quay.io", "quay.io/a**", "quay.io/**x", "**/x", "quay.io/x y", "QUAY.io/x"]
)
def test_policy_patterns_are_checked_when_loaded(pattern):
    with pytest.raises(ValueError):
        ImagePolicy(allow=[pattern])


def test_a_double_star_segment_spans_one_or_more_segments():
    policy = ImagePolicy(allow=["quay.io/**/notebook"])
    assert policy.check("quay.io/a/b/notebook:1", "p")
    with pytest.raises(ImageRefused):
        policy.check("quay.io/notebook:1", "p")
