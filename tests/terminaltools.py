"""Run shell commands in a session's Jupyter terminal, as a person at the keyboard would.

Security tests use it to act *from inside* a session (a collaborator reading
the server's token, a sandboxed shell trying to read other drives), through
the same terminals API and websocket JupyterLab uses.
"""

from __future__ import annotations

import json
import secrets
import time

import websocket


class Terminal:
    """One terminal of the session at `hub.url + base` opened with `token`."""

    def __init__(self, hub, base: str, token: str, timeout: float = 60):
        self.hub = hub
        self.base = base
        self.token = token
        r = hub.request("POST", base + "api/terminals", token=token, json={})
        assert r.status_code == 200, r.text
        self.name = r.json()["name"]
        url = hub.url.replace("http://", "ws://") + base + f"terminals/websocket/{self.name}"
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {token}"], timeout=timeout)

    def run(self, command: str, timeout: float = 60) -> str:
        """Run `command` in the shell; returns what it printed (between two unique markers)."""
        tag = secrets.token_hex(4)
        start, end = f"<<{tag}-start>>", f"<<{tag}-end>>"
        # the markers are split in the typed text, so the shell's echo of the line never matches
        quoted = lambda m: "'" + m[:4] + "''" + m[4:] + "'"  # noqa: E731
        self.ws.send(json.dumps(["stdin", f"echo {quoted(start)}; {command}; echo {quoted(end)}\r"]))
        out = ""
        deadline = time.monotonic() + timeout
        while end not in out.split(start, 1)[-1] or start not in out:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no end marker after {timeout}s; got {out[-2000:]!r}")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg[0] == "stdout":
                out += msg[1]
        body = out.split(start, 1)[1].split(end, 1)[0]
        return body.replace("\r\n", "\n").strip("\n")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.hub.request("DELETE", self.base + f"api/terminals/{self.name}", token=self.token)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_in_kernel(hub, base: str, token: str, code: str, timeout: float = 120) -> str:
    """Execute `code` in a fresh Python kernel of the session; returns its stdout and stderr text."""
    import uuid

    r = hub.request("POST", base + "api/kernels", token=token, json={"name": "python3"})
    assert r.status_code == 201, r.text
    kernel = r.json()["id"]
    url = hub.url.replace("http://", "ws://") + base + f"api/kernels/{kernel}/channels"
    ws = websocket.create_connection(url, header=[f"Authorization: token {token}"], timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "test",
                        "session": uuid.uuid4().hex,
                        "version": "5.3",
                        "date": "",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
                    "channel": "shell",
                }
            )
        )
        out, replied, idle = "", False, False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out += msg["content"]["text"]
            elif kind == "error":
                out += "\n".join(msg["content"]["traceback"])
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True  # all output of the request was sent before this
            if replied and idle:
                return out
        raise TimeoutError(f"no execute_reply after {timeout}s; got {out[-2000:]!r}")
    finally:
        ws.close()
        hub.request("DELETE", base + f"api/kernels/{kernel}", token=token)
