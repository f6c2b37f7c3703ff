"""The port proxy streams: any size, flat memory, both ways, and lets go of the app with the client.

A real `jupyter server` with the extension (token auth) proxies `bulk_app.py`,
which makes its data on the fly and checks uploads by digest. The server's
RSS is sampled while gigabytes go through.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import socket
import sys
import threading
import time

import psutil
import pytest
import requests
from tornado.httpclient import HTTPRequest
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from . import bulk_app, hostile_app
from .servertools import free_port, start_http_server, start_jupyter_server, start_process, wait_until

SESSION = {
    "session_type": "notebook",
    "collaborative": False,
    "interface": {"kind": "lab"},
    "server_name": "stream",
    "service": "sessions",
}
GiB = 1 << 30
MiB = 1 << 20
RSS_LIMIT = 64 * MiB


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_jupyter_server(tmp_path_factory.mktemp("stream"), SESSION)
    yield s
    s.stop()


def run_app(module, tmp_path, name: str):
    """`module` (a test app: `python module.py PORT`) on a free port, stopped after the test."""
    port = free_port()
    proc = start_process([sys.executable, module.__file__, str(port)], port, tmp_path, name)
    yield proc
    proc.stop()


@pytest.fixture
def app(tmp_path):
    """A fresh app per test: its counters start at zero."""
    yield from run_app(bulk_app, tmp_path, "bulk-app")


def proxied(server, app, path: str) -> str:
    return f"{server.url}proxy/{app.port}/{path}"


def auth(server) -> dict:
    return {"Authorization": f"token {server.token}"}


def put_head(server, app, path: str, length: int, extra: str = "") -> bytes:
    """The head of a PUT through the proxy, for a test that sends (or does not send) the body itself."""
    return (
        f"PUT /proxy/{app.port}/{path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: token {server.token}\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


def assert_next_request_on(conn: http.client.HTTPConnection, sock, server, app) -> None:
    """A GET after an upload is answered on the same client connection (`sock`)."""
    conn.request("GET", f"/proxy/{app.port}/small", headers=auth(server))
    r = conn.getresponse()
    assert (r.status, r.read()) == (200, b"y" * 100)
    assert conn.sock is sock, "the connection was not kept"


def app_stats(app) -> dict:
    return requests.get(f"http://127.0.0.1:{app.port}/stats", timeout=10).json()


class PeakRSS:
    """Peak growth of a process's resident memory while the block runs."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)

    def __enter__(self):
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return max(self.peak, self.proc.memory_info().rss) - self.base


def download_digest(response, limit: int | None = None) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    for chunk in response.iter_content(MiB):
        h.update(chunk)
        n += len(chunk)
        if limit is not None and n >= limit:
            break
    return n, h.hexdigest()


# ---- any size, flat memory -------------------------------------------------------------------


@pytest.mark.slow
def test_1gb_download_is_byte_exact_with_flat_memory(server, app):
    with PeakRSS(server.proc.pid) as rss:
        with requests.get(
            proxied(server, app, f"bytes/{GiB}"), headers=auth(server), stream=True, timeout=60
        ) as r:
            assert r.status_code == 200
            assert r.headers["Content-Length"] == str(GiB)
            n, digest = download_digest(r)
    assert n == GiB
    assert digest == bulk_app.digest(GiB)
    assert rss.growth < RSS_LIMIT, f"server grew by {rss.growth / MiB:.0f} MiB"


@pytest.mark.slow
def test_1gb_upload_is_byte_exact_with_flat_memory(server, app):
    with PeakRSS(server.proc.pid) as rss:
        r = requests.put(
            proxied(server, app, "upload"), data=bulk_app.PatternBody(GiB), headers=auth(server), timeout=300
        )
    assert r.status_code == 200, r.text
    assert r.json() == {"bytes": GiB, "sha256": bulk_app.digest(GiB)}
    assert rss.growth < RSS_LIMIT, f"server grew by {rss.growth / MiB:.0f} MiB"


