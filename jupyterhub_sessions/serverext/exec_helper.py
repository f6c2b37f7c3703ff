"""Runs one command for the exec endpoint (`sessions-api/exec`) and stays as its reaper.

    python -I -S exec_helper.py STATUS_FD PTY EXECUTABLE ARGV0 [ARG...]

Why a helper process between the server and the command:

- it is a *child subreaper*: whatever the command leaves running in the
  background (VS Code's server, `nohup job &`) is re-parented to the helper
  instead of to init, so it stays in the session's process tree, where the
  embedded backend looks for the session's ports (`ssh -L` to it keeps working
  after the script that started it ended);
- it dies with the server (`PR_SET_PDEATHSIG`) and then ends everything it
  reaped, so nothing started over SSH outlives the session;
- it reports the command's pid and its exit status or signal on STATUS_FD
  (`pid N`, then `exit N` or `signal N`), which the server cannot learn from a
  grandchild itself.

The command runs in a new session, like sshd runs it (`setsid`), with the pty
as its controlling terminal when PTY is 1. The helper closes its own copies of
stdin/stdout/stderr, so end-of-file on them means the command (and whatever
holds them) is done. It imports nothing outside the standard library and runs
with `-S`, so it starts in a few milliseconds. Linux-only parts fail soft.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import sys
import termios
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
GRACE_SECONDS = 3.0


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: no subreaper, no parent-death signal


def _children_map() -> dict[int, list[int]]:
    """ppid -> pids, from /proc (empty where there is no /proc)."""
    tree: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return tree
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the name is in parentheses and may hold spaces: the ppid follows the last ')'
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def _descendants(root: int) -> list[int]:
    tree = _children_map()
    out, todo = [], [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _end_everything(signum, frame) -> None:
    """The server is gone (or stops us): end the command and all it left behind."""
    me = os.getpid()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _descendants(me)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline and _descendants(me):
            _reap_nowait()
            time.sleep(0.05)
    os._exit(0)


def _reap_nowait() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _run_command(pty: bool, executable: str, argv: list[str]) -> None:
    """In the forked child: become a session (with the pty as terminal) and exec."""
    for sig in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.setsid()
        if pty:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        os.execvp(executable, argv)
    except OSError as e:
        os.write(2, f"jupyterhub-sessions: cannot run {executable}: {e.strerror}\n".encode())
    os._exit(127)


def main(args: list[str]) -> None:
    status_fd, pty, executable, argv = int(args[0]), args[1] == "1", args[2], args[3:]
    parent = os.getppid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the server died before the signal was armed
        os._exit(1)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    pid = os.fork()
    if pid == 0:
        os.close(status_fd)
        _run_command(pty, executable, argv)
    # the command holds stdin/stdout/stderr now; ours would keep them open
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    signal.signal(signal.SIGTERM, _end_everything)
    signal.signal(signal.SIGHUP, _end_everything)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.write(status_fd, f"pid {pid}\n".encode())
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if done != pid:
            continue  # an orphan we adopted
        if os.WIFSIGNALED(status):
            report = f"signal {os.WTERMSIG(status)}{' core' if os.WCOREDUMP(status) else ''}\n"
        else:
            report = f"exit {os.WEXITSTATUS(status)}\n"
        os.write(status_fd, report.encode())
        os.close(status_fd)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
