"""`{base_url}sessions-api/exec`: run one command in the session over a websocket, as sshd would.

The SSH gateway maps every `exec`, `shell` and `subsystem` channel onto it, on
both backends, so the gateway never needs to reach into the session's files or
processes itself. Unlike a Jupyter terminal it keeps stdout and stderr apart,
carries bytes (not text), reports the exit status or signal, and only has a
PTY when the client asked for one.

Protocol (one websocket per command):

- client → server, first message (text): `{"command": str | null, "pty": null |
  {"term": str, "cols": int, "rows": int}, "env": {"LANG": ..., "LC_*": ...}}`;
  `command` null runs the login shell. Then binary messages are stdin, and text
  messages are control: `{"eof": true}`, `{"resize": [cols, rows]}`,
  `{"signal": "INT"}` (the RFC 4254 names).
- server → client: binary messages whose first byte says the stream (1 stdout,
  2 stderr) followed by the bytes; text `{"pid": N}` once started, then
  `{"exit": N}` or `{"exit_signal": "KILL", "core": bool}` when the command
  ended, after which the socket closes once its output is drained.

Like sshd, a command without a PTY keeps running if the client goes away (it
sees end-of-file on stdin); with a PTY it gets the terminal's hangup. What the
command leaves in the background stays in the session's process tree
(`exec_helper`, a subreaper) and ends with the session. Authorization is the
terminal's (`execute` on `terminals`), and nothing runs when terminals are off.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

from tornado import web
from tornado.websocket import WebSocketClosedError

from .tcpbridge import StreamBridgeHandler

HELPER = str(Path(__file__).with_name("exec_helper.py"))
CHUNK = 256 * 1024
STDOUT, STDERR = 1, 2
MAX_COMMAND = 256 * 1024
# signals a client may send (RFC 4254 section 6.10), by name without SIG
SIGNALS = {
    name: getattr(signal, "SIG" + name)
    for name in (
        "ABRT",
        "ALRM",
        "FPE",
        "HUP",
        "ILL",
        "INT",
        "KILL",
        "PIPE",
        "QUIT",
        "SEGV",
        "TERM",
        "USR1",
        "USR2",
    )
}
SIGNAL_NAMES = {number: name for name, number in SIGNALS.items()}


class ExecRequestError(ValueError):
    """The first message is not a valid request; the text is safe to send back."""


def parse_request(message) -> dict:
    """The client's first message, checked: command, pty and env."""
    try:
        req = json.loads(message) if isinstance(message, str) else None
    except ValueError:
        req = None
    if not isinstance(req, dict):
        raise ExecRequestError("the first message must be a JSON object")
    command = req.get("command")
    if command is not None and (
        not isinstance(command, str) or len(command) > MAX_COMMAND or "\0" in command
    ):
        raise ExecRequestError(f"'command' must be a string of at most {MAX_COMMAND} characters, or null")
    pty = req.get("pty")
    if pty is not None:
        if not isinstance(pty, dict):
            raise ExecRequestError("'pty' must be an object or null")
        term = pty.get("term") or "xterm"
        if not isinstance(term, str) or not term.isprintable() or len(term) > 64:
            raise ExecRequestError("'pty.term' must be a terminal type name")
        pty = {"term": term, "cols": _dimension(pty.get("cols", 80)), "rows": _dimension(pty.get("rows", 24))}
    env = req.get("env") or {}
    if not isinstance(env, dict):
        raise ExecRequestError("'env' must be an object")
    # like sshd's AcceptEnv LANG LC_*: locale only, never PATH or LD_PRELOAD
    env = {
        k: v
        for k, v in env.items()
        if isinstance(k, str)
        and isinstance(v, str)
        and (k == "LANG" or k.startswith("LC_"))
        and k.replace("_", "").isalnum()
        and len(v) < 256
        and "\0" not in v
    }
    return {"command": command, "pty": pty, "env": env}


