"""One way to replace a file so that readers never see half of it.

The sessions service's state, personal session types, the ssh host key and a drive's owner file
are all rewritten while other processes (or a crash) may read them: each is written to a fresh
temporary file in the same directory (created with O_EXCL and mode 0600, so a planted symlink is
never followed), synced, and renamed over the old one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` (mode 0600); the directory must exist."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
