"""How `ssh user+session@host` names map to hub users and servers, and what the page shows."""

import pytest

from jupyterhub_sessions.ssh.gateway import parse_login
from jupyterhub_sessions.ssh.web import connection_info


@pytest.mark.parametrize(
    "login,expected",
    [
        ("alice", ("alice", "")),
        ("alice+work", ("alice", "work")),
        ("a+b+c", ("a+b", "c")),  # the last '+' separates the session
        ("a+b+", ("a+b", "")),  # a user name with '+' reaches its default session
        ("alice@example.org+gpu-1", ("alice@example.org", "gpu-1")),
    ],
)
def test_parse_login(login, expected):
    assert parse_login(login) == expected


@pytest.mark.parametrize("login", ["", "+work", "al/ice", "alice+wo/rk", "ali\nce", " alice", "x" * 600])
def test_malformed_logins_rejected(login):
    assert parse_login(login) is None


def test_connection_info_round_trips_through_parse_login():
    info = connection_info("hub.example.org", 2222, "alice", "work")
    assert info["ssh_command"] == "ssh -p 2222 alice+work@hub.example.org"
    assert info["sftp_command"] == "sftp -P 2222 alice+work@hub.example.org"
    assert info["ssh_config"] == (
        "Host hub.example.org-alice-work\n    HostName hub.example.org\n    Port 2222\n    User alice+work\n"
    )
    assert parse_login(info["login"]) == ("alice", "work")
    plus = connection_info("h", 22, "a+b", "")
    assert plus["ssh_command"] == "ssh a+b+@h" and parse_login(plus["login"]) == ("a+b", "")
