"""Calls from a session to its hub and to the sessions service, over `hubapi.HubAPI`.

Two identities are used, never mixed up:

- the server's own API token (`JUPYTERHUB_API_TOKEN`, scopes from
  `Spawner.server_token_scopes`, see `hub.roles`): it only reads this
  server's session from the sessions service. Anyone with a terminal in the
  session can read it, collaborators included, so it may not manage shares
  or renew anything;
- the owner's own token, taken from the owner's request (their OAuth cookie
  for this server, or an API token they sent): sharing and renewing act as
  the owner, with whatever the owner's token allows (the hub decides).

`as_caller(token)` gives a client for the second; nothing here stores it.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from ..hubapi import HubAPI, HubAPIError

# what the handlers catch: one error type for the hub and the sessions service
HubError = HubAPIError


class HubClient:
    """Hub REST API (shares) and the sessions service, for one server."""

    def __init__(
        self,
        api_url: str,
        token: str,
        user: str,
        server_name: str,
        service_name: str = "sessions",
        service_url: str = "",
        timeout: float = 10.0,
    ):
        self.token = token
        self.user = user
        self.server_name = server_name
        self.service_name = service_name
        self.timeout = timeout
        self._service_url = service_url.rstrip("/")
        self._api = HubAPI(api_url, token, request_timeout=timeout, connect_timeout=timeout)
        # the service is reached with the same token; its own name in errors
        self._svc = HubAPI(
            api_url, token, request_timeout=timeout, connect_timeout=timeout, what=f"{service_name} service"
        )
        # where the sessions service is, is asked with the server's token
        self._locator: HubClient | None = None

    @property
    def api_url(self) -> str:
        return self._api.api_url.rstrip("/")

    def as_caller(self, token: str) -> HubClient:
        """The same client acting with a caller's own token (for one request)."""
        other = HubClient(
            self.api_url, token, self.user, self.server_name, self.service_name, "", self.timeout
        )
        other._locator = self
        return other

    @property
    def _server_path(self) -> str:
        return f"{quote(self.user, safe='')}/{quote(self.server_name, safe='')}"

    def _check_token(self) -> None:
        if not self.token:
            raise HubError(503, "This server has no JupyterHub API token (not started by JupyterHub)")

    async def _hub(self, path: str, method: str = "GET", body=None):
        self._check_token()
        return (await self._api.fetch(path, method, body=body))[1]

    # ---- sharing (hub REST API) ------------------------------------------

    async def list_shares(self) -> list[dict]:
        self._check_token()
        return [s async for s in self._api.fetch_paginated(f"shares/{self._server_path}")]

    async def list_share_codes(self) -> list[dict]:
        self._check_token()
        return [s async for s in self._api.fetch_paginated(f"share-codes/{self._server_path}")]

    async def grant_share(self, kind: str, name: str) -> dict:
        return await self._hub(f"shares/{self._server_path}", "POST", {kind: name}) or {}

    async def revoke_share(self, kind: str, name: str) -> None:
        await self._hub(f"shares/{self._server_path}", "PATCH", {kind: name})

    async def create_share_code(self, expires_in: int) -> dict:
        return await self._hub(f"share-codes/{self._server_path}", "POST", {"expires_in": expires_in}) or {}

    async def revoke_share_codes(self, code_id: str | None = None) -> None:
        path = f"share-codes/{self._server_path}"
        if code_id:
            path += "?" + urlencode({"id": code_id})
        await self._hub(path, "DELETE")

    # ---- the sessions service -------------------------------------------

    async def service_url(self) -> str:
        """Base URL (with its prefix) of the sessions service, asked of the hub once."""
        if self._locator is not None:
            return await self._locator.service_url()
        if not self._service_url:
            model = await self._hub(f"services/{quote(self.service_name, safe='')}") or {}
            url = model.get("url") or ""
            if not url:
                raise HubError(
                    502, f"The hub does not tell this server where service {self.service_name!r} is"
                )
            prefix = model.get("prefix") or f"/services/{quote(self.service_name, safe='')}/"
            self._service_url = url.rstrip("/") + "/" + prefix.strip("/")
        return self._service_url

    async def _service(self, suffix: str = "", method: str = "GET") -> dict | None:
        self._check_token()
        url = f"{await self.service_url()}/api/sessions/{self._server_path}{suffix}"
        return (await self._svc.fetch(url, method, body={} if method == "POST" else None))[1]

    async def session_timing(self) -> dict | None:
        return await self._service()

    async def renew(self) -> dict | None:
        return await self._service("/renew", method="POST")
