"""A raw HTTP/1.1 app whose answers break the rules on purpose, by path (for the port proxy's tests).

    python hostile_app.py PORT

- `/rst`, `/rst-boundary`: a chunked answer cut by a TCP reset, inside a chunk or after one;
- `/bare-lf`: a chunk extension with bare LFs, which a lax parser after the proxy would read as
  the end of the body and a second answer;
- `/te-and-length`: `Transfer-Encoding: chunked` and a `Content-Length` that disagrees;
- `/drop`: reads the request, counts it, closes without an answer; `/dropped`: that count;
- `/small`: a 2-byte answer, kept alive.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time

CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
dropped = 0


def reset(conn: socket.socket) -> None:
    time.sleep(0.3)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def answer(conn: socket.socket, path: str) -> bool:
    """Answer one request; False once the connection is gone."""
    global dropped
    if path == "/rst":
        conn.sendall(CHUNKED + b"\r\n10\r\n0123456789")
        reset(conn)
        return False
    if path == "/rst-boundary":
        conn.sendall(CHUNKED + b"\r\n5\r\nhello\r\n")
        reset(conn)
        return False
    if path == "/bare-lf":
        conn.sendall(CHUNKED + b"\r\n1;x\nZ\n0\n\nHTTP/1.1 200 OK\nX-Smuggled: 1\r\nA\r\n0\r\n\r\n")
    elif path == "/te-and-length":
        conn.sendall(CHUNKED + b"Content-Length: 1000\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    elif path == "/drop":
        dropped += 1
        conn.close()
        return False
    elif path == "/dropped":
        body = str(dropped).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    else:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    return True


def handle(conn: socket.socket) -> None:
    f = conn.makefile("rb")
    while line := f.readline():
        path = line.split()[1].decode()
        length = 0
        while (header := f.readline()) not in (b"\r\n", b""):
            if header.lower().startswith(b"content-length:"):
                length = int(header.split(b":", 1)[1])
        f.read(length)
        if not answer(conn, path):
            return


def main(port: int) -> None:
    server = socket.create_server(("127.0.0.1", port), backlog=50)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main(int(sys.argv[1]))
