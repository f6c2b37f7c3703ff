"""The session's port proxy: jupyter-server-proxy's handlers, streaming, without hub credentials.

jupyter-server-proxy (4.x) reads a proxied response whole into memory before
sending a byte of it (tornado's client then gives up at 100 MB with a 599),
reads request bodies whole before sending them on, and opens a new
connection to the app for every request. Users serve data cubes and datasets
from apps in their sessions, so the proxy must carry any size with flat
memory. jupyter-server-proxy also passes every request header and query on,
so the visitor's hub cookies and tokens reached whoever runs the app.

What this module changes, and nothing else:

- the last step of `ProxyHandler.proxy` (`_proxy_buffered` /
  `_proxy_progressive`, called after jupyter-server-proxy's own auth,
  host allow-list, launcher start-up and path mapping) streams: the answer
  goes to the client chunk by chunk as it arrives, waiting for the client
  to take each one (a slow reader slows the app instead of filling memory);
  a client that goes away closes the connection to the app;
- request bodies stream to the app (`@stream_request_body`): the request is
  sent while the body arrives, through a bounded pipe;
- connections to the app are kept alive and reused (`upstream.UpstreamPool`);
- the hub's cookies, `Authorization: token|bearer ...` and a `token` query
  parameter are removed from what reaches the app, on HTTP and websockets;
  an app cannot set cookies with the hub's names.

Websockets, auth, the host allow-list, `Location` rewriting and activity
tracking are jupyter-server-proxy's. With `rewrite_response` configured the
answer must be whole to be rewritten: those requests take the stock
(buffered) path.

jupyter-server-proxy adds its routes in its own load hook and offers no
setting to change the handler classes, so `install` swaps them in the
server's routing table once it has loaded (every `ProxyHandler` subclass:
`/proxy/<port>/`, `/proxy/absolute/<port>/`, `/proxy/<host>:<port>/` and
the web-app launchers).
"""

from __future__ import annotations

import asyncio
import collections
import copy
import logging
import select
import time
from urllib.parse import unquote_plus

from jupyter_server_proxy.handlers import LocalProxyHandler, ProxyHandler, RemoteProxyHandler
from tornado import httputil, iostream, web

from .sockrelay import BadChunking, ChunkedRelay, SocketRelay, SourceClosed, whole_chunked_body
from .upstream import READ_CHUNK, AppExchange, AppProtocolError, UpstreamPool
from .wsrelay import Relay

log = logging.getLogger(__name__)

# Hop-by-hop headers (RFC 9110 7.6.1) and `Expect` (tornado already answered
# "100 Continue" to the client; the body is on its way).
# methods a request may be sent again with (RFC 9110 9.2.2), if its kept-alive connection failed
IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    )
)
# JupyterHub's cookies (login, session id, each server's OAuth cookie and state).
HUB_COOKIE_PREFIXES = ("jupyterhub-", "__Host-jupyterhub-")
# The schemes JupyterHub and jupyter-server take a token from (HubAuth.auth_header_pat).
TOKEN_SCHEMES = frozenset(("token", "bearer"))
# Query parameters that carry tokens (HubAuth reads ?token= on websockets).
TOKEN_PARAMS = frozenset(("token",))

SMALL_BODY = 64 * 1024  # bodies up to this size are collected and sent on a kept-alive connection
SPLICE_BODY = 1024 * 1024  # bodies of a known length from this size on move on a relay thread
DRAIN_LIMIT = 64 * 1024 * 1024  # rest of a body the app did not wait for, read and dropped up to this
DRAIN_SECONDS = 30.0
PIPE_BYTES = 1024 * 1024  # request body in flight between the client and the app
UNLIMITED = 1 << 62  # request bodies through the proxy are not capped (the app decides)
CHUNK = 256 * 1024  # largest piece of an answer handed on at once (one buffer per transfer)
SMALL_ANSWER = 64 * 1024  # answers up to this size go out in one piece with their headers
ACTIVITY_EVERY = 1.0  # seconds between activity records during a long transfer
SPLICE = hasattr(select, "poll")  # the relay thread (sockrelay) waits in poll()

_pool: UpstreamPool | None = None


def pool() -> UpstreamPool:
    global _pool
    if _pool is None:
        _pool = UpstreamPool()
    return _pool


# ---- credentials ------------------------------------------------------------------------


def is_hub_cookie(name: str, extra: frozenset[str] = frozenset()) -> bool:
    return name.startswith(HUB_COOKIE_PREFIXES) or any(name.startswith(n) for n in extra)


def strip_cookie_header(value: str, extra: frozenset[str] = frozenset()) -> str:
    """A Cookie header without the hub's cookies; the app's own pairs are kept as sent."""
    kept = []
    for pair in value.split(";"):
        name = pair.split("=", 1)[0].strip()
        if name and not is_hub_cookie(name, extra):
            kept.append(pair.strip())
    return "; ".join(kept)