def _dimension(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExecRequestError("terminal sizes must be whole numbers")
    return max(1, min(value, 10000))


def set_window_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class _FD:
    """Non-blocking reads and writes on a pipe or pty end, awaited through the event loop."""

    def __init__(self, fd: int):
        self.fd = fd
        os.set_blocking(fd, False)
        self.closed = False
        self._waiters: set[asyncio.Future] = set()

    async def _wait(self, writing: bool) -> None:
        loop = asyncio.get_running_loop()
        add, remove = (
            (loop.add_writer, loop.remove_writer) if writing else (loop.add_reader, loop.remove_reader)
        )
        fut = loop.create_future()
        self._waiters.add(fut)
        add(self.fd, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            self._waiters.discard(fut)
            if not self.closed:
                remove(self.fd)

    async def read(self) -> bytes:
        """Next bytes; b"" at end of file (EIO on a pty whose terminal side is closed)."""
        while not self.closed:
            try:
                return os.read(self.fd, CHUNK)
            except BlockingIOError:
                await self._wait(writing=False)
            except OSError as e:
                if e.errno == errno.EIO:
                    return b""
                raise
        return b""

    def read_ready(self) -> bytes:
        """What can be read right now, without waiting."""
        try:
            return os.read(self.fd, CHUNK)
        except OSError:
            return b""

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.closed:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                await self._wait(writing=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        loop = asyncio.get_event_loop()
        loop.remove_reader(self.fd)
        loop.remove_writer(self.fd)
        os.close(self.fd)
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)


def session_shell(serverapp) -> str:
    """The shell terminals use: `terminado_settings.shell_command`, else $SHELL, else sh."""
    override = (getattr(serverapp, "terminado_settings", None) or {}).get("shell_command")
    if isinstance(override, str):
        override = shlex.split(override)
    if override:
        return override[0]
    return os.environ.get("SHELL") or shutil.which("sh") or "/bin/sh"


class ExecHandler(StreamBridgeHandler):
    """One command per websocket; see the module docstring for the protocol."""

    _request: dict | None = None
    _proc: subprocess.Popen | None = None
    _pid: int | None = None
    _stdin: _FD | None = None
    _input_open = False
    _outputs: list = ()
    _task: asyncio.Task | None = None

    async def get(self):
        await self.authorize_bridge()
        if not self.settings.get("terminals_available", False):
            self.log.info("Exec refused for %s: terminals are disabled", self.who)
            raise web.HTTPError(403, "Terminals are disabled in this session, so it cannot run commands")
        await super(StreamBridgeHandler, self).get()

    def open(self):
        self.set_nodelay(True)

    async def on_message(self, message):
        if self._request is None:
            try:
                self._request = parse_request(message)
            except ExecRequestError as e:
                self.close(1003, str(e))
                return
            self._start()
            return
        if isinstance(message, bytes):
            if self._input_open:
                try:
                    await self._stdin.write(message)
                except OSError:
                    self._end_input()  # the command stopped reading: drop the rest, like sshd
            return
        self._control(message)

    def _end_input(self) -> None:
        self._input_open = False
        if not self._pty:
            self._stdin.close()  # with a pty, the same descriptor carries the output

    @property
    def _pty(self) -> bool:
        return bool(self._request and self._request["pty"])

    def _control(self, message: str) -> None:
        try:
            msg = json.loads(message)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        if msg.get("eof") and self._input_open:
            if self._pty:
                asyncio.ensure_future(self._stdin.write(b"\x04"))  # a terminal's end of file: Ctrl-D
            else:
                self._end_input()
        elif "resize" in msg and self._pty and self._input_open:
            try:
                cols, rows = (_dimension(v) for v in msg["resize"])
                set_window_size(self._stdin.fd, cols, rows)
            except (ExecRequestError, TypeError, ValueError, OSError):
                pass
        elif msg.get("signal") in SIGNALS and self._pid is not None:
            try:
                os.kill(self._pid, SIGNALS[msg["signal"]])
            except OSError:
                pass

    # -- the process ------------------------------------------------------------------------
    def _argv(self) -> tuple[str, list[str]]:
        shell = session_shell(self.ext.serverapp)
        command = self._request["command"]
        if command is None:
            return shell, ["-" + os.path.basename(shell)]  # a login shell, as sshd starts it
        return shell, [shell, "-c", command]

    def _env(self) -> dict:
        env = dict(os.environ)
        env.update(self._request["env"])
        pty = self._request["pty"]
        if pty:
            env["TERM"] = pty["term"]
        else:
            env.pop("TERM", None)
        return env

    def _start(self) -> None:
        root = self.settings.get("server_root_dir") or os.getcwd()
        executable, argv = self._argv()
        status_r, status_w = os.pipe()
        pty = self._request["pty"]
        try:
            if pty:
                master, slave = os.openpty()
                set_window_size(slave, pty["cols"], pty["rows"])
                child_fds, ours = (slave, slave, slave), [master]
            else:
                in_r, in_w = os.pipe()
                out_r, out_w = os.pipe()
                err_r, err_w = os.pipe()
                for fd in (in_w, out_r):
                    _grow_pipe(fd)
                child_fds, ours = (in_r, out_w, err_w), [in_w, out_r, err_r]
            try:
                self._proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-I",
                        "-S",
                        HELPER,
                        str(status_w),
                        "1" if pty else "0",
                        executable,
                        *argv,
                    ],
                    stdin=child_fds[0],
                    stdout=child_fds[1],
                    stderr=child_fds[2],
                    pass_fds=(status_w,),
                    cwd=root,
                    env=self._env(),
                )
            finally:
                for fd in {*child_fds, status_w}:
                    os.close(fd)
        except OSError as e:
            os.close(status_r)
            self.log.warning("Exec failed to start for %s: %s", self.who, e)
            self.close(1011, f"could not start the command: {e.strerror}")
            return
        self._stdin = _FD(ours[0])
        self._input_open = True
        if pty:
            self._outputs = [(self._stdin, STDOUT)]
        else:
            self._outputs = [(_FD(ours[1]), STDOUT), (_FD(ours[2]), STDERR)]
        what = "login shell" if self._request["command"] is None else "command"
        self.log.info("Exec for %s: %s%s in %s", self.who, what, " with a pty" if pty else "", root)
        self._task = asyncio.ensure_future(self._run(_FD(status_r)))
        _reap_later(self._proc)

    async def _run(self, status: _FD) -> None:
        pumps = [asyncio.ensure_future(self._pump(fd, stream)) for fd, stream in self._outputs]
        try:
            ended = await self._read_status(status)
            if self._pty:
                await asyncio.wait(pumps, timeout=0.2)  # the shell's last words
                for p in pumps:
                    p.cancel()
                if not self._stdin.closed:
                    rest = self._stdin.read_ready()
                    if rest:
                        await self._send(bytes([STDOUT]) + rest, binary=True)
            else:
                await asyncio.gather(*pumps)  # until end of file, as sshd waits for it
            await self._send(json.dumps(ended))
            self.close(1000, "the command ended")
        except (WebSocketClosedError, asyncio.CancelledError):
            pass
        finally:
            for p in pumps:
                p.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            status.close()
            self._close_fds()

    async def _read_status(self, status: _FD) -> dict:
        text = b""
        while True:
            data = await status.read()
            if not data:
                break
            text += data
            for line in text.decode(errors="replace").splitlines():
                if line.startswith("pid ") and self._pid is None:
                    self._pid = int(line.split()[1])
                    await self._send(json.dumps({"pid": self._pid}))
        words = text.decode(errors="replace").split()
        if "signal" in words:
            number = int(words[words.index("signal") + 1])
            return {"exit_signal": SIGNAL_NAMES.get(number, f"SIG{number}"), "core": "core" in words}
        if "exit" in words:
            return {"exit": int(words[words.index("exit") + 1])}
        return {"exit": 255}  # the helper itself failed

    async def _pump(self, fd: _FD, stream: int) -> None:
        prefix = bytes([stream])
        while data := await fd.read():
            await self._send(prefix + data, binary=True)

    async def _send(self, message, binary: bool = False) -> None:
        await self.write_message(message, binary=binary)

    def _close_fds(self) -> None:
        for fd, _ in self._outputs:
            fd.close()
        if self._stdin is not None:
            self._stdin.close()

    def on_close(self):
        # without a pty the command reads end-of-file and may go on (as with sshd);
        # closing a pty hangs its terminal up (SIGHUP)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        else:
            self._close_fds()


def _grow_pipe(fd: int) -> None:
    """Bigger pipe buffers (Linux: 64 KiB by default) mean fewer, larger websocket messages."""
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
    except OSError:
        pass  # over /proc/sys/fs/pipe-max-size, or not Linux: the default works too


def _reap_later(proc: subprocess.Popen) -> None:
    """Collect the helper's exit status whenever it ends (it may outlive the websocket)."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        asyncio.ensure_future(asyncio.to_thread(proc.wait))
        return
    loop = asyncio.get_running_loop()

    def done():
        loop.remove_reader(pidfd)
        os.close(pidfd)
        proc.poll()

    loop.add_reader(pidfd, done)
