"""The exec wrapper: command output and exit status through a real shell on a PTY."""

import os
import pty
import subprocess

import pytest

from jupyterhub_sessions.ssh.execwrap import CommandTooLong, ExecWrapper


def run_in_pty(wrapper: ExecWrapper, stdin: bytes = b"", chunk=7):
    """Type the wrapper into an interactive sh on a PTY, like a Jupyter terminal does."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["/bin/sh", "-i"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={"PATH": os.environ["PATH"], "SHELL": "/bin/sh", "PS1": "$ "},
        start_new_session=True,
    )
    os.close(slave)
    out = ""
    try:
        os.write(master, wrapper.line().encode())
        sent = False
        while wrapper.exit_status is None:
            try:
                data = os.read(master, 4096).decode()
            except OSError:
                break
            # feed in small pieces so markers get split across chunks
            for i in range(0, len(data), chunk):
                out += wrapper.feed(data[i : i + chunk])
            if wrapper.started and not sent:
                sent = True
                os.write(master, (ExecWrapper.encode_stdin(stdin) + ExecWrapper.EOF).encode())
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    return out


def test_output_and_status():
    w = ExecWrapper("echo hello; printf 'no newline'; exit 3")
    assert run_in_pty(w) == "hello\nno newline"
    assert w.exit_status == 3


def test_quotes_and_marker_lookalikes_are_just_text():
    cmd = """echo "it's \\"quoted\\" $((1+2))"; echo 'JHSE fake:9'"""
    w = ExecWrapper(cmd)
    assert run_in_pty(w) == 'it\'s "quoted" 3\nJHSE fake:9\n'
    assert w.exit_status == 0


def test_stdin_is_passed_byte_exact():
    data = bytes(range(256)) * 3 + b"\x04\x03 end"
    w = ExecWrapper("od -An -tx1 -v | tr -d ' \\n'")
    out = run_in_pty(w, stdin=data)
    assert out == data.hex()
    assert w.exit_status == 0


def test_too_long_command_refused():
    with pytest.raises(CommandTooLong):
        ExecWrapper("x" * 3000)
