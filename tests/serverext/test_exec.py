"""`sessions-api/exec`: a command in the session with stdin, stdout, stderr, exit status and signals.

A `jupyter server` with the extension; each test opens the websocket the SSH
gateway uses and checks what a user of `ssh host cmd` would see.
"""

from __future__ import annotations

import hashlib
import json
import os

import psutil
import pytest
import websocket

from tests.hubtools import wait_for

from .exectools import ExecResult, connect, read_all, run
from .servertools import start_jupyter_server
from .test_extension import LAB_INFO


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_jupyter_server(tmp_path_factory.mktemp("exec"), LAB_INFO)
    yield s
    s.stop()


def test_stdout_and_stderr_stay_apart_with_the_exit_status(server):
    r = run(server.url, server.token, "echo out; echo err >&2; echo out2; exit 3")
    assert (r.stdout, r.stderr, r.end) == (b"out\nout2\n", b"err\n", {"exit": 3})
    assert r.close_code == 1000
    assert run(server.url, server.token, "true").end == {"exit": 0}
    assert run(server.url, server.token, "false").end == {"exit": 1}


def test_binary_stdin_and_stdout_are_byte_exact(server):
    data = os.urandom(3 * 1024 * 1024) + bytes(range(256))
    r = run(server.url, server.token, "cat", stdin=data)
    assert r.end == {"exit": 0}
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(data).hexdigest()
    r = run(server.url, server.token, "sha256sum | cut -c1-64", stdin=data)
    assert r.stdout.decode().strip() == hashlib.sha256(data).hexdigest()


def test_runs_in_the_servers_root_without_a_terminal(server):
    r = run(server.url, server.token, "pwd; tty")
    assert r.stdout.decode().splitlines() == [str(server.root), "not a tty"]
    assert r.end == {"exit": 1}  # tty's status without a terminal


def test_a_killed_command_reports_its_signal(server):
    assert run(server.url, server.token, "kill -9 $$").end == {"exit_signal": "KILL", "core": False}
    # a shell reports a killed child as 128+9, like any shell does
    r = run(server.url, server.token, "sh -c 'kill -9 $$'; echo $?")
    assert r.stdout == b"137\n" and r.end == {"exit": 0}


def test_signals_from_the_client_reach_the_command(server):
    ws = connect(server.url, server.token)
    try:
        ws.send(json.dumps({"command": "echo ready; exec sleep 60", "pty": None}))
        result = read_all(ws, until=lambda r: b"ready" in r.stdout and r.pid)
        ws.send(json.dumps({"signal": "TERM"}))
        result = read_all(ws, result)
    finally:
        ws.close()
    assert result.end == {"exit_signal": "TERM", "core": False}


def test_a_pty_only_when_asked_with_its_size_and_resizes(server):
    ws = connect(server.url, server.token)
    try:
        ws.send(json.dumps({"command": None, "pty": {"term": "xterm-256color", "cols": 100, "rows": 40}}))
        ws.send_binary(b"stty size; echo $TERM; tty\n")
        result = read_all(ws, until=lambda r: b"/dev/pts/" in r.stdout)
        assert b"40 100" in result.stdout and b"xterm-256color" in result.stdout
        ws.send(json.dumps({"resize": [132, 50]}))
        ws.send_binary(b"stty size\n")
        result = read_all(ws, result, until=lambda r: b"50 132" in r.stdout)
        ws.send_binary(b"exit 4\n")
        result = read_all(ws, result)
    finally:
        ws.close()
    assert result.end == {"exit": 4}
    assert result.stderr == b""  # one stream on a terminal


def test_a_login_shell_reads_a_script_on_stdin(server):
    r = run(server.url, server.token, None, stdin=b"x=from-script\necho $x\nexit 5\n")
    assert (r.stdout, r.end) == (b"from-script\n", {"exit": 5})


def test_background_processes_stay_in_the_session_and_end_with_it(tmp_path):
    """What a command leaves running is adopted inside the server's process tree (so its
    ports count as the session's) and is ended when the server goes."""
    server = start_jupyter_server(tmp_path / "bg", LAB_INFO)
    try:
        r = run(server.url, server.token, "nohup sleep 300 >/dev/null 2>&1 & echo $!")
        assert r.end == {"exit": 0}
        pid = int(r.stdout)
        ancestors = {p.pid for p in psutil.Process(pid).parents()}
        assert server.proc.pid in ancestors
    finally:
        server.stop()
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", 15, 0.1)


def test_without_a_pty_the_command_survives_the_client_going_away(server, tmp_path):
    marker = tmp_path / "done"
    ws = connect(server.url, server.token)
    ws.send(json.dumps({"command": f"echo started; sleep 1; touch {marker}", "pty": None}))
    read_all(ws, until=lambda r: b"started" in r.stdout)
    ws.close()
    wait_for(marker.exists, 15, 0.1, "the command to finish after the client left")


def test_refused_without_the_servers_auth(server):
    for token in (None, "not-the-token"):
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            connect(server.url, token)
        assert e.value.status_code in (302, 401, 403)


@pytest.mark.parametrize(
    "first, reason",
    [
        ("not json", "JSON object"),
        (json.dumps({"command": 5}), "'command'"),
        (json.dumps({"command": "true", "pty": {"cols": "wide"}}), "whole numbers"),
    ],
)
def test_a_bad_request_is_refused_with_a_reason(server, first, reason):
    ws = connect(server.url, server.token)
    try:
        ws.send(first)
        result = read_all(ws, ExecResult())
    finally:
        ws.close()
    assert result.close_code == 1003 and reason in result.close_reason
    assert result.pid is None


def test_only_locale_variables_pass_from_the_client(server):
    ws = connect(server.url, server.token)
    try:
        ws.send(
            json.dumps(
                {
                    "command": 'echo "$LANG|$LC_TIME|${LD_PRELOAD:-none}|${PATH%%:*}"',
                    "env": {"LANG": "C.UTF-8", "LC_TIME": "C", "LD_PRELOAD": "/tmp/evil.so", "PATH": "/evil"},
                }
            )
        )
        ws.send(json.dumps({"eof": True}))
        result = read_all(ws)
    finally:
        ws.close()
    lang, lc_time, preload, first_path = result.stdout.decode().strip().split("|")
    assert (lang, lc_time, preload) == ("C.UTF-8", "C", "none") and first_path != "/evil"


def test_no_commands_when_terminals_are_off(tmp_path):
    server = start_jupyter_server(
        tmp_path / "noterm", LAB_INFO, extra_args=["--ServerApp.terminals_enabled=False"]
    )
    try:
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            connect(server.url, server.token)
        assert e.value.status_code == 403
        assert b"Terminals are disabled" in e.value.resp_body
    finally:
        server.stop()
    assert "Exec for" not in server.log_tail(200)
