"""A session server told to stop stops cleanly, and then exits, whatever threads a library left behind.

JupyterHub's local spawner stops a server with SIGINT (then SIGTERM, then
SIGKILL). jupyter-server handles SIGINT only on a terminal (it asks "Shut down
this Jupyter server?"); a session has none, so SIGINT was Python's
KeyboardInterrupt, raised in whatever code ran: out of the event loop it
ended the server without its cleanup (kernels and terminals not shut down,
extensions not stopped), and inside a task it could be swallowed (a
collaboration room's task group logs it and goes on), leaving the server
running until SIGTERM 30 s later. `stop_on_sigint` makes SIGINT do what
SIGTERM does: `ServerApp.stop()`, its cleanup, then the loop stops (unless a
stop is already under way). A second SIGINT interrupts as before. (The local
spawner gives sessions no terminal: stdin is /dev/null.)

jupyter-collaboration's rooms load and store documents on anyio's worker
threads (`anyio.to_thread.run_sync`, through pycrdt's stores). Those threads are
not daemons, and anyio stops one only when the task that first used it ends;
on a server whose event loop tornado simply stops, that task never ends. Python
joins every non-daemon thread before it exits, so a collaborative session in
which a document had been opened stopped serving at SIGINT, then sat in that
join until the spawner's SIGKILL: a minute on JupyterHub's local spawner (30 s
after SIGINT, 30 s after SIGTERM), during which the hub shows the session as
stopping and its drive cannot be used by another session
(jupyterlab/jupyter-collaboration#161 and #503 upstream).

`watch_exit` starts a daemon thread that waits for the main thread to end: the
server has then run its own shutdown (kernels, terminals, extensions) and the
interpreter is joining what is left. It sends anyio's workers the stop anyio
would have sent (`WorkerThread.stop()`: a shutdown command on the worker's
queue; one still running a call, a document being saved, finishes it first),
so the interpreter goes on exiting as normal: atexit handlers run and the exit
status is the server's. A thread still alive `grace` seconds later (20 s: room
for a last save, well within the 60 s the spawner gives before SIGKILL) is
named in the log and the process ends (`os._exit`), as the spawner's SIGKILL
would have ended it, only sooner: with status 0 if a stop had been asked for,
else 1. Threads of `concurrent.futures` pools are joined by Python before the
main thread counts as ended, so one stuck in a call still holds the exit.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

GRACE = 20.0  # seconds the threads left get once the server has stopped


def _stopping(serverapp) -> bool:
    """Whether the server was told to stop (SIGINT, SIGTERM, /api/shutdown): jupyter-server's flag."""
    return bool(getattr(serverapp, "_stopping", False))


def _is_anyio_worker(thread: threading.Thread) -> bool:
    kind = type(thread)
    return (
        kind.__name__ == "WorkerThread" and kind.__module__.startswith("anyio.") and hasattr(thread, "stop")
    )


def _blocking(main: threading.Thread) -> list[threading.Thread]:
    """The threads the interpreter's exit waits for (alive, not daemons, not the main thread)."""
    return [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]


def _after_main(main: threading.Thread, serverapp, who: str, grace: float) -> None:
    main.join()
    log = serverapp.log
    stopped = 0
    for thread in _blocking(main):
        if _is_anyio_worker(thread):
            try:
                thread.stop()
                stopped += 1
            except Exception as e:  # anyio's bookkeeping is gone with its loop; the queue is what counts
                log.debug("jupyterhub-sessions: stopping %s of %s: %s", thread.name, who, e)
    if stopped:
        log.info("jupyterhub-sessions: %s stopped; ended %d anyio worker thread(s)", who, stopped)
    deadline = time.monotonic() + grace
    for thread in _blocking(main):
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            left = ", ".join(sorted(t.name for t in _blocking(main)))
            log.warning(
                "jupyterhub-sessions: %s stopped but threads kept it from exiting after %g s: %s; "
                "ending the process",
                who,
                grace,
                left,
            )
            for handler in logging.getLogger().handlers + log.handlers:
                handler.flush()
            os._exit(0 if _stopping(serverapp) else 1)


def stop_on_sigint(serverapp, who: str) -> bool:
    """Let SIGINT stop the server cleanly, if nothing else handles it (see the module's docstring)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False  # a terminal's confirmation prompt, or JupyterHub's own handler

    def on_sigint(sig, frame):
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second one interrupts
        if _stopping(serverapp):
            return  # SIGTERM or /api/shutdown came first: its cleanup is running
        serverapp.log.critical("jupyterhub-sessions: %s received SIGINT, stopping", who)
        serverapp.stop(from_signal=True)

    signal.signal(signal.SIGINT, on_sigint)
    return True


def watch_exit(serverapp, who: str, grace: float = GRACE) -> threading.Thread:
    """Make this process exit once its main thread has ended (see the module's docstring)."""
    main = threading.main_thread()
    watcher = threading.Thread(
        target=_after_main,
        args=(main, serverapp, who, grace),
        name="jupyterhub-sessions exit watch",
        daemon=True,
    )
    watcher.start()
    return watcher
