"""The one client for JupyterHub's REST API (and for services behind the hub's proxy).

Every part that talks to the hub - the sessions service, the server extension in a session, the
ssh service, the `jupyterhub-sessions` command - builds its own small wrapper of the calls it makes
over `HubAPI`: one `fetch` (JSON in, `(status, JSON)` out, one `HubAPIError(status, message)` for
a refusal or an unreachable hub) and one `fetch_paginated`, as jupyterhub-idle-culler gets by with
one `fetch` and one `fetch_paginated`. `server_path(user, name)` is the one place a server's API
path is built (the default server has its own endpoint).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Collection
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

PAGINATION = "application/jupyterhub-pagination+json"


class HubAPIError(Exception):
    """The hub (or a service behind it) refused a request, or could not be reached (502).

    `status` is what an API of ours answers with when it passes the failure on, `message` the
    hub's own message (its JSON `message`), else what went wrong.
    """

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"hub API error {status}: {message}")


def server_path(user: str, name: str) -> str:
    """API path of a user's server (below the hub API URL); `name` "" is the default server."""
    if name:
        return f"users/{quote(user, safe='')}/servers/{quote(name, safe='')}"
    return f"users/{quote(user, safe='')}/server"


def _json_or_none(body: bytes | None):
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


class HubAPI:
    """Requests to `api_url` (".../hub/api") with `token`.

    `concurrency`: at most that many requests in flight, on a client of its own (so a big cull
    cannot flood the hub; `close()` it); None: tornado's shared client, no limit. `what` names
    the other side in error messages ("hub", "sessions service").
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        request_timeout: float = 60,
        connect_timeout: float | None = None,
        concurrency: int | None = None,
        follow_redirects: bool = False,
        what: str = "hub",
    ):
        self.api_url = api_url.rstrip("/") + "/"
        self.token = token
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.follow_redirects = follow_redirects
        self.what = what
        self.requests = 0
        self._semaphore = asyncio.Semaphore(max(1, concurrency)) if concurrency else None
        self._http = (
            AsyncHTTPClient(force_instance=True, max_clients=max(1, concurrency)) if concurrency else None
        )

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def url(self, path: str) -> str:
        """`path` below the API URL; a full URL (a service, a session) is used as it is."""
        return path if path.startswith(("http://", "https://")) else self.api_url + path

    def _request(self, url: str, method: str, body, headers, token: str | None) -> HTTPRequest:
        hdrs = {"Authorization": f"token {token or self.token}", "Accept": "application/json"}
        hdrs.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            hdrs["Content-Type"] = "application/json"
        elif method in ("POST", "PUT", "PATCH"):
            data = ""  # tornado wants a body for these
        return HTTPRequest(
            url,
            method=method,
            headers=hdrs,
            body=data,
            request_timeout=self.request_timeout,
            connect_timeout=self.connect_timeout or self.request_timeout,
            allow_nonstandard_methods=True,  # DELETE with a JSON body
            follow_redirects=self.follow_redirects,
        )

    async def _send(self, req: HTTPRequest):
        http = self._http or AsyncHTTPClient()
        self.requests += 1
        try:
            resp = await http.fetch(req, raise_error=False)
        except (OSError, HTTPClientError) as e:
            raise HubAPIError(502, f"the {self.what} at {req.url} is unreachable: {e}") from None
        if resp.code == 599:
            raise HubAPIError(502, f"the {self.what} at {req.url} is unreachable: {resp.error}")
        return resp

    async def fetch(
        self,
        path: str,
        method: str = "GET",
        *,
        body=None,
        headers: dict | None = None,
        allow: Collection[int] | bool = (),
        token: str | None = None,
    ) -> tuple[int, object]:
        """(status, parsed JSON or None) of a 2xx answer, or of a status in `allow` (True: any).

        Raises HubAPIError for any other status (with the hub's message), for an unreachable
        hub (502) and for a 2xx answer that is not JSON (502).
        """
        req = self._request(self.url(path), method, body, headers, token)
        if self._semaphore is not None:
            async with self._semaphore:
                resp = await self._send(req)
        else:
            resp = await self._send(req)
        payload = _json_or_none(resp.body)
        ok = 200 <= resp.code < 300
        if ok and resp.body and payload is None:
            raise HubAPIError(502, f"the {self.what} answered with invalid JSON")
        if ok or allow is True or resp.code in (allow or ()):
            return resp.code, payload
        message = payload.get("message") if isinstance(payload, dict) else None
        raise HubAPIError(
            resp.code, str(message or resp.reason or f"the {self.what} refused the request ({resp.code})")
        )

    async def fetch_paginated(
        self, path: str, params: dict | None = None, *, page_size: int = 200
    ) -> AsyncIterator[dict]:
        """Every item of a paginated list, page by page, the next page asked for while the
        current one is processed. Follows `next.offset` (not `next.url`: the hub builds that from
        the request's Host, which a proxy may have rewritten); a hub without pagination answers
        with a plain list, taken whole."""
        params = {**(params or {}), "limit": str(page_size)}

        def get(query: dict):
            sep = "&" if "?" in path else "?"
            url = f"{path}{sep}{urlencode(query)}"
            return asyncio.ensure_future(self.fetch(url, headers={"Accept": PAGINATION}))

        pending: asyncio.Future | None = get(params)
        try:
            while pending is not None:
                _, page = await pending
                pending = None
                if isinstance(page, list):
                    items = page
                else:
                    page = page if isinstance(page, dict) else {}
                    items = page.get("items") or []
                    nxt = (page.get("_pagination") or {}).get("next")
                    if nxt and items:
                        params.update(offset=str(nxt["offset"]), limit=str(nxt.get("limit") or page_size))
                        pending = get(params)
                for item in items:
                    yield item
        finally:
            if pending is not None:
                pending.cancel()
