"""`jupyterhub-sessions list|get|start|renew|delete`: the sessions API from a terminal.

Uses `JUPYTERHUB_URL` (the hub's public URL) and `JUPYTERHUB_API_TOKEN` from
the environment (or --url/--token), exactly like

    curl -H "Authorization: token $JUPYTERHUB_API_TOKEN" $JUPYTERHUB_URL/services/sessions/api/sessions

`start` posts the options to the hub's own API and prints the hub's error
(400 bad option, 409 drive in use) as it is. Requests go through the one hub
client (`hubapi.HubAPI`), rooted at the hub's public URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from urllib.parse import quote, urlencode

from ..hubapi import HubAPI, HubAPIError, server_path

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class CLIError(Exception):
    def __init__(self, message: str, code: int = EXIT_REFUSED):
        self.code = code
        super().__init__(message)


class Client(HubAPI):
    """The sessions API and the hub's API, at the hub's public URL."""

    def __init__(self, url: str, token: str, service: str, timeout: float = 120):
        super().__init__(url, token, request_timeout=timeout, follow_redirects=True)
        self.service = service
        self._me: str | None = None

    async def request(self, method: str, path: str, body=None):
        """(status, parsed JSON or None); HTTP errors are returned, not raised."""
        try:
            return await self.fetch(path, method, body=body, allow=True)
        except HubAPIError as e:
            raise CLIError(e.message, EXIT_USAGE if e.status == 502 else EXIT_REFUSED) from None

    def check(self, status, payload, what: str):
        if status < 400:
            return payload
        message = payload.get("message") if isinstance(payload, dict) else None
        if status in (401, 403) and not message:
            message = "not allowed (check JUPYTERHUB_API_TOKEN)"
        raise CLIError(f"{what}: {message or payload or 'error'} (HTTP {status})")

    async def me(self) -> str:
        if self._me is None:
            status, model = await self.request("GET", "hub/api/user")
            self._me = self.check(status, model, "cannot identify the token's owner")["name"]
        return self._me

    def api(self, path: str = "") -> str:
        return f"services/{quote(self.service, safe='')}/api/sessions{path}"

    def session_path(self, user: str, name: str, action: str = "") -> str:
        return self.api(f"/{quote(user, safe='')}/{quote(name, safe='')}" + (f"/{action}" if action else ""))


def _value(text: str):
    """An option value: JSON when it parses (numbers, true/false), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_options(pairs: list[str], options_json: str | None) -> dict:
    options = {}
    if options_json:
        try:
            options = json.loads(options_json)
        except ValueError as e:
            raise CLIError(f"--options-json is not valid JSON: {e}", EXIT_USAGE) from None
        if not isinstance(options, dict):
            raise CLIError("--options-json must be a JSON object", EXIT_USAGE)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"option {pair!r} is not KEY=VALUE", EXIT_USAGE)
        options[key] = _value(value)
    return options


def _when(value) -> str:
    return value or "never"


def format_session(s: dict) -> str:
    name = s["name"] or "(default)"
    limit = "" if s.get("max_renewals") is None else f"/{s['max_renewals']}"
    lines = [
        f"{s['user']}/{name}",
        f"  type:        {s.get('session_type') or '-'}",
        f"  drive:       {s.get('drive') or '-'}",
        f"  state:       {s.get('pending') or ('running' if s.get('ready') else 'not ready')}",
        f"  mode:        {s.get('mode')} (timeout {'never' if s.get('timeout') == -1 else s.get('timeout')})",
        f"  expires:     {_when(s.get('expires_at'))}"
        + (f" ({s['expiry_reason']})" if s.get("expiry_reason") else ""),
        f"  renewals:    {s.get('renewals', 0)}{limit}" + ("" if s.get("renewable") else " (not renewable)"),
        f"  url:         {s.get('url')}",
    ]
    return "\n".join(lines)


