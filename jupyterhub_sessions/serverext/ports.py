"""TCP ports listening inside a session, as candidates for the port proxy.

On Kubernetes a session is a pod with its own network namespace, so every
listening socket belongs to the session ("all"). The embedded backend runs
many sessions on one machine: only sockets held by the session's own process
tree count ("process-tree"), so one user never sees another's ports.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ListeningPort:
    port: int
    address: str
    pid: int | None
    process: str | None


def _reachable_from_localhost(address: str) -> bool:
    """jupyter-server-proxy connects to localhost: loopback or wildcard binds only."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def process_tree(root_pid: int) -> set[int]:
    """`root_pid` and all its descendants that still exist."""
    try:
        root = psutil.Process(root_pid)
    except psutil.NoSuchProcess:
        return set()
    pids = {root_pid}
    try:
        pids.update(p.pid for p in root.children(recursive=True))
    except psutil.Error:
        pass
    return pids


def _process_name(pid: int | None) -> str | None:
    if pid is None:
        return None
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return None


def listening_ports(root_pid: int, scope: str, exclude: set[int]) -> list[ListeningPort]:
    """Listening TCP ports of the session, sorted, without the ports in `exclude`.

    Blocking (reads /proc); call it from a thread.
    """
    pids = process_tree(root_pid) if scope == "process-tree" else None
    found: dict[int, ListeningPort] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.laddr:
            continue
        if conn.family not in (socket.AF_INET, socket.AF_INET6):
            continue
        port = conn.laddr.port
        if port in exclude or port in found:
            continue
        if pids is not None and conn.pid not in pids:
            continue
        if not _reachable_from_localhost(conn.laddr.ip):
            continue
        found[port] = ListeningPort(port, conn.laddr.ip, conn.pid, _process_name(conn.pid))
    return [found[p] for p in sorted(found)]
