"""The sessions service's calls to the hub API, over the one client (`hubapi.HubAPI`).

All requests share one semaphore (at most `concurrency` in flight, so a big cull cannot flood
the hub), user lists are read page by page with the next page requested while the current one
is processed (`HubAPI.fetch_paginated`), and stopping a server that is already stopping or gone
is not an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from ..hubapi import HubAPI, HubAPIError, server_path

__all__ = ["HubAPIError", "HubClient", "server_path"]


class HubClient(HubAPI):
    """Talks to `api_url` (".../hub/api") with the service's `token`."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        concurrency: int = 10,
        page_size: int = 200,
        request_timeout: float = 60,
    ):
        super().__init__(api_url, token, concurrency=concurrency, request_timeout=request_timeout)
        self.page_size = page_size

    def iter_users(self, state: str | None = "active") -> AsyncIterator[dict]:
        """Every user (with `servers`) matching the hub's `state` filter, page by page."""
        return self.fetch_paginated("users", {"state": state} if state else {}, page_size=self.page_size)

    async def get_user(self, name: str, include_stopped: bool = False) -> dict | None:
        """The user model with servers (also stopped ones if asked), or None if there is no such user."""
        path = f"users/{quote(name, safe='')}" + ("?include_stopped_servers=1" if include_stopped else "")
        status, user = await self.fetch(path, allow=(404,))
        return None if status == 404 else user

    async def stop_server(self, user: str, server: str, *, remove: bool = False) -> str:
        """Ask the hub to stop a server: "stopped", "stopping" (slow stop) or "gone"."""
        body = {"remove": True} if remove and server else None
        status, _ = await self.fetch(server_path(user, server), "DELETE", body=body, allow=(404,))
        return {204: "stopped", 202: "stopping", 404: "gone"}.get(status, "stopped")

    async def start_server(self, user: str, server: str, options: dict) -> int:
        status, _ = await self.fetch(server_path(user, server), "POST", body=options)
        return status
