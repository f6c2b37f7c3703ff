"""SFTP to a session's drive on the embedded backend.

The drive is a directory on this machine, so it is served directly, chrooted
to the drive. Every path is resolved (symlinks included) before use and must
stay inside the drive, so a link planted in the drive cannot reach the rest
of the machine.

On Kubernetes the drive is a PVC mounted only inside the session's pod; this
module is not used there (see docs/ssh.md).
"""

from __future__ import annotations

import os

import asyncssh
from asyncssh import SFTPNoSuchFile, SFTPPermissionDenied


class DriveSFTPServer(asyncssh.SFTPServer):
    """SFTPServer rooted at one drive directory; paths escaping it are refused."""

    def __init__(self, chan, root: str):
        super().__init__(chan, chroot=root.encode())
        self._root = os.path.realpath(root).encode()

    def map_path(self, path: bytes) -> bytes:
        local = super().map_path(path)
        real = os.path.realpath(local)
        if real != self._root and not real.startswith(self._root + b"/"):
            raise SFTPPermissionDenied("path leaves the drive")
        return local


class RefusingSFTPServer(asyncssh.SFTPServer):
    """Answers every request with a clear error (no drive to serve)."""

    def __init__(self, chan, reason: str):
        super().__init__(chan)
        self._reason = reason

    def map_path(self, path: bytes) -> bytes:
        raise SFTPNoSuchFile(self._reason)
