"""A web app for the port-proxy tests and benchmarks: run as `python bulk_app.py PORT`.

Everything it serves is made on the fly from one pseudo-random pattern
(`pattern`), so gigabytes go through without a file on disk, and both ends
can check them byte for byte (`digest`). Its pattern length is prime, so a
chunk lost, doubled or reordered anywhere changes the digest.

- `GET|HEAD /bytes/<n>[?chunked=1][&stall=1]`: n bytes of the pattern (honours `Range:
  bytes=a-b`); with `stall`, it stops after the first piece until `POST /release`;
- `PUT|POST /upload[?hash=0]`: reads the body as it comes, answers `{"bytes", "sha256"}`;
- `GET /events`: server-sent events; the second one waits for `POST /release`;
- `GET /echo/...` (any method) and the websocket `/ws` (echo; picks the last offered
  subprotocol named `app.*`): what the app was sent
  (path, query, headers, cookies), recorded for `GET /recorded`;
- `GET /set-cookies`: sets an app cookie and cookies with the hub's names;
- `GET /small`: 100 bytes; `GET /stats`: open, finished and aborted downloads,
  open event streams, and the distinct connections requests came in on.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import random
import sys

PATTERN_LEN = 1_048_573  # prime: no chunk size lines up with it
_PATTERN = random.Random(16).randbytes(PATTERN_LEN)
_DOUBLE = _PATTERN + _PATTERN


def pattern(offset: int, n: int) -> bytes:
    """Bytes [offset, offset+n) of the endless pattern (n <= PATTERN_LEN)."""
    start = offset % PATTERN_LEN
    return _DOUBLE[start : start + n]


def pattern_chunks(n: int, start: int = 0, chunk: int = 1 << 20):
    end = start + n
    pos = start
    while pos < end:
        piece = pattern(pos, min(chunk, end - pos, PATTERN_LEN))
        yield piece
        pos += len(piece)


@functools.lru_cache(maxsize=16)
def digest(n: int, start: int = 0) -> str:
    h = hashlib.sha256()
    for piece in pattern_chunks(n, start):
        h.update(piece)
    return h.hexdigest()


class PatternBody:
    """An upload body for `requests`: n pattern bytes, made as they are sent (has a length)."""

    def __init__(self, n: int, chunk: int = 1 << 20):
        self.n = n
        self.chunk = chunk

    def __len__(self):
        return self.n

    def __iter__(self):
        return pattern_chunks(self.n, chunk=self.chunk)


def main(port: int) -> None:
    from tornado import web, websocket
    from tornado.iostream import StreamClosedError

    stats = {
        "open": 0,
        "finished": 0,
        "aborted": 0,
        "events_open": 0,
        "uploads_aborted": 0,
        "connections": set(),
    }
    recorded: list[dict] = []
    release = asyncio.Event()

    def record(handler, kind: str) -> dict:
        entry = {
            "kind": kind,
            "method": handler.request.method,
            "uri": handler.request.uri,
            "path": handler.request.path,
            "query": handler.request.query,
            "headers": [[k, v] for k, v in handler.request.headers.get_all()],
            "cookies": sorted(handler.request.cookies),
        }
        recorded.append(entry)
        return entry

    class Base(web.RequestHandler):
        def prepare(self):
            stats["connections"].add(self.request.connection.context.address)

        def compute_etag(self):
            return None

    class Bytes(Base):
        def head(self, n):
            self.answer_head(int(n))

        async def get(self, n):
            start, end = self.answer_head(int(n))
            size = int(self.get_argument("chunk", str(1 << 20)))
            stall = bool(self.get_argument("stall", ""))
            stats["open"] += 1
            try:
                for piece in pattern_chunks(end - start, start, size):
                    self.write(piece)
                    await self.flush()
                    if stall:  # after the first piece, wait for POST /release
                        stall = False
                        await release.wait()
                        release.clear()
            except StreamClosedError:
                self.count_abort()  # the client went away while we wrote
                raise
            finally:
                stats["open"] -= 1
            stats["finished"] += 1

        def answer_head(self, n):
            start, end = 0, n
            rng = self.request.headers.get("Range", "")
            if rng.startswith("bytes="):
                a, _, b = rng[6:].partition("-")
                start, end = int(a), min(n, int(b) + 1 if b else n)
                self.set_status(206)
                self.set_header("Content-Range", f"bytes {start}-{end - 1}/{n}")
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Accept-Ranges", "bytes")
            if not self.get_argument("chunked", ""):
                self.set_header("Content-Length", str(end - start))
            return start, end

        def on_connection_close(self):
            self.count_abort()  # the client went away while we waited

        def count_abort(self):
            if not getattr(self, "abort_counted", False):
                self.abort_counted = True
                stats["aborted"] += 1

    @web.stream_request_body
    class Upload(Base):
        def prepare(self):
            super().prepare()
            if self.get_argument("refuse", ""):  # answers before reading the body
                raise web.HTTPError(413, "no uploads here")
            self.request.connection.set_max_body_size(1 << 62)
            self.hash = hashlib.sha256() if self.get_argument("hash", "1") == "1" else None
            self.count = 0
            self.done = False

        def on_finish(self):
            self.done = True

        def on_connection_close(self):
            if not getattr(self, "done", True):
                self.done = True
                stats["uploads_aborted"] += 1

        def data_received(self, chunk):
            self.count += len(chunk)
            if self.hash is not None:
                self.hash.update(chunk)

        def put(self):
            self.write({"bytes": self.count, "sha256": self.hash.hexdigest() if self.hash else None})

        post = put

    class Events(Base):
        async def get(self):
            self.set_header("Content-Type", "text/event-stream")
            self.set_header("Cache-Control", "no-cache")
            self.write("data: first\n\n")
            await self.flush()
            stats["events_open"] += 1
            self.counted = True
            await release.wait()
            release.clear()
            self.write("data: second\n\n")
            await self.flush()

        def on_finish(self):
            self._uncount()

        def on_connection_close(self):
            self._uncount()

        def _uncount(self):
            if getattr(self, "counted", False):
                self.counted = False
                stats["events_open"] -= 1

    class Release(Base):
        def post(self):
            release.set()

    class Echo(Base):
        def get(self, rest=""):
            self.write(record(self, "http"))

        post = put = delete = patch = get

    class Recorded(Base):
        def get(self):
            self.write({"requests": recorded})

        def delete(self):
            recorded.clear()

    class SetCookies(Base):
        def get(self):
            self.add_header("Set-Cookie", "app-session=kept; Path=/")
            self.add_header("Set-Cookie", "jupyterhub-session-id=planted; Path=/")
            self.add_header("Set-Cookie", "jupyterhub-user-someone=planted; Path=/")
            self.write("cookies set")

    class Small(Base):
        def get(self):
            self.write(b"y" * 100)

    class Stats(Base):
        def get(self):
            self.write({**stats, "connections": len(stats["connections"])})

    class Ws(websocket.WebSocketHandler):
        def select_subprotocol(self, subprotocols):
            # the app picks (the last one it knows), not whoever sits in between
            return ([p for p in subprotocols if p.startswith("app.")] or [None])[-1]

        def open(self):
            record(self, "websocket")

        def on_message(self, message):
            self.write_message(message, binary=isinstance(message, bytes))

    app = web.Application(
        [
            (r".*/bytes/(\d+)", Bytes),
            (r".*/upload", Upload),
            (r".*/events", Events),
            (r".*/release", Release),
            (r".*/echo(/.*)?", Echo),
            (r".*/recorded", Recorded),
            (r".*/set-cookies", SetCookies),
            (r".*/small", Small),
            (r".*/stats", Stats),
            (r".*/ws", Ws),
        ]
    )
    app.settings["websocket_max_message_size"] = 64 << 20
    app.listen(port, address="127.0.0.1", max_body_size=1 << 62, idle_connection_timeout=3600)
    print(json.dumps({"listening": port}), flush=True)


async def _serve(port: int) -> None:
    main(port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1])))