def strip_credentials(headers: httputil.HTTPHeaders, extra_cookies: frozenset[str] = frozenset()) -> None:
    """Remove the hub's credentials from request headers bound for the app (in place)."""
    cookies = [strip_cookie_header(v, extra_cookies) for v in headers.get_list("Cookie")]
    if "Cookie" in headers:
        del headers["Cookie"]
    cookies = [c for c in cookies if c]
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    referer = headers.get("Referer")
    if referer and "?" in referer:  # the page's own URL, ?token= and all
        page, _, query = referer.partition("?")
        query, hash_sep, fragment = query.partition("#")
        query = strip_query_credentials(query)
        headers["Referer"] = page + ("?" + query if query else "") + hash_sep + fragment
    auth = headers.get_list("Authorization")
    if "Authorization" in headers:
        del headers["Authorization"]
    for value in auth:
        scheme = value.split(None, 1)[0].lower() if value.strip() else ""
        if scheme not in TOKEN_SCHEMES:  # Basic and others are the app's own
            headers.add("Authorization", value)


def strip_query_credentials(query: str) -> str:
    """The query string without `token=` parameters; everything else byte for byte."""
    if not query or "token" not in query.lower():
        return query
    kept = [p for p in query.split("&") if unquote_plus(p.split("=", 1)[0]).lower() not in TOKEN_PARAMS]
    return "&".join(kept)


# ---- request bodies ---------------------------------------------------------------------


class ClientGone(Exception):
    """The client closed its connection before its request body was complete."""