def test_big_uploads_and_the_requests_after_them_share_one_connection(server, app):
    """Bodies of a known length move in the kernel; the client's connection is left exactly at the
    next request (no byte of the body read as a request, none of the next request eaten)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    sock = None
    try:
        for size in (8 * MiB + 3, 3 * MiB):
            body = b"".join(bulk_app.pattern_chunks(size))
            conn.request("PUT", f"/proxy/{app.port}/upload", body=body, headers=auth(server))
            assert sock is None or conn.sock is sock, "the upload's connection was not kept"
            sock = conn.sock
            r = conn.getresponse()
            assert r.status == 200
            assert json.loads(r.read()) == {"bytes": size, "sha256": bulk_app.digest(size)}
        assert_next_request_on(conn, sock, server, app)
    finally:
        conn.close()


def test_an_upload_that_waits_for_100_continue_goes_through(server, app):
    """curl and others ask before sending a big body; the answer comes before any byte is spliced."""
    size = 4 * MiB
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(put_head(server, app, "upload", size, "Expect: 100-continue\r\n"))
        interim = s.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 "), interim[:200]
        for piece in bulk_app.pattern_chunks(size):
            s.sendall(piece)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            answer += s.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert json.loads(body) == {"bytes": size, "sha256": bulk_app.digest(size)}


def test_an_upload_the_client_abandons_ends_at_the_app(server, app):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(put_head(server, app, "upload", GiB))
        for piece in bulk_app.pattern_chunks(4 * MiB):
            s.sendall(piece)
        time.sleep(0.3)
    wait_until(lambda: app_stats(app)["uploads_aborted"] == 1, timeout=20, what="app to see the upload end")


def test_an_app_answering_before_the_body_gets_its_answer_to_the_client(server, app):
    """The rest of the body is read and dropped: the client finishes sending, reads the answer and
    keeps its connection (as with a streamed body)."""
    size = 8 * MiB
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        body = b"".join(bulk_app.pattern_chunks(size))
        conn.request("PUT", f"/proxy/{app.port}/upload?refuse=1", body=body, headers=auth(server))
        sock = conn.sock
        r = conn.getresponse()
        assert r.status == 413
        r.read()
        assert_next_request_on(conn, sock, server, app)
    finally:
        conn.close()


def test_an_app_answering_early_to_a_huge_upload_ends_the_connection(server, app):
    """Past what is worth draining the connection ends with the answer; nothing hangs and the
    server goes on serving. (Whether the client reads the answer before the reset of a close with
    unread bytes is up to its timing: HTTP's lingering-close problem.)"""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(put_head(server, app, "upload?refuse=1", GiB))
        answer = b""
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            for piece in bulk_app.pattern_chunks(2 * MiB):
                s.sendall(piece)
            while chunk := s.recv(65536):
                answer += chunk
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    if answer:
        assert b"Connection: close" in answer.split(b"\r\n\r\n", 1)[0]
    r = requests.get(proxied(server, app, "small"), headers=auth(server), timeout=10)
    assert (r.status_code, r.content) == (200, b"y" * 100)


def test_chunked_answers_and_uploads_stream_too(server, app):
    size = 150 * MiB  # above tornado's 100 MB client limit that stock jupyter-server-proxy hits
    with requests.get(
        proxied(server, app, f"bytes/{size}?chunked=1"), headers=auth(server), stream=True, timeout=60
    ) as r:
        assert r.status_code == 200
        assert "Content-Length" not in r.headers
        assert download_digest(r) == (size, bulk_app.digest(size))
    # a body without a length (a generator): sent on chunked, arrives whole
    r = requests.post(
        proxied(server, app, "upload"),
        data=bulk_app.pattern_chunks(size, chunk=3 * MiB + 7),
        headers=auth(server),
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"bytes": size, "sha256": bulk_app.digest(size)}


def read_answer_head(f) -> dict:
    assert f.readline().startswith(b"HTTP/1.1 200")
    headers = {}
    while (line := f.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def test_a_chunked_answer_keeps_the_apps_chunks_and_the_connection(server, app):
    """A chunked answer goes on a relay thread that hands the app's chunks on as they are (the
    event-loop path cuts them again, 256 KiB at most); the relay ends the body, and the client's
    connection carries the next request."""
    get = "GET /proxy/{}/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: token {}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        f = sock.makefile("rb")
        for piece, size in ((700_000, 3 * 700_000), (100, 100)):  # the small one may come whole
            path = f"bytes/{size}?chunked=1&chunk={piece}"
            sock.sendall(get.format(app.port, path, server.port, server.token).encode())
            assert read_answer_head(f)["transfer-encoding"] == "chunked"
            sizes, h = [], hashlib.sha256()
            while n := int(f.readline().split(b";")[0], 16):
                h.update(f.read(n))
                sizes.append(n)
                assert f.read(2) == b"\r\n"
            assert f.readline() == b"\r\n"  # the end of the body, no trailers
            assert (sizes, h.hexdigest()) == ([piece] * (size // piece), bulk_app.digest(size))
        sock.sendall(get.format(app.port, "small", server.port, server.token).encode())
        assert f.read(int(read_answer_head(f)["content-length"])) == b"y" * 100


def test_a_slow_reader_slows_the_app_instead_of_filling_memory(server, app):
    size = 512 * MiB
    with PeakRSS(server.proc.pid) as rss:
        with requests.get(
            proxied(server, app, f"bytes/{size}"), headers=auth(server), stream=True, timeout=60
        ) as r:
            assert r.status_code == 200
            first = r.raw.read(8 * MiB)
            # the client stops reading: a buffering proxy would now take the whole
            # answer from the app (it makes hundreds of MB per second) into memory
            time.sleep(2)
            paused_growth = rss.growth
            assert app_stats(app)["finished"] == 0, "the app could send everything: nothing held it back"
            h = hashlib.sha256(first)
            n = len(first)
            for chunk in r.iter_content(MiB):
                h.update(chunk)
                n += len(chunk)
    assert paused_growth < RSS_LIMIT, f"server grew by {paused_growth / MiB:.0f} MiB while the client paused"
    assert (n, h.hexdigest()) == (size, bulk_app.digest(size))


# ---- a client that goes away ---------------------------------------------------------------


def test_an_aborted_download_closes_the_connection_to_the_app(server, app):
    url = proxied(server, app, f"bytes/{64 * GiB}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(
            f"GET /proxy/{app.port}/bytes/{64 * GiB} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: token {server.token}\r\n\r\n".encode()
        )
        head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 "), head[:200]
        got = len(head)
        while got < 4 * MiB:
            got += len(s.recv(MiB))
        assert app_stats(app)["open"] == 1
    # the app sees its client (the proxy) go away and stops
    wait_until(lambda: app_stats(app)["aborted"] == 1, timeout=20, what=f"app to see {url} aborted")
    assert app_stats(app)["open"] == 0
    assert app_stats(app)["finished"] == 0


def test_a_client_leaving_a_stalled_download_closes_the_connection_to_the_app(server, app):
    url = proxied(server, app, f"bytes/{64 * MiB}?stall=1")
    with requests.get(url, headers=auth(server), stream=True, timeout=30) as r:
        first = bulk_app.PATTERN_LEN  # the first piece; then the app sends nothing
        assert len(r.raw.read(first)) == first
        wait_until(lambda: app_stats(app)["open"] == 1, what="download open")
    wait_until(lambda: app_stats(app)["aborted"] == 1, timeout=20, what="app to see the download closed")


def test_a_client_leaving_a_quiet_stream_closes_the_connection_to_the_app(server, app):
    with requests.get(proxied(server, app, "events"), headers=auth(server), stream=True, timeout=30) as r:
        lines = r.iter_lines()
        assert next(lines) == b"data: first"
        wait_until(lambda: app_stats(app)["events_open"] == 1, what="event stream open")
    # nothing flows (the app waits for a release): the proxy must notice the client left
    wait_until(lambda: app_stats(app)["events_open"] == 0, timeout=20, what="app to see the stream closed")


# ---- what passes through ---------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["text/event-stream", "*/*"])
def test_server_sent_events_arrive_as_they_are_sent(server, app, accept):
    headers = {**auth(server), "Accept": accept}
    with requests.get(proxied(server, app, "events"), headers=headers, stream=True, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "text/event-stream"
        lines = r.iter_lines()
        # the app holds the second event back until released: the first must come alone
        assert next(lines) == b"data: first"
        requests.post(f"http://127.0.0.1:{app.port}/release", timeout=10).raise_for_status()
        assert [line for line in lines if line] == [b"data: second"]


def test_range_requests_pass_through(server, app):
    size = 50 * MiB
    r = requests.get(
        proxied(server, app, f"bytes/{size}"),
        headers={**auth(server), "Range": "bytes=1000000-2999999"},
        timeout=30,
    )
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1000000-2999999/{size}"
    assert r.content == b"".join(bulk_app.pattern_chunks(2_000_000, start=1_000_000))


def test_head_and_small_answers_keep_the_apps_status_and_headers(server, app):
    r = requests.head(proxied(server, app, f"bytes/{GiB}"), headers=auth(server), timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(GiB)
    assert r.headers["Accept-Ranges"] == "bytes"
    r = requests.get(proxied(server, app, "no-such-page"), headers=auth(server), timeout=10)
    assert r.status_code == 404
    r = requests.get(proxied(server, app, "small"), headers=auth(server), timeout=10)
    assert (r.status_code, r.content) == (200, b"y" * 100)
    assert "Etag" not in r.headers  # the app sent none; the proxy makes none up


def test_connections_to_the_app_are_kept_and_reused(server, app):
    s = requests.Session()
    s.headers.update(auth(server))
    for _ in range(20):
        r = s.get(proxied(server, app, "small"), timeout=10)
        assert r.content == b"y" * 100
        r = s.post(proxied(server, app, "echo/form"), data=b"a=1", timeout=10)
        assert r.json()["method"] == "POST"
        r = s.get(proxied(server, app, f"bytes/{3 * MiB}"), timeout=10)  # a big one, passed on in bulk
        assert hashlib.sha256(r.content).hexdigest() == bulk_app.digest(3 * MiB)
    # /stats itself came in directly on one more connection
    assert app_stats(app)["connections"] <= 2


@pytest.mark.serial  # a time bound: the 1 GB transfers of a neighbouring worker would move it
def test_a_burst_of_requests_to_a_small_server_all_answer_quickly(server, tmp_path):
    """`python -m http.server` listens with a backlog of 5 and closes every connection: hundreds
    of connects at once left most to SYN retries seconds apart (load_proxy.py: timeouts). Without
    the proxy's connect limit some of the 300 wait more than 10 s (12.8 s, failures, on a quiet
    machine); with it the burst takes 3-4 s."""
    small = start_http_server(tmp_path)
    try:

        async def burst():
            client = SimpleAsyncHTTPClient(force_instance=True, max_clients=300)
            try:
                return await asyncio.gather(
                    *(
                        client.fetch(
                            HTTPRequest(
                                f"{server.url}proxy/{small.port}/hello.txt?i={i}",
                                headers=auth(server),
                                request_timeout=10,
                            ),
                            raise_error=False,
                        )
                        for i in range(300)
                    ),
                    return_exceptions=True,
                )
            finally:
                client.close()

        answers = asyncio.run(burst())
    finally:
        small.stop()
    bad = [
        a if isinstance(a, Exception) else a.code
        for a in answers
        if isinstance(a, Exception) or a.code != 200
    ]
    assert not bad, f"{len(bad)} of 300 failed: {bad[:3]}"
    assert {a.body for a in answers} == {b"hello from the app\n"}


def test_an_app_that_is_not_listening_is_a_bad_gateway(server):
    port = free_port()
    r = requests.get(f"{server.url}proxy/{port}/", headers=auth(server), timeout=30)
    assert r.status_code == 502
    assert str(port) in r.text


# ---- a web-app session's launcher, and rewriting answers ----------------------------------------

WEBAPP = {
    **SESSION,
    "server_name": "viewer",
    "interface": {
        "kind": "webapp",
        "name": "viewer",
        "title": "Data viewer",
        "command": [sys.executable, bulk_app.__file__, "{port}"],
        "url_path": "/",
        "timeout": 120,  # the launcher waits this long for the app to answer (a busy machine)
    },
}


@pytest.fixture(scope="module")
def webapp_server(tmp_path_factory):
    s = start_jupyter_server(tmp_path_factory.mktemp("webapp"), WEBAPP)
    yield s
    s.stop()


def test_a_web_app_sessions_launcher_streams_too(webapp_server):
    """Web-app session types (CARTA, Firefly, ...) reach their app through the launcher, not /proxy/."""
    size = 150 * MiB
    url = f"{webapp_server.url}viewer/bytes/{size}"
    with requests.get(url, headers=auth(webapp_server), stream=True, timeout=60) as r:
        assert r.status_code == 200
        assert download_digest(r) == (size, bulk_app.digest(size))
    r = requests.put(
        f"{webapp_server.url}viewer/upload",
        data=bulk_app.PatternBody(size),
        headers=auth(webapp_server),
        timeout=120,
    )
    assert r.json() == {"bytes": size, "sha256": bulk_app.digest(size)}


REWRITE = """
def shout(response):
    response.body = response.body.replace(b"yyyy", b"YYYY")

c.ServerProxy.non_service_rewrite_response = shout
"""


def test_rewritten_answers_take_the_buffered_path(tmp_path, app):
    """With rewrite_response configured, the answer must be whole: jupyter-server-proxy's own path."""
    (tmp_path / "s" / "config").mkdir(parents=True)
    (tmp_path / "s" / "config" / "jupyter_server_config.py").write_text(REWRITE)
    server = start_jupyter_server(tmp_path / "s", SESSION)
    try:
        r = requests.get(proxied(server, app, "small"), headers=auth(server), timeout=10)
        assert r.content == b"Y" * 100
        r = requests.put(
            proxied(server, app, "upload"),
            data=bulk_app.PatternBody(3 * MiB),
            headers=auth(server),
            timeout=30,
        )
        assert r.json()["bytes"] == 3 * MiB  # the streamed body, gathered for the buffered path
    finally:
        server.stop()


def test_refused_requests_keep_a_reused_connection_usable(server, app):
    """The hub's proxy reuses connections to the session. A request the server refuses before
    reading its body (no or a wrong token) ends that connection; the answer must say so
    (`Connection: close`), or the proxy sends the next user's request into a closed socket and
    that user gets a 503."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(proxied(server, app, "small"))
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        answers = []
        for headers in ({}, {"Authorization": "token not-a-token"}, auth(server), {}, auth(server)):
            conn.request("GET", url.path, headers=headers)  # one socket while the server keeps it
            r = conn.getresponse()
            r.read()
            answers.append(r.status)
    finally:
        conn.close()
    assert answers[2] == answers[4] == 200 and all(s in (302, 401, 403) for s in answers[:2] + answers[3:4])


# ---- answers that break the rules -------------------------------------------------------------


@pytest.fixture
def hostile(tmp_path):
    yield from run_app(hostile_app, tmp_path, "hostile-app")


def raw_get(server, app, path: str, method: str = "GET") -> bytes:
    return (
        f"{method} /proxy/{app.port}/{path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: token {server.token}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def read_until_closed(sock, wait: float = 5.0) -> tuple[bytes, bool]:
    """All the client gets, and whether the proxy closed the connection (False: still open)."""
    sock.settimeout(wait)
    out = b""
    try:
        while data := sock.recv(65536):
            out += data
    except TimeoutError:
        return out, False
    return out, True


@pytest.mark.parametrize("path", ["rst", "rst-boundary"])
def test_an_app_reset_mid_body_ends_the_clients_connection_without_a_last_chunk(server, hostile, path):
    """The client must see the answer cut off, never a shorter body that looks whole."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(raw_get(server, hostile, path))
        out, closed = read_until_closed(sock)
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert closed
    assert not body.endswith(b"0\r\n\r\n"), body


def test_a_chunk_extension_with_bare_line_feeds_never_reaches_the_client(server, hostile):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(raw_get(server, hostile, "bare-lf"))
        out, closed = read_until_closed(sock)
    assert closed  # the answer is cut off: a bad answer from the app
    assert b"X-Smuggled" not in out and b"\n0\n" not in out


def test_a_chunked_answer_loses_the_apps_content_length(server, hostile):
    r = requests.get(proxied(server, hostile, "te-and-length"), headers=auth(server), timeout=10)
    assert (r.status_code, r.content) == (200, b"ok")
    assert "Content-Length" not in r.headers  # RFC 9112 6.3: a proxy drops it


def test_a_failed_request_on_a_kept_connection_is_sent_again_only_if_idempotent(server, hostile):
    """The app takes a request and drops the connection: a GET is tried once more on a new
    connection, a POST is not (the app may have acted on it)."""
    with requests.Session() as s:
        s.headers.update(auth(server))

        def dropped():
            return int(s.get(proxied(server, hostile, "dropped"), timeout=10).text)

        assert dropped() == 0  # ... and the proxy now keeps a connection to the app
        assert s.post(proxied(server, hostile, "drop"), timeout=10).status_code == 502
        assert dropped() == 1
        assert s.get(proxied(server, hostile, "drop"), timeout=10).status_code == 502
        assert dropped() == 3
