"""A spawner start that returns once the server listens, so the hub finds it at its first look.

JupyterHub looks for a new server with exponential backoff (0.2 s, doubling,
with jitter, up to 5 s between looks) after `Spawner.start()` returns: a
server ready 2.5 s after its start is often found a second later, and under
load several seconds later. Checking a TCP connect every few milliseconds in
`start()` costs nothing (jupyter-server binds its port only once it is fully
loaded) and hands the hub a server that answers its first request.
"""

from __future__ import annotations

import asyncio

from traitlets import Float
from traitlets.config import LoggingConfigurable


class ReadyWhenListening(LoggingConfigurable):
    """Mixin for a Spawner whose server listens at `self.ip`/`self.port` on this machine.

    Listed before the Spawner class; it wraps whatever `start()` comes after it.
    """

    ready_poll_interval = Float(
        0.02,
        config=True,
        help="""Seconds between checks whether a starting session listens yet (0: do not check).

        `start()` returns when the session accepts connections (or its process
        exits, or http_timeout passes), so the hub's own check, which backs
        off exponentially, finds it at once. E.g. 0.05 on a busy machine.
        """,
    )

    async def start(self):
        url = await super().start()
        if self.ready_poll_interval > 0:
            await self.wait_listening(self.ip or "127.0.0.1", self.port)
        return url

    async def wait_listening(self, host: str, port: int) -> None:
        """Until the server accepts connections, exits, or http_timeout passes (the hub then decides)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.http_timeout
        while loop.time() < deadline:
            proc = getattr(self, "proc", None)
            if proc is not None and proc.poll() is not None:
                return  # exited: the hub's own check reports it
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(self.ready_poll_interval)
                continue
            writer.close()
            return