class BodyPipe:
    """Request body chunks on their way from the client to the app, at most `limit` bytes held.

    `put` waits while the pipe is full, so tornado stops reading the client's
    socket (backpressure); once the reader is gone (`discard`), chunks are dropped.
    """

    def __init__(self, limit: int = PIPE_BYTES):
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._limit = limit
        self._eof = False
        self._failed = False
        self._discarding = False
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    async def put(self, chunk: bytes) -> None:
        if self._discarding or self._failed:
            return
        self._chunks.append(chunk)
        self._size += len(chunk)
        self._readable.set()
        if self._size >= self._limit:
            self._writable.clear()
            await self._writable.wait()

    def end(self) -> None:
        self._eof = True
        self._readable.set()

    def fail(self) -> None:
        self._failed = True
        self._readable.set()
        self._writable.set()

    def discard(self) -> None:
        """The reader stopped: drop what is held and whatever comes."""
        self._discarding = True
        self._chunks.clear()
        self._size = 0
        self._writable.set()

    async def get(self) -> bytes | None:
        """The next chunk, None at the end; raises ClientGone if the client went away."""
        while not self._chunks:
            if self._failed:
                raise ClientGone()
            if self._eof:
                return None
            self._readable.clear()
            await self._readable.wait()
        chunk = self._chunks.popleft()
        self._size -= len(chunk)
        if self._size < self._limit:
            self._writable.set()
        return chunk

    async def read_all(self, limit: int) -> bytes:
        parts, size = [], 0
        while (chunk := await self.get()) is not None:
            size += len(chunk)
            if size > limit:
                self.discard()
                raise web.HTTPError(413, f"Request body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)


# ---- the handlers -------------------------------------------------------------------------


class StreamingProxyMixin:
    """Streams what a jupyter-server-proxy `ProxyHandler` proxies (see the module docstring).

    Put first in the bases of a `ProxyHandler` subclass and decorate with
    `web.stream_request_body` (`streaming_variant` does both).
    """

    _body_kind: str | None = None  # None | "small" | "pipe" | "splice"
    _splice_left = 0  # bytes of a spliced request body not yet read from the client
    _body_stopped = False
    _small_body: list[bytes] | None = None
    _pipe: BodyPipe | None = None
    _body_task: asyncio.Future | None = None
    _upstream: iostream.IOStream | None = None
    _client_gone = False
    _answer_started = False
    _relaying = False
    _splicing: SocketRelay | None = None
    _splicing_body: SocketRelay | None = None
    _last_activity = 0.0

    # -- request side ------------------------------------------------------------------

    async def prepare(self, *args, **kwargs):
        await super().prepare(*args, **kwargs)  # jupyter-server-proxy: authentication
        if self._finished or self.request.headers.get("Upgrade", "").lower() == "websocket":
            return
        kind = _body_kind(self.request)
        self._body_kind = kind
        if kind == "small":
            self._small_body = []
        elif kind == "pipe" and self._can_splice_body():
            self._body_kind = "splice"
            self._prepare_spliced_body()
        elif kind == "pipe":
            # jupyter-server-proxy deletes hop-by-hop headers (Transfer-Encoding)
            # from the request while tornado has yet to read the body by them
            self.request.headers = self.request.headers.copy()
            _read_big_pieces(self.request.connection)
            self._pipe = BodyPipe()
            self._start_chain()
            self._body_task.add_done_callback(self._chain_done)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # jupyter-server-proxy's WebSocketHandlerMixin sets `finish` on the instance (tornado's
        # WebSocketHandler disallows it), so a method here would never run: wrap that one.
        plain_finish = self.finish

        def finish(chunk=None):
            self._say_if_the_connection_ends()
            return plain_finish(chunk)

        self.finish = finish

    def _say_if_the_connection_ends(self) -> None:
        """A request answered before its body was read (refused in `prepare`: no token, a wrong
        one) makes tornado close the connection after the answer without saying so; the hub's
        proxy would send the next request into that socket and its user would get a 503."""
        body_future = getattr(self.request, "_body_future", None)
        if not self._headers_written and (body_future is None or not body_future.done()):
            self.set_header("Connection", "close")

    def _start_chain(self) -> None:
        """Run jupyter-server-proxy's chain (launcher start-up, allow-list, path mapping)
        now, while the body arrives; it ends in `_proxy_buffered`, which sends it."""
        method = getattr(super(), self.request.method.lower())
        self._body_task = asyncio.ensure_future(_call(method, *self.path_args, **self.path_kwargs))

    def _can_splice_body(self) -> bool:
        """A big body of known length, plain sockets, and nobody needing it whole (`rewrite_response`)."""
        connection = self.request.connection
        return (
            SPLICE
            and SocketRelay.available()
            and not self.rewrite_response
            and "Content-Length" in self.request.headers
            and "Transfer-Encoding" not in self.request.headers
            and int(self.request.headers["Content-Length"]) >= SPLICE_BODY
            and type(getattr(connection, "stream", None)) is iostream.IOStream
            and hasattr(connection.stream, "_read_buffer_size")
            and hasattr(connection.stream, "_state")
            and hasattr(connection, "_disconnect_on_finish")
        )

    def _prepare_spliced_body(self) -> None:
        """The body goes from the client's socket to the app's on a relay thread (`_splice_request_body`).

        tornado reads a body after `prepare` by the Content-Length of the headers
        object it parsed; that one is told 0, so tornado reads none and this
        handler (and jupyter-server-proxy) keep the real headers.
        """
        parsed = self.request.headers
        self.request.headers = parsed.copy()
        self._splice_left = int(parsed["Content-Length"])
        parsed["Content-Length"] = "0"
        self._start_chain()
        self._body_task.add_done_callback(self._chain_done)

    def _chain_done(self, task: asyncio.Future) -> None:
        if self._pipe is not None:
            self._pipe.discard()  # nobody reads the body any more
        if not task.cancelled():
            task.exception()  # seen here if the client left and nobody awaits it; post() still gets it

    def data_received(self, chunk: bytes):
        if self._pipe is not None:
            return self._pipe.put(chunk)
        if self._small_body is not None:
            self._small_body.append(chunk)
        return None

    async def _run_method(self, name: str, *args, **kwargs):
        if self._body_task is not None:
            if self._pipe is not None:
                self._pipe.end()
            return await self._body_task
        return await _call(getattr(super(), name), *args, **kwargs)

    async def get(self, *args, **kwargs):
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._open_websocket(*args, **kwargs)
        return await self._run_method("get", *args, **kwargs)

    async def head(self, *args, **kwargs):
        return await self._run_method("head", *args, **kwargs)

    async def post(self, *args, **kwargs):
        return await self._run_method("post", *args, **kwargs)

    async def put(self, *args, **kwargs):
        return await self._run_method("put", *args, **kwargs)

    async def patch(self, *args, **kwargs):
        return await self._run_method("patch", *args, **kwargs)

    async def delete(self, *args, **kwargs):
        return await self._run_method("delete", *args, **kwargs)

    async def options(self, *args, **kwargs):
        return await self._run_method("options", *args, **kwargs)

    def on_connection_close(self):
        if self._pipe is not None:
            self._pipe.fail()
        self._client_went_away()  # the app sees its client go away
        # what RequestHandler.on_connection_close does for streamed bodies
        # (tornado's WebSocketHandler, a base of ProxyHandler, skips it)
        body_future = getattr(self.request, "_body_future", None)
        if body_future is not None and not body_future.done():
            body_future.set_exception(iostream.StreamClosedError())
            body_future.exception()
        super().on_connection_close()

    # -- websockets ---------------------------------------------------------------------

    async def _open_websocket(self, *args, **kwargs):
        """tornado's checks of an upgrade request, then jupyter-server-proxy's `open` (launcher,
        port, path mapping), which ends in `proxy_open`."""
        connection = {t.strip().lower() for t in self.request.headers.get("Connection", "").split(",")}
        origin = self.request.headers.get("Origin") or self.request.headers.get("Sec-Websocket-Origin")
        if "upgrade" not in connection:
            self.set_status(400)
            return self.finish('"Connection" must be "Upgrade".')
        if origin is not None and not self.check_origin(origin):
            self.set_status(403)
            return self.finish("Cross origin websockets not allowed")
        if self.request.headers.get("Sec-WebSocket-Version") != "13":
            self.set_status(426)
            self.set_header("Sec-WebSocket-Version", "13")
            return self.finish()
        self._relaying = True
        self._record_activity()
        await _call(self.open, *args, **kwargs)

    async def proxy_open(self, host, port, proxied_path=""):
        if not self._relaying:
            return await super().proxy_open(host, port, proxied_path)
        if not self._check_host_allowlist(host):
            raise web.HTTPError(403, f"Host '{host}' is not allowed.")
        if not proxied_path.startswith("/"):
            proxied_path = "/" + proxied_path
        target, headers = self._upgrade_request(host, port, proxied_path)
        options = self.proxy_request_options()
        try:
            stream, _ = await pool().connect(
                host, port, self.unix_socket, timeout=options["connect_timeout"], reuse=False
            )
        except (OSError, iostream.StreamClosedError, TimeoutError) as e:
            raise web.HTTPError(502, f"Could not connect to the app at port {port}: {e}") from None
        self._upstream = stream
        try:
            exchange = AppExchange(stream)
            exchange.send_head("GET", target, headers, b"", streamed=False)
            start, app_headers = await exchange.read_head(options["request_timeout"], upgrade=True)
            if start.code != 101:  # the app said no (or is not a websocket app): its answer, as HTTP
                self._start_answer(start, app_headers, host, port, proxied_path)
                await self._relay_body(exchange)
                stream.close()
                if not self._finished and not self._client_gone:
                    self.finish()
                return
        except (iostream.StreamClosedError, OSError, TimeoutError, AppProtocolError) as e:
            stream.close()
            if self._client_gone:
                return
            raise web.HTTPError(502, f"Bad websocket answer from the app at port {port}: {e}") from None
        finally:
            self._upstream = None
        await self._relay_websocket(stream, start, app_headers, target)

    def _upgrade_request(self, host, port, proxied_path: str):
        """(path, headers) of the upgrade request to the app: jupyter-server-proxy's own, without
        the hop-by-hop headers, asking for a websocket."""
        uri = self.get_client_uri("ws", host, port, proxied_path)
        rest = uri.split("://", 1)[1]
        target = rest[rest.index("/") :] if "/" in rest else "/"
        headers = self.proxy_request_headers()
        for name in {n for n, _ in headers.get_all()}:
            if name.lower() in HOP_BY_HOP:
                del headers[name]
        headers["Connection"] = "Upgrade"
        headers["Upgrade"] = "websocket"
        return target, headers

    async def _relay_websocket(self, app_stream, start, app_headers, target) -> None:
        """Hand the app's `101` to the client and join the streams until either side closes."""
        hub_cookies = self._credential_cookie_names()
        lines = [f"HTTP/1.1 101 {start.reason or 'Switching Protocols'}"]
        for name, value in app_headers.get_all():
            if name.lower() == "set-cookie" and is_hub_cookie(value.split("=", 1)[0].strip(), hub_cookies):
                continue
            lines.append(f"{name}: {value}")
        client = self.detach()
        client.set_nodelay(True)
        self.set_status(101)
        relay = Relay(self, client, app_stream, self._record_activity)
        # tornado asks this of every websocket it accepts; whatever keeps track of open
        # websockets by it (revoke.track_websockets) sees relayed ones too. Nothing else is done
        # with the answer: the relay is the connection.
        self.get_websocket_protocol()
        self.ws_connection = relay
        self.log.info("Websocket relay open: %s", target)
        try:
            client.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin1"))
            await relay.run()
        except iostream.StreamClosedError:
            relay.abort()
        finally:
            self.on_connection_close()

    # -- credentials ---------------------------------------------------------------------

    def _credential_cookie_names(self) -> frozenset[str]:
        """This server's own login cookie names, besides JupyterHub's `jupyterhub-*`."""
        names = set()
        hub_auth = getattr(self.identity_provider, "hub_auth", None)
        if hub_auth is not None and getattr(hub_auth, "oauth_client_id", ""):
            names.add(hub_auth.cookie_name)  # also prefixes its `-oauth-state` cookies
        get_name = getattr(self.identity_provider, "get_cookie_name", None)
        if get_name is not None:
            names.add(get_name(self))
        return frozenset(n for n in names if n)

    def proxy_request_headers(self):
        headers = super().proxy_request_headers()
        strip_credentials(headers, self._credential_cookie_names())
        return headers

    def get_client_uri(self, protocol, host, port, proxied_path):
        uri = super().get_client_uri(protocol, host, port, proxied_path)
        if self.request.query:
            base, _, query = uri.partition("?")
            query = strip_query_credentials(query)
            uri = base + ("?" + query if query else "")
        return uri

    def compute_etag(self):
        return None  # the app's headers only; no Etag of our own, no 304 made up here

    # -- the exchange ----------------------------------------------------------------------

    async def _proxy_buffered(self, host, port, proxied_path, body, client):
        if self.rewrite_response:
            body = await self._whole_body()
            return await super()._proxy_buffered(host, port, proxied_path, body, client)
        return await self._stream(host, port, proxied_path)

    async def _proxy_progressive(self, host, port, proxied_path, body, client):
        return await self._stream(host, port, proxied_path)

    async def _whole_body(self) -> bytes | None:
        if self._pipe is not None:
            limit = self.settings["serverapp"].max_body_size
            return await self._pipe.read_all(limit)
        if self._small_body:
            return b"".join(self._small_body)
        return b"" if self.request.method in ("POST", "PUT") else None

    def _upstream_request(self, host, port, proxied_path):
        """Request line target, headers and (small) body for the app."""
        headers = self.proxy_request_headers()
        for name in {n for n, _ in headers.get_all()}:
            if name.lower() in HOP_BY_HOP:
                del headers[name]
        if not self.absolute_url:
            context_path = self._get_context_path(host, port)
            headers["X-Forwarded-Context"] = context_path
            headers["X-ProxyContextPath"] = context_path
            headers["X-Forwarded-Prefix"] = context_path
        uri = self.get_client_uri("http", host, port, proxied_path)
        rest = uri.split("://", 1)[1]
        target = rest[rest.index("/") :] if "/" in rest else "/"
        body = None
        if self._body_kind == "small":
            body = b"".join(self._small_body or ())
        elif self._body_kind is None:
            body = b""
            if self.request.method in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = "0"
        return target, headers, body

    async def _stream(self, host, port, proxied_path):
        target, headers, body = self._upstream_request(host, port, proxied_path)
        options = self.proxy_request_options()
        unix_socket = self.unix_socket
        key = pool().key(host, port, unix_socket)
        streamed = self._pipe is not None or self._body_kind == "splice"
        for attempt in (1, 2):
            try:
                stream, reused = await pool().connect(
                    host, port, unix_socket, timeout=options["connect_timeout"], reuse=not streamed
                )
            except (OSError, iostream.StreamClosedError, TimeoutError) as e:
                self._record_activity()
                raise web.HTTPError(502, f"Could not connect to the app at port {port}: {e}") from None
            exchange = AppExchange(stream)
            self._upstream = stream
            try:
                await self._exchange(exchange, target, headers, body, options, host, port, proxied_path)
            except (iostream.StreamClosedError, OSError, TimeoutError, AppProtocolError) as e:
                stream.close()
                if self._client_gone:
                    return
                if (
                    reused
                    and not self._answer_started
                    and attempt == 1
                    and not streamed
                    and not isinstance(e, TimeoutError)  # the app has it: it may be doing it
                    and self.request.method in IDEMPOTENT  # a POST is never sent twice
                ):
                    continue  # an idle connection the app had closed: once more, on a new one
                if self._answer_started:
                    self.log.warning("Answer from the app at port %s cut off: %s", port, e)
                    self.request.connection.close()
                    return
                if isinstance(e, TimeoutError):
                    raise web.HTTPError(504, f"The app at port {port} did not answer in time") from None
                raise web.HTTPError(502, f"Bad answer from the app at port {port}: {e}") from None
            finally:
                self._upstream = None
            break
        if not self._finished and not self._client_gone:
            self.finish()  # the answer leaves first; the bookkeeping below is nobody's wait
        self._record_activity()
        if exchange.reusable and not self._client_gone:
            pool().release(key, stream)
        else:
            stream.close()

    async def _exchange(self, exchange, target, headers, body, options, host, port, path) -> None:
        """Send the request (streaming its body), hand the answer on as it arrives."""
        spliced = self._body_kind == "splice"
        exchange.send_head(
            self.request.method, target, headers, body, streamed=self._pipe is not None or spliced
        )
        sender = None
        if self._pipe is not None:
            sender = asyncio.ensure_future(self._send_body(exchange))
        elif spliced:
            sender = asyncio.ensure_future(self._splice_request_body(exchange))
        try:
            start, app_headers = await exchange.read_head(options["request_timeout"])
            self._start_answer(start, app_headers, host, port, path)
            length = exchange.length
            if length is not None and length <= SMALL_ANSWER:
                # whole: headers and body leave in one write when finish() runs
                web.RequestHandler.write(self, await exchange.read_small_body())
            else:
                await self._relay_body(exchange)
        except BaseException:
            if spliced and not sender.done():  # part of the body is still in the client's connection
                self.request.connection._disconnect_on_finish = True  # noqa: SLF001
            raise
        finally:
            if sender is not None and not sender.done():
                if self._pipe is not None:
                    self._pipe.discard()  # answered before the body was complete: drop the rest
                    sender.cancel()
                else:
                    self._stop_body_splice()
        if sender is not None:
            await asyncio.gather(sender, return_exceptions=True)
        if spliced and self._splice_left and not self._client_gone:
            await self._drain_request_body()

    async def _send_body(self, exchange: AppExchange) -> None:
        try:
            while (chunk := await self._pipe.get()) is not None:
                await exchange.send(chunk)
            await exchange.end()
        except ClientGone:
            exchange.stream.close()  # the app sees the upload end without its last bytes
        except iostream.StreamClosedError:
            self._pipe.discard()  # the app stopped reading; its answer (if any) still comes

    async def _splice_request_body(self, exchange: AppExchange) -> None:
        """The request body from the client's socket to the app's: what tornado read with the
        headers first, the rest on a relay thread (`sockrelay.SocketRelay`)."""
        client, app = self.request.connection.stream, exchange.stream
        try:
            if client._read_buffer_size:  # noqa: SLF001 - bytes read with the headers
                buf = bytearray(min(CHUNK, self._splice_left))
                view = memoryview(buf)
                while client._read_buffer_size and self._splice_left and not self._body_stopped:  # noqa: SLF001
                    n = min(self._splice_left, len(buf), client._read_buffer_size)  # noqa: SLF001
                    await client.read_into(view[:n])
                    self._splice_left -= n
                    await app.write(bytes(view[:n]))
            # the request's head (and tornado's "100 Continue") leave before the first spliced byte
            await app.write(b"")
            await client.write(b"")
            _stop_listening(client)  # tornado would read the body's bytes as the next request
            if self._body_stopped:
                return
            splice = SocketRelay(
                client.socket.fileno(), app.socket.fileno(), self._splice_left, self._record_activity
            )
            self._splicing_body = splice
            try:
                await splice.run()
            finally:
                self._splice_left -= splice.taken
                self._splicing_body = None
        except SourceClosed:
            self._client_went_away()  # the app sees the upload end without its last bytes
            app.close()
            return
        except (iostream.StreamClosedError, OSError):
            return  # the app stopped reading; its answer (if any) still comes
        exchange.request_done = not self._splice_left

    def _stop_body_splice(self) -> None:
        """The app answered before the whole body went: stop sending it (the rest is drained)."""
        self._body_stopped = True
        if self._splicing_body is not None:
            self._splicing_body.stop()

    async def _drain_request_body(self) -> None:
        """Read and drop what is left of a body the app did not wait for, so that the client can
        read the answer and go on using its connection; past DRAIN_LIMIT bytes or DRAIN_SECONDS
        the connection ends with the answer instead."""
        connection = self.request.connection
        if self._splice_left > DRAIN_LIMIT:
            connection._disconnect_on_finish = True  # noqa: SLF001
            return
        buf = bytearray(min(CHUNK, self._splice_left))
        view = memoryview(buf)

        async def drain():
            while self._splice_left:
                self._splice_left -= await connection.stream.read_into(
                    view[: min(self._splice_left, len(buf))], partial=True
                )

        try:
            await asyncio.wait_for(drain(), DRAIN_SECONDS)
        except (TimeoutError, iostream.StreamClosedError):
            connection._disconnect_on_finish = True  # noqa: SLF001

    async def _relay_body(self, exchange: AppExchange) -> None:
        """Stream the body: each piece goes to the client before the next is read from the app."""
        connection = self.request.connection
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        flushed = web.RequestHandler.flush(self)  # status and headers now (server-sent events wait on them)
        if not flushed.done():
            await flushed
        if exchange.length and can_splice(connection, exchange.stream):
            return await self._splice_body(exchange, buf)
        if exchange.chunked and self._can_relay_chunked(exchange):
            return await self._relay_chunked(exchange)
        async for n in exchange.read_into(buf):
            self._activity()
            try:
                await connection.write(view[:n])
            except iostream.StreamClosedError:
                self._client_went_away()
                return
            if self._client_gone:
                return

    async def _splice_body(self, exchange: AppExchange, buf: bytearray) -> None:
        """A body of known length, moved from the app's socket to the client's on a relay thread.

        What the app's stream had already read is sent first the ordinary way;
        both streams are left empty and reusable after.
        """
        app, connection = exchange.stream, self.request.connection
        left = exchange.length
        view = memoryview(buf)
        while app._read_buffer_size and left:  # noqa: SLF001 - bytes read with the head
            n = await app.read_into(view[: min(left, len(buf), app._read_buffer_size)])  # noqa: SLF001
            await connection.write(view[:n])
            left -= n

        def sent(n: int) -> None:  # tornado checks the Content-Length it was given at finish()
            connection._expected_content_remaining -= n  # noqa: SLF001

        try:
            left = await self._splice(app, connection.stream, left, sent)
        except (BrokenPipeError, ConnectionResetError):
            self._client_went_away()
            return
        exchange.answer_done = not left

    def _can_relay_chunked(self, exchange: AppExchange) -> bool:
        """The client gets the app's chunks as they are: no transform (gzip) in between, chunked
        output to an HTTP/1.1 client, and not an event stream (a thread each for its lifetime)."""
        connection = self.request.connection
        return (
            can_splice(connection, exchange.stream, known_length=False)
            and not self._transforms
            and getattr(connection, "_chunking_output", None) is True
            and not self._headers.get("Content-Type", "").lower().startswith("text/event-stream")
        )

    async def _relay_chunked(self, exchange: AppExchange) -> None:
        """A chunked answer from the app's socket to the client's on a relay thread (`ChunkedRelay`):
        the app's chunks go on as they are, its trailers do not, the relay ends the body. A body
        that came whole with the head goes at once, without a thread."""
        app, connection = exchange.stream, self.request.connection
        first = await app.read_bytes(app._read_buffer_size) if app._read_buffer_size else b""  # noqa: SLF001
        try:
            whole = whole_chunked_body(first)
        except BadChunking as e:
            raise AppProtocolError(str(e)) from None
        if whole is not None:
            body, extra = whole
            await self._end_chunked(connection, body)
            exchange.answer_done = not extra  # bytes past the body's end: that connection is not reused
            return
        _stop_listening(app)
        try:
            extra, _ = await self._run_relay(
                ChunkedRelay(
                    app.socket.fileno(), connection.stream.socket.fileno(), first, self._record_activity
                )
            )
        except iostream.StreamClosedError:
            raise  # the app's side (an OSError too)
        except OSError:
            self._client_went_away()
            connection.close()  # part of a chunk went: nothing more may follow on it
            return
        if self._client_gone:
            connection.close()
            return
        await self._end_chunked(connection)
        exchange.answer_done = not extra  # bytes past the body's end: that connection is not reused

    async def _end_chunked(self, connection, body: bytes = b"") -> None:
        """The body's chunks (ending in the last one) go as they are, written here or by the relay:
        tornado must neither cut them again nor add a last chunk at finish()."""
        connection._chunking_output = False  # noqa: SLF001
        if body:
            try:
                await connection.write(body)
            except iostream.StreamClosedError:
                self._client_went_away()

    async def _splice(self, src: iostream.IOStream, dst: iostream.IOStream, left: int, sent=None) -> int:
        """Move `left` bytes from `src`'s socket to `dst`'s; returns how many did not.

        On a thread of its own (`sockrelay.SocketRelay`): no piece waits for the
        event loop, which goes on serving other requests meanwhile. Stops early
        if the client went away; raises StreamClosedError if `src` ends first,
        OSError if `dst` fails.
        """
        _stop_listening(src)
        not_moved, written = await self._run_relay(
            SocketRelay(src.socket.fileno(), dst.socket.fileno(), left, self._record_activity)
        )
        if sent is not None:
            sent(written)
        return not_moved

    async def _run_relay(self, relay: SocketRelay):
        """`relay.run()` where `_client_went_away` can stop it. The app's side failing comes out as
        StreamClosedError (AppProtocolError for bad chunking), the client's as another OSError."""
        self._splicing = relay
        try:
            return await relay.run()
        except SourceClosed:
            raise iostream.StreamClosedError() from None
        except BadChunking as e:
            raise AppProtocolError(str(e)) from None
        finally:
            self._splicing = None

    def _start_answer(self, start_line, headers, host, port, path) -> None:
        """Status and headers of the app's answer, filtered, for the client."""
        self._answer_started = True
        self._headers = httputil.HTTPHeaders()  # tornado's and jupyter's defaults are not the app's
        self.set_status(start_line.code, start_line.reason)
        connection_tokens = {t.strip().lower() for v in headers.get_list("Connection") for t in v.split(",")}
        if "Transfer-Encoding" in headers:  # RFC 9112 6.3: it wins, and a proxy drops the length
            connection_tokens.add("content-length")
        hub_cookies = None
        for name, value in headers.get_all():
            lower = name.lower()
            if lower in HOP_BY_HOP or lower in connection_tokens:
                continue
            if lower == "set-cookie":
                hub_cookies = self._credential_cookie_names() if hub_cookies is None else hub_cookies
                cookie = value.split("=", 1)[0].strip()
                if is_hub_cookie(cookie, hub_cookies):
                    self.log.warning("Dropped Set-Cookie %s from the app at port %s", cookie, port)
                    continue
            if lower == "location" and not self.absolute_url and start_line.code in (301, 302, 303, 307, 308):
                value = self._rewrite_location_header(value, host, port, path)
            self.add_header(name, value)

    def _activity(self) -> None:
        now = time.monotonic()
        if now - self._last_activity > ACTIVITY_EVERY:
            self._last_activity = now
            self._record_activity()

    def _client_went_away(self) -> None:
        self._client_gone = True
        if self._upstream is not None:
            self._upstream.close()
        for splice in (self._splicing, self._splicing_body):
            if splice is not None:
                splice.stop()  # a body moving on a relay thread stops now


def can_splice(connection, app_stream, known_length: bool = True) -> bool:
    """Plain sockets on both sides, `poll()`, and the tornado internals the relay path adjusts."""
    return (
        SPLICE
        and SocketRelay.available()
        and type(connection.stream) is iostream.IOStream
        and type(app_stream) is iostream.IOStream
        and hasattr(connection, "_expected_content_remaining")
        and (not known_length or connection._expected_content_remaining is not None)  # noqa: SLF001
        and hasattr(app_stream, "_read_buffer_size")
        and hasattr(app_stream, "_state")
    )


def _stop_listening(stream: iostream.IOStream) -> None:
    """Take `stream`'s socket out of tornado's event loop until tornado next reads or writes it.

    tornado listens on an idle stream's socket to notice it closing, and reads
    whatever arrives into its own buffer: bytes a splice is waiting for.
    """
    if stream._state is not None:  # noqa: SLF001 - tornado re-registers when it next needs the socket
        stream.io_loop.remove_handler(stream.socket)
        stream._state = None  # noqa: SLF001


async def _call(method, *args, **kwargs):
    result = method(*args, **kwargs)
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        result = await result
    return result


def _read_big_pieces(connection) -> None:
    """Let the client's connection carry an unlimited body, read in big pieces.

    jupyter-server caps bodies at 512 MB and tornado reads them 64 KiB at a
    time; each piece costs a trip through Python, which at gigabytes is most
    of the proxy's work. The parameters object is shared by every connection
    of the server, so this connection gets its own copy.
    """
    connection.set_max_body_size(UNLIMITED)
    params = copy.copy(connection.params)
    params.chunk_size = max(params.chunk_size, CHUNK)
    connection.params = params
    connection.stream.read_chunk_size = max(connection.stream.read_chunk_size, READ_CHUNK)


def _body_kind(request) -> str | None:
    """None: no body; "small": a known length up to SMALL_BODY; "pipe": stream it."""
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        return "pipe"
    length = request.headers.get("Content-Length")
    if length is None:
        return None
    try:
        n = int(length)
    except ValueError:
        raise web.HTTPError(400, "Bad Content-Length") from None
    if n <= 0:
        return None
    return "small" if n <= SMALL_BODY else "pipe"


# ---- installing -----------------------------------------------------------------------------


@web.stream_request_body
class StreamingLocalProxyHandler(StreamingProxyMixin, LocalProxyHandler):
    """`/proxy/<port>/...` and `/proxy/absolute/<port>/...`, streaming."""


@web.stream_request_body
class StreamingRemoteProxyHandler(StreamingProxyMixin, RemoteProxyHandler):
    """`/proxy/<host>:<port>/...` (hosts on the allow-list only), streaming."""


_variants: dict[type, type] = {
    LocalProxyHandler: StreamingLocalProxyHandler,
    RemoteProxyHandler: StreamingRemoteProxyHandler,
}


def streaming_variant(cls: type) -> type:
    """The streaming subclass of a jupyter-server-proxy handler class (made once per class)."""
    if cls not in _variants:
        _variants[cls] = web.stream_request_body(
            type(cls.__name__, (StreamingProxyMixin, cls), {"__module__": __name__, "__doc__": cls.__doc__})
        )
    return _variants[cls]


def _is_proxied_http(cls) -> bool:
    if not isinstance(cls, type) or not issubclass(cls, ProxyHandler) or issubclass(cls, StreamingProxyMixin):
        return False
    try:  # raw TCP-over-websocket launchers have no HTTP side
        from jupyter_server_proxy.rawsocket import RawSocketHandler
    except ImportError:  # pragma: no cover - older jupyter-server-proxy
        return True
    return not issubclass(cls, RawSocketHandler)


def _rules(router):
    for rule in getattr(router, "rules", ()):
        if hasattr(rule.target, "rules"):
            yield from _rules(rule.target)
        else:
            yield rule


def install(web_app) -> int:
    """Swap jupyter-server-proxy's handler classes in `web_app`'s routes; returns how many."""
    swapped = 0
    for router in (web_app.default_router, web_app.wildcard_router):
        for rule in _rules(router):
            if _is_proxied_http(rule.target):
                rule.target = streaming_variant(rule.target)
                swapped += 1
    return swapped
