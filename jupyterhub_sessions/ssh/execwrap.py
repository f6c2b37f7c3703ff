"""Running one command through a Jupyter terminal, with its exit status.

A Jupyter terminal is an interactive shell on a PTY, so `ssh host cmd` is
emulated by typing one wrapper line into it:

    stty -echo -onlcr; printf '\\n%s%s\\n' JHSB <nonce>;
    base64 -d | { "${SHELL:-/bin/sh}" -c "$(printf %s <b64 cmd> | base64 -d)";
                  printf '\\n%s%s:%s\\n' JHSE <nonce> "$?"; }; exit

- everything before the begin marker (prompt, echo of the typed line) is dropped;
- the command is sent base64-encoded, so no quoting of user text ever reaches the shell;
- the marker words are split in the typed line, so its echo never matches;
- the command's stdin is the client's stdin, sent as base64 lines into
  `base64 -d` (canonical mode, echo off) and ended with Ctrl-D, so any bytes
  and EOF arrive intact;
- output runs up to the end marker, which carries the exit status.

With a PTY (`ssh -t host cmd`) the tty modes are left alone and stdin is
passed through raw, like a login shell would.
"""

from __future__ import annotations

import base64
import re
import secrets

MAX_COMMAND = 2048
STDIN_CHUNK = 57  # bytes per base64 line (76 characters, far below the tty's line limit)


class CommandTooLong(ValueError):
    pass


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class ExecWrapper:
    """The line to type for one command, and a scanner for what comes back."""

    def __init__(self, command: str, pty: bool = False, nonce: str | None = None):
        if len(command.encode("utf-8")) > MAX_COMMAND:
            raise CommandTooLong(f"command longer than {MAX_COMMAND} bytes")
        self.command = command
        self.pty = pty
        self.nonce = nonce or secrets.token_hex(8)
        nl = "\r\n" if pty else "\n"
        self._begin = f"JHSB{self.nonce}{nl}"
        self._end_prefix = f"{nl}JHSE{self.nonce}:"
        self._end_re = re.compile(re.escape(self._end_prefix) + r"(\d{1,3})" + re.escape(nl))
        self._buf = ""
        self.started = False
        self.exit_status: int | None = None

    def line(self) -> str:
        """The wrapper to type into the terminal's shell (ends with a newline)."""
        run = f'"${{SHELL:-/bin/sh}}" -c "$(printf %s {_b64(self.command)} | base64 -d)"'
        end = f"""printf '\\n%s%s:%s\\n' JHSE {self.nonce} "$?" """.strip()
        begin = f"printf '\\n%s%s\\n' JHSB {self.nonce}"
        if self.pty:
            return f" {begin}; {run}; {end}; exit\n"
        return f" stty -echo -onlcr 2>/dev/null; {begin}; base64 -d | {{ {run}; {end}; }}; exit\n"

    @staticmethod
    def encode_stdin(data: bytes) -> str:
        """Client stdin bytes as base64 lines for the `base64 -d` reader."""
        return "".join(
            base64.b64encode(data[i : i + STDIN_CHUNK]).decode("ascii") + "\n"
            for i in range(0, len(data), STDIN_CHUNK)
        )

    EOF = "\x04"

    def feed(self, text: str) -> str:
        """Terminal output in; the command's output out (so far). Sets exit_status at the end."""
        if self.exit_status is not None:
            return ""
        self._buf += text
        out = ""
        if not self.started:
            i = self._buf.find(self._begin)
            if i < 0:
                # keep only what could still be the start of the marker
                self._buf = self._buf[-len(self._begin) :]
                return ""
            self.started = True
            self._buf = self._buf[i + len(self._begin) :]
        m = self._end_re.search(self._buf)
        if m:
            self.exit_status = int(m.group(1))
            out, self._buf = self._buf[: m.start()], ""
            return out
        keep = _partial_suffix(self._buf, self._end_prefix, extra=5)
        out, self._buf = self._buf[: len(self._buf) - keep], self._buf[len(self._buf) - keep :]
        return out

    def finish(self) -> str:
        """The terminal closed: whatever output is still held back."""
        out, self._buf = (self._buf if self.started else ""), ""
        return out


def _partial_suffix(buf: str, marker: str, extra: int) -> int:
    """Length of the tail of `buf` that may be the start of `marker` (+ status digits)."""
    i = buf.rfind(marker)
    if i >= 0 and len(buf) - i <= len(marker) + extra:
        return len(buf) - i
    for n in range(min(len(marker) - 1, len(buf)), 0, -1):
        if marker.startswith(buf[-n:]):
            return n
    return 0
