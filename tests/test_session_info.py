"""SessionInfo: one typed model from the spawner's environment to the server extension."""

from __future__ import annotations

import json

from jupyterhub_sessions.hub.args import server_args
from jupyterhub_sessions.profiles import Interface
from jupyterhub_sessions.session_info import ENV_SESSION, SessionInfo, default_url


def test_what_the_spawner_writes_the_session_reads_back_unchanged(shipped_types):
    st = shipped_types["firefly"]
    info = SessionInfo(session_type=st.slug, drive="home", timeout=3600, interface=st.interface, scratch="/s")
    back = SessionInfo.from_environ({ENV_SESSION: info.to_json()})
    assert back == info
    assert back.interface.command == st.interface.command
    assert json.loads(info.to_json())["interface"]["kind"] == "webapp"


def test_outside_a_session_or_with_a_broken_value_there_is_none(caplog):
    assert SessionInfo.from_environ({}) is None
    assert SessionInfo.from_environ({ENV_SESSION: "{not json"}) is None
    # a retyped field is refused, not read as None further down
    assert SessionInfo.from_environ({ENV_SESSION: '{"session_type": "lab", "timeout": "soon"}'}) is None
    assert "running as a plain server" in caplog.text


def test_fields_a_newer_hub_adds_are_ignored():
    raw = json.dumps({"session_type": "lab", "collaborative": True, "something_new": 1})
    assert SessionInfo.from_environ({ENV_SESSION: raw}).collaborative is True


def test_the_default_url_is_computed_once_for_spawner_and_server(shipped_types):
    for slug in ("notebook", "firefly", "desktop"):
        st = shipped_types[slug]
        info = SessionInfo(session_type=slug, interface=st.interface)
        assert info.default_url == default_url(st.interface)
        args = server_args(info)
        if st.interface.kind == "lab":
            assert info.default_url == "/lab" and not any("default_url" in a for a in args)
        else:
            assert f"--ServerApp.default_url={info.default_url}" in args
    assert default_url(Interface(kind="webapp", name="app", command=["x"], url_path="/a/b")) == "/app/a/b"
