"""A small async client for the JupyterHub REST API, as the service uses it.

All requests share one semaphore (at most `concurrency` in flight, so a big
cull cannot flood the hub), user lists are read page by page with the next
page requested while the current one is processed, and stopping a server
that is already stopping or gone is not an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

log = logging.getLogger("jupyterhub_sessions.service")

PAGINATION = "application/jupyterhub-pagination+json"


class HubAPIError(Exception):
    """The hub answered with an unexpected status, or could not be reached."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"hub API error {status}: {message}")


def server_path(user: str, server: str) -> str:
    """API path of a user's server; the default server has its own endpoint."""
    if server:
        return f"users/{quote(user, safe='')}/servers/{quote(server, safe='')}"
    return f"users/{quote(user, safe='')}/server"


class HubClient:
    """Talks to `api_url` (".../hub/api") with `token`."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        concurrency: int = 10,
        page_size: int = 200,
        request_timeout: float = 60,
    ):
        self.api_url = api_url.rstrip("/") + "/"
        self.token = token
        self.page_size = page_size
        self.request_timeout = request_timeout
        self._semaphore = asyncio.Semaphore(max(1, concurrency))
        self._http = AsyncHTTPClient(force_instance=True, max_clients=max(1, concurrency))
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    async def request(self, method: str, path: str, *, body=None, headers=None, allow=()):
        """(status, parsed JSON or None); raises HubAPIError for other non-2xx statuses."""
        url = path if path.startswith("http") else self.api_url + path
        hdrs = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        hdrs.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        req = HTTPRequest(
            url,
            method=method,
            headers=hdrs,
            body=data,
            allow_nonstandard_methods=True,
            request_timeout=self.request_timeout,
        )
        async with self._semaphore:
            self.requests += 1
            try:
                resp = await self._http.fetch(req, raise_error=False)
            except (OSError, HTTPClientError) as e:
                raise HubAPIError(502, f"cannot reach the hub at {self.api_url}: {e}") from None
        payload = None
        if resp.body:
            try:
                payload = json.loads(resp.body)
            except ValueError:
                payload = None
        if 200 <= resp.code < 300 or resp.code in allow:
            return resp.code, payload
        message = payload.get("message") if isinstance(payload, dict) else None
        if resp.code == 599:
            message = f"cannot reach the hub at {self.api_url}: {resp.error}"
        raise HubAPIError(resp.code, message or resp.reason or "error")

    async def iter_users(self, state: str | None = "active") -> AsyncIterator[dict]:
        """Every user (with `servers`) matching the hub's `state` filter, page by page."""
        params = {"limit": str(self.page_size)}
        if state:
            params["state"] = state
        url = self.api_url + "users?" + urlencode(params)
        headers = {"Accept": PAGINATION}
        pending = asyncio.ensure_future(self.request("GET", url, headers=headers))
        try:
            while pending is not None:
                _, page = await pending
                pending = None
                if isinstance(page, list):  # hub without pagination
                    items, next_url = page, None
                else:
                    items = page.get("items", [])
                    nxt = (page.get("_pagination") or {}).get("next")
                    # follow the offset, not `next.url`: the hub builds that
                    # from the request's Host, which a proxy may have rewritten
                    next_url = None
                    if nxt:
                        params.update(offset=str(nxt["offset"]), limit=str(nxt["limit"]))
                        next_url = self.api_url + "users?" + urlencode(params)
                if next_url:
                    pending = asyncio.ensure_future(self.request("GET", next_url, headers=headers))
                for user in items:
                    yield user
        finally:
            if pending is not None:
                pending.cancel()

    async def get_user(self, name: str, include_stopped: bool = False) -> dict | None:
        """The user model with servers (also stopped ones if asked), or None if there is no such user."""
        path = f"users/{quote(name, safe='')}" + ("?include_stopped_servers=1" if include_stopped else "")
        status, user = await self.request("GET", path, allow=(404,))
        return None if status == 404 else user

    async def stop_server(self, user: str, server: str, *, remove: bool = False) -> str:
        """Ask the hub to stop a server: "stopped", "stopping" (slow stop) or "gone"."""
        body = {"remove": True} if remove and server else None
        status, _ = await self.request("DELETE", server_path(user, server), body=body, allow=(404,))
        return {204: "stopped", 202: "stopping", 404: "gone"}.get(status, "stopped")

    async def start_server(self, user: str, server: str, options: dict) -> int:
        status, _ = await self.request("POST", server_path(user, server), body=options)
        return status
