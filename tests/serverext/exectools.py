"""A small synchronous client of the exec endpoint (`sessions-api/exec`), for tests."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import websocket


@dataclass
class ExecResult:
    stdout: bytes = b""
    stderr: bytes = b""
    pid: int | None = None
    end: dict = field(default_factory=dict)  # {"exit": N} or {"exit_signal": NAME, "core": bool}
    close_code: int | None = None
    close_reason: str = ""

    @property
    def status(self):
        return self.end.get("exit")


def connect(url: str, token: str | None, timeout: float = 30) -> websocket.WebSocket:
    header = [f"Authorization: token {token}"] if token else []
    return websocket.create_connection(
        url.replace("http", "ws", 1) + "sessions-api/exec", header=header, timeout=timeout
    )


def read_all(ws: websocket.WebSocket, result: ExecResult | None = None, until=None) -> ExecResult:
    """Read frames until the server closes (or `until(result)` is true)."""
    result = result or ExecResult()
    while not (until and until(result)):
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_BINARY:
            if data[:1] == b"\x01":
                result.stdout += data[1:]
            elif data[:1] == b"\x02":
                result.stderr += data[1:]
            else:
                raise AssertionError(f"unknown stream {data[:1]!r}")
        elif opcode == websocket.ABNF.OPCODE_TEXT:
            msg = json.loads(data)
            if "pid" in msg:
                result.pid = msg["pid"]
            else:
                result.end = msg
        elif opcode == websocket.ABNF.OPCODE_CLOSE:
            if len(data) >= 2:
                result.close_code = int.from_bytes(data[:2], "big")
                result.close_reason = data[2:].decode(errors="replace")
            return result
    return result


def run(url: str, token: str, command: str | None, stdin: bytes = b"", pty: dict | None = None) -> ExecResult:
    """Run `command`, feed `stdin` (from a thread, so big inputs cannot deadlock), then EOF."""
    ws = connect(url, token)
    try:
        ws.send(json.dumps({"command": command, "pty": pty}))

        def feed():
            for i in range(0, len(stdin), 65536):
                ws.send_binary(stdin[i : i + 65536])
            ws.send(json.dumps({"eof": True}))

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        result = read_all(ws)
        writer.join(30)
        return result
    finally:
        ws.close()
