"""A bubblewrap sandbox for an embedded session: it sees its own drive and little else.

The embedded backend runs every session as the hub's own OS user, so without
a sandbox a terminal in any session reads every drive, the hub's database and
its cookie secret. Where bubblewrap (`bwrap`) works (Linux; as root, or with
unprivileged user namespaces), each session runs in its own mount and PID
namespace, with all capabilities dropped:

- read-only: the system (`/usr`, `/etc` without `shadow`/`gshadow`/`ssh`,
  `/sys`) and what the session's Python needs (its prefixes, `sys.path`,
  `PATH`);
- hidden: the data directory (hub database, cookie secret, `ports.json`,
  services' state, every other drive), `/root`, `/home`, `/run`, `/var`, and
  the host's `/tmp` (a private, empty `/tmp` instead);
- read-write: the session's own drive (at the same path as outside, so
  paths in the environment stay true), and per-session directories the
  spawner names (runtime files, scratch).

The network namespace is shared on purpose: the hub's proxy must reach the
server's port and the server must reach apps the session starts on
127.0.0.1 (the port proxy); other sessions' ports still answer only to
their own hub auth. The session's process tree is its own PID namespace, so
`serverext.ports` (process-tree scope) lists exactly the session's ports;
the server is that namespace's pid 1, so when it exits every process left
in the session goes with it (orphans a session leaves behind are reparented
to the server and, as it does not reap them, stay zombies until it ends).

`sandbox_command()` is the whole policy in one function; the spawner only
prepends what it returns to its command.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

# system paths every session may read (bound read-only when they exist; symlinks are kept as symlinks)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/sys")
# secrets of the machine under /etc (masked even though /etc is readable)
MASKED_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")
MASKED_DIRS = ("/etc/ssh",)


@functools.cache
def find_bwrap() -> str | None:
    """The bwrap binary if it can actually build a sandbox here (checked once), else None."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    probe = [path, *_base_args(), "--ro-bind", "/", "/", "--", "/bin/true"]
    try:
        result = subprocess.run(probe, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("bwrap at %s cannot be run: %s", path, e)
        return None
    if result.returncode != 0:
        log.warning(
            "bwrap at %s cannot build a sandbox here: %s", path, result.stderr.decode(errors="replace")[:300]
        )
        return None
    return path


def _base_args() -> list[str]:
    # --as-pid-1: the server is the namespace's init, so when it exits the kernel ends every
    # process left in the session (with bwrap's own init, orphans kept the namespace alive)
    args = ["--unshare-pid", "--as-pid-1", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]  # root keeps no capability (no mounts, no device nodes, no ptrace)
    else:
        args += ["--unshare-user"]
    return args


def _bind(flag: str, path: Path) -> list[str]:
    """Bind `path` at the same place; a symlink (e.g. /bin -> usr/bin) is recreated as a symlink."""
    if path.is_symlink():
        return ["--symlink", os.readlink(path), str(path)]
    return [flag, str(path), str(path)]


def python_paths() -> list[Path]:
    """What the session's interpreter and its packages need to be readable."""
    paths = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    paths.update(Path(p) for p in sys.path if p)
    paths.update(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p)
    return sorted(p for p in paths if p.is_absolute() and p.exists())


def _outside(path: Path, parents: Iterable[Path]) -> bool:
    return not any(path == p or path.is_relative_to(p) for p in parents)


def sandbox_command(
    bwrap: str,
    *,
    drive: Path,
    hidden: Iterable[Path],
    writable: Iterable[Path] = (),
    readable: Iterable[Path] = (),
) -> list[str]:
    """The `bwrap ... --` prefix that runs a command in a session's sandbox.

    `drive` is the session's drive (read-write, the working directory);
    `hidden` are trees the session must not see even if they lie inside a
    readable path (the data directory); `writable` are more read-write
    directories (runtime, scratch); `readable` are more read-only ones.
    """
    drive = Path(drive).resolve()
    hidden = [Path(h).resolve() for h in hidden]
    args = [bwrap, *_base_args(), "--dev", "/dev", "--proc", "/proc", *_system_binds()]
    args += _readable_binds(readable, hidden)
    for path in hidden:  # after the read-only binds: a data dir inside the repo stays hidden
        args += ["--tmpfs", str(path)]
    for path in [drive, *(Path(p).resolve() for p in writable)]:
        args += ["--bind", str(path), str(path)]
    args += ["--chdir", str(drive), "--"]
    return args


def _system_binds() -> list[str]:
    """The system read-only, its secrets masked, a private /tmp."""
    args: list[str] = []
    for p in SYSTEM_PATHS:
        path = Path(p)
        if path.exists() or path.is_symlink():
            args += _bind("--ro-bind", path)
    for f in MASKED_FILES:
        if os.path.isfile(f):
            args += ["--ro-bind", "/dev/null", f]
    for d in MASKED_DIRS:
        if os.path.isdir(d):
            args += ["--tmpfs", d]
    resolv = Path("/etc/resolv.conf")
    if resolv.is_symlink() and resolv.resolve().is_file():  # e.g. into /run, which is not bound
        args += ["--ro-bind", str(resolv.resolve()), str(resolv.resolve())]
    args += ["--tmpfs", "/tmp"]
    return args


def _readable_binds(readable: Iterable[Path], hidden: list[Path]) -> list[str]:
    """Python and the `readable` trees, read-only, where the system binds do not cover them."""
    args: list[str] = []
    bound = [Path(p) for p in SYSTEM_PATHS if Path(p).exists() and not Path(p).is_symlink()]
    for path in sorted({*python_paths(), *(Path(p) for p in readable)}):
        real = path.resolve()
        if not (_outside(path, bound) and _outside(real, bound) and _outside(real, hidden)):
            continue  # already readable (e.g. /bin -> usr/bin, a venv inside the repo), or hidden
        args += ["--ro-bind", str(real), str(real)]
        if path != real and _outside(path, bound):
            args += ["--symlink", str(real), str(path)]
        bound.append(real)
    return args


def inner_pid(outer_pid: int) -> int | None:
    """Host pid of the command bwrap started (its only child, the sandbox's pid 1), if it runs yet."""
    import psutil

    try:
        children = psutil.Process(outer_pid).children()
    except psutil.Error:
        return None
    return children[0].pid if children else None