def format_table(sessions: list[dict]) -> str:
    if not sessions:
        return "No sessions."
    rows = [("USER", "SESSION", "TYPE", "DRIVE", "STATE", "EXPIRES", "REASON", "RENEWALS")]
    for s in sessions:
        rows.append(
            (
                s["user"],
                s["name"] or "(default)",
                s.get("session_type") or "-",
                s.get("drive") or "-",
                s.get("pending") or ("running" if s.get("ready") else "not ready"),
                _when(s.get("expires_at")),
                s.get("expiry_reason") or "-",
                str(s.get("renewals", 0)),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def build_parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"jupyterhub-sessions {command}")
    p.add_argument(
        "--url", default=os.environ.get("JUPYTERHUB_URL"), help="hub public URL (default $JUPYTERHUB_URL)"
    )
    p.add_argument(
        "--token",
        default=os.environ.get("JUPYTERHUB_API_TOKEN"),
        help="API token (default $JUPYTERHUB_API_TOKEN)",
    )
    p.add_argument(
        "--service",
        default=os.environ.get("JUPYTERHUB_SESSIONS_SERVICE", "sessions"),
        help="name of the sessions hub service (default sessions)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    if command == "list":
        p.add_argument("--user", help="only this user's sessions (admins)")
        return p
    p.add_argument("--user", help="the session's owner (default: you)")
    p.add_argument("name", nargs="?", default="", help="session (server) name; empty = default server")
    if command == "start":
        p.add_argument(
            "-o",
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="session option, e.g. -o session_type=notebook -o timeout=3600 (repeatable)",
        )
        p.add_argument("--options-json", help="all options as one JSON object")
    return p


def run(command: str, args: argparse.Namespace) -> int:
    if not args.url:
        raise CLIError("set JUPYTERHUB_URL (or --url) to the hub's URL", EXIT_USAGE)
    if not args.token:
        raise CLIError("set JUPYTERHUB_API_TOKEN (or --token) to your API token", EXIT_USAGE)
    out = asyncio.run(_run(command, args, Client(args.url, args.token, args.service)))
    print(json.dumps(out, indent=1) if args.json else out)
    return EXIT_OK


async def _run(command: str, args: argparse.Namespace, c: Client):
    """What to print for `command`: JSON with --json, else text."""
    if command == "list":
        query = "?" + urlencode({"user": args.user}) if args.user else ""
        sessions = c.check(*await c.request("GET", c.api(query)), "cannot list sessions")
        return sessions if args.json else format_table(sessions)
    user = args.user or await c.me()
    label = f"{user}/{args.name or '(default)'}"
    if command == "get":
        s = c.check(*await c.request("GET", c.session_path(user, args.name)), f"cannot get {label}")
        return s if args.json else format_session(s)
    if command == "renew":
        path = c.session_path(user, args.name, "renew")
        s = c.check(*await c.request("POST", path), f"cannot renew {label}")
        expiry = f" ({s['expiry_reason']})" if s.get("expiry_reason") else ""
        return s if args.json else f"Renewed {label}: expires {_when(s.get('expires_at'))}{expiry}"
    if command == "delete":
        s = c.check(*await c.request("DELETE", c.session_path(user, args.name)), f"cannot stop {label}")
        verb = "Stopping" if s.get("result") == "stopping" else "Stopped"
        return s if args.json else f"{verb} {label} (drive {s.get('drive') or '-'} kept)"
    # start
    options = parse_options(args.option, args.options_json)
    status, payload = await c.request("POST", "hub/api/" + server_path(user, args.name), body=options)
    c.check(status, payload, f"cannot start {label}")
    state = "starting" if status == 202 else "started"
    return {"user": user, "name": args.name, "status": state} if args.json else f"{label} {state}"


def main(argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    args = build_parser(command).parse_args(rest)
    try:
        return run(command, args)
    except CLIError as e:
        print(f"jupyterhub-sessions {command}: {e}", file=sys.stderr)
        return e.code
