"""Calls from a session to its hub and to the sessions service.

Two identities are used, never mixed up:

- the server's own API token (`JUPYTERHUB_API_TOKEN`, scopes from
  `Spawner.server_token_scopes`, see `hub_config.apply`): it only reads this
  server's session from the sessions service. Anyone with a terminal in the
  session can read it, collaborators included, so it may not manage shares
  or renew anything;
- the owner's own token, taken from the owner's request (their OAuth cookie
  for this server, or an API token they sent): sharing and renewing act as
  the owner, with whatever the owner's token allows (the hub decides).

`as_caller(token)` gives a client for the second; nothing here stores it.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

log = logging.getLogger(__name__)


class HubError(Exception):
    """A hub call failed; `status` is what our API answers with."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


def _error_message(body: bytes | None, default: str) -> str:
    try:
        data = json.loads(body or b"")
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    except ValueError:
        pass
    return default


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
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.user = user
        self.server_name = server_name
        self.service_name = service_name
        self._service_url = service_url.rstrip("/")
        self.timeout = timeout
        # where the sessions service is, is asked with the server's token
        self._locator: HubClient | None = None

    def as_caller(self, token: str) -> HubClient:
        """The same client acting with a caller's own token (for one request)."""
        other = HubClient(
            self.api_url,
            token,
            self.user,
            self.server_name,
            self.service_name,
            service_url="",
            timeout=self.timeout,
        )
        other._locator = self
        return other

    @property
    def _server_path(self) -> str:
        return f"{quote(self.user, safe='')}/{quote(self.server_name, safe='')}"

    async def _fetch(self, url: str, method: str = "GET", body=None, what: str = "hub") -> dict | None:
        if not self.token:
            raise HubError(503, "This server has no JupyterHub API token (not started by JupyterHub)")
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        req = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=data,
            request_timeout=self.timeout,
            connect_timeout=self.timeout,
            allow_nonstandard_methods=True,
            follow_redirects=False,
        )
        try:
            resp = await AsyncHTTPClient().fetch(req)
        except HTTPClientError as e:
            if e.code == 599 or e.response is None:
                raise HubError(502, f"The {what} is unreachable: {e}") from None
            body_bytes = e.response.body if e.response is not None else None
            raise HubError(
                e.code, _error_message(body_bytes, f"The {what} refused the request ({e.code})")
            ) from None
        except OSError as e:
            raise HubError(502, f"The {what} is unreachable: {e}") from None
        if resp.code == 204 or not resp.body:
            return None
        try:
            return json.loads(resp.body)
        except ValueError:
            raise HubError(502, f"The {what} answered with invalid JSON") from None

    # ---- sharing (hub REST API) ------------------------------------------

    async def list_shares(self) -> list[dict]:
        return await self._paged(f"{self.api_url}/shares/{self._server_path}")

    async def list_share_codes(self) -> list[dict]:
        return await self._paged(f"{self.api_url}/share-codes/{self._server_path}")

    async def _paged(self, url: str) -> list[dict]:
        items: list[dict] = []
        offset = 0
        while True:
            sep = "&" if "?" in url else "?"
            page = await self._fetch(f"{url}{sep}offset={offset}&limit=200")
            page = page or {}
            batch = page.get("items", [])
            items.extend(batch)
            nxt = (page.get("_pagination") or {}).get("next")
            if not batch or not nxt:
                return items
            offset = nxt.get("offset", offset + len(batch))

    async def grant_share(self, kind: str, name: str) -> dict:
        return (
            await self._fetch(f"{self.api_url}/shares/{self._server_path}", method="POST", body={kind: name})
            or {}
        )

    async def revoke_share(self, kind: str, name: str) -> None:
        await self._fetch(f"{self.api_url}/shares/{self._server_path}", method="PATCH", body={kind: name})

    async def create_share_code(self, expires_in: int) -> dict:
        return (
            await self._fetch(
                f"{self.api_url}/share-codes/{self._server_path}",
                method="POST",
                body={"expires_in": expires_in},
            )
            or {}
        )

    async def revoke_share_codes(self, code_id: str | None = None) -> None:
        url = f"{self.api_url}/share-codes/{self._server_path}"
        if code_id:
            url += "?" + urlencode({"id": code_id})
        await self._fetch(url, method="DELETE")

    # ---- the sessions service -------------------------------------------

    async def service_url(self) -> str:
        """Base URL (with its prefix) of the sessions service, asked of the hub once."""
        if self._locator is not None:
            return await self._locator.service_url()
        if not self._service_url:
            model = await self._fetch(f"{self.api_url}/services/{quote(self.service_name, safe='')}")
            model = model or {}
            url = model.get("url") or ""
            if not url:
                raise HubError(
                    502, f"The hub does not tell this server where service {self.service_name!r} is"
                )
            prefix = model.get("prefix") or f"/services/{quote(self.service_name, safe='')}/"
            self._service_url = url.rstrip("/") + "/" + prefix.strip("/")
        return self._service_url

    async def _service(self, suffix: str = "", method: str = "GET") -> dict | None:
        base = await self.service_url()
        url = f"{base}/api/sessions/{self._server_path}{suffix}"
        return await self._fetch(
            url, method=method, body={} if method == "POST" else None, what=f"{self.service_name} service"
        )

    async def session_timing(self) -> dict | None:
        return await self._service()

    async def renew(self) -> dict | None:
        return await self._service("/renew", method="POST")
