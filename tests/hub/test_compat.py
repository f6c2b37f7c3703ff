"""compat: JupyterHub 5.5 (Zero to JupyterHub 4.4.0) and 6.x, differences detected and said at hub start.

Each test runs on whichever JupyterHub is installed (`.ci/run` runs this file in
both venvs); the "missing" branches are also forced, so both are held on each.
"""

from __future__ import annotations

import inspect
import logging

import pytest
from jupyterhub import orm
from jupyterhub.scopes import scope_definitions
from jupyterhub.user import User
from tornado import web
from traitlets.config import Config

from jupyterhub_sessions.hub import compat, roles
from jupyterhub_sessions.hub import fixes as hub_fixes


def test_scopes_a_hub_lacks_fall_back_to_the_scope_that_grants_them(monkeypatch):
    monkeypatch.setitem(scope_definitions, "start:servers", {"description": "x"})
    assert compat.available_scope("start:servers") == "start:servers"
    monkeypatch.delitem(scope_definitions, "start:servers")
    assert compat.available_scope("start:servers") == "servers"
    assert compat.available_scope("start:servers!user=ada") == "servers!user=ada"
    assert compat.available_scopes(["read:servers", "start:servers", "servers"]) == [
        "read:servers",
        "servers",
    ]
    # scopes with no known fallback are left alone (JupyterHub then names the unknown scope)
    assert compat.available_scope("no:such") == "no:such"


@pytest.mark.parametrize("has_extra", [True, False])
def test_user_scopes_reach_every_user_with_or_without_extra_user_scopes(monkeypatch, has_extra):
    monkeypatch.setattr(compat, "has_extra_user_scopes", lambda: has_extra)
    c = Config()
    c.JupyterHub.load_roles = [{"name": "other", "scopes": ["read:users"]}]
    roles.add_user_scopes(c, ["access:services!service=sessions"])
    roles.add_user_scopes(c, ["access:services!service=sessions", "read:users:name"])
    if has_extra:
        assert c.JupyterHub.extra_user_scopes.to_dict()["update"] == {
            "access:services!service=sessions",
            "read:users:name",
        }
        assert [r["name"] for r in c.JupyterHub.load_roles] == ["other"]
    else:
        (user_role,) = [r for r in c.JupyterHub.load_roles if r["name"] == "user"]
        # a `user` role in load_roles replaces the default one: it must keep `self`
        assert user_role["scopes"] == ["self", "access:services!service=sessions", "read:users:name"]


def test_the_installed_hub_is_detected_as_it_is():
    import jupyterhub

    major = int(jupyterhub.__version__.split(".")[0])
    found = {f.name: f.present for f in compat.features()}
    assert found["scope start:servers"] is (major >= 6)
    assert found["JupyterHub.extra_user_scopes"] is (major >= 6)
    assert found["server-name rule (jupyterhub.slugs)"] is (major >= 6)
    assert found["AcceptShareHandler"] is True
    assert found["Service.timeout"] is (major >= 6)
    assert compat.has_apply_user_options()  # >= 5.3, required


def test_report_names_every_missing_feature_and_what_is_done_instead(monkeypatch, caplog):
    monkeypatch.setattr(
        compat,
        "features",
        lambda: [compat.Feature("a thing", False, "we do B"), compat.Feature("c", True, "-")],
    )
    with caplog.at_level(logging.INFO, logger="JupyterHub"):
        compat.report(force=True)
    text = caplog.text
    assert "jupyterhub-sessions on jupyterhub " in text
    assert "this JupyterHub has no a thing: we do B" in text
    assert "has no c" not in text


def test_a_hub_without_apply_user_options_does_not_start(monkeypatch):
    monkeypatch.setattr(compat, "has_apply_user_options", lambda: False)
    with pytest.raises(RuntimeError, match=r"needs JupyterHub >= 5.3 \(Spawner.apply_user_options\)"):
        compat.report(force=True)


@pytest.mark.hub
def test_hub_start_log_says_what_this_jupyterhub_lacks(hub):
    log = hub.log_path.read_text(errors="replace")
    assert "jupyterhub-sessions on jupyterhub " in log
    for feature in compat.features():
        said = f"this JupyterHub has no {feature.name}: {feature.without}" in log
        assert said is not feature.present, feature


@pytest.fixture
def user_class(monkeypatch):
    """jupyterhub.user.User with the server-name rule applied as on JupyterHub 5.5, undone afterwards."""
    stock = getattr(User._new_orm_spawner, "__wrapped__", User._new_orm_spawner)
    monkeypatch.setattr(User, "_new_orm_spawner", stock)
    monkeypatch.setattr(hub_fixes, "hub_checks_server_names", lambda: False)
    assert hub_fixes.refuse_unsafe_server_names() is True
    assert hub_fixes.refuse_unsafe_server_names() is False  # once
    return User


@pytest.mark.parametrize("name", ['"><img src=x onerror=alert(1)>', "My Lab", "a--b", "-x", "x" * 31, "../x"])
def test_unsafe_new_server_names_are_refused_before_the_server_exists(user_class, name):
    db = orm.new_session_factory("sqlite://")()
    user = user_class(orm.User(name="ada"), settings={}, db=db)
    with pytest.raises(web.HTTPError) as e:
        user._new_orm_spawner(name)
    assert e.value.status_code == 400
    assert e.value.log_message == hub_fixes.INVALID_SERVER_NAME and name not in e.value.log_message
    assert name not in user.orm_spawners
    # JupyterHub 6 also takes a display name
    display = ("",) if len(inspect.signature(User._new_orm_spawner.__wrapped__).parameters) > 2 else ()
    for good in ("lab", "gpu-2", "a"):
        user._new_orm_spawner(good, *display)
        assert good in user.orm_spawners
