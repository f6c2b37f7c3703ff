"""SIGINT stops a session server cleanly, and its process exits although a library left
non-daemon threads behind.

The scripts run in their own interpreter (exit is what is tested). The first
does what a tornado server with collaboration rooms does: work goes to anyio's
worker threads from a task that never ends, then the loop is stopped and the
main function returns. Without the watch that process never exits.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

ANYIO_SERVER = textwrap.dedent(
    """
    import asyncio, atexit, logging, sys
    import anyio
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    if sys.argv[1] == "watch":
        from jupyterhub_sessions.serverext.exitwatch import watch_exit
        server = type("Server", (), {"log": logging.getLogger("server"), "_stopping": True})
        watch_exit(server, "session=alice/lab")
    atexit.register(lambda: print("atexit ran", flush=True))

    async def room():  # a collaboration room: stays open while the server runs
        await anyio.to_thread.run_sync(sum, [1, 2])
        await asyncio.Event().wait()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    task = loop.create_task(room())
    loop.call_later(0.5, loop.stop)  # the server stops its loop and returns
    loop.run_forever()
    print("server stopped", flush=True)
    sys.exit(3)
    """
)

STUCK_THREAD = textwrap.dedent(
    """
    import logging, sys, threading
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    from jupyterhub_sessions.serverext.exitwatch import watch_exit
    asked = sys.argv[1] == "stopped"  # told to stop, or ended on its own (a crash)
    server = type("Server", (), {"log": logging.getLogger("server"), "_stopping": asked})
    watch_exit(server, "session=alice/lab", grace=0.5)
    threading.Thread(target=threading.Event().wait, name="someone's poller").start()
    print("server stopped", flush=True)
    """
)


def run(script: str, *args: str):
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_idle_anyio_workers_no_longer_keep_a_stopped_server_alive():
    proc = run(ANYIO_SERVER, "watch")
    out, _ = proc.communicate(timeout=30)
    # a normal exit: the server's exit status, atexit handlers run, the log says what was ended
    assert proc.returncode == 3, out
    assert "server stopped" in out and "atexit ran" in out
    assert "session=alice/lab stopped; ended 1 anyio worker thread(s)" in out
    assert "ending the process" not in out


def test_without_the_watch_the_same_server_never_exits():
    """What the watch is for (and what makes the test above able to fail)."""
    proc = run(ANYIO_SERVER, "bare")
    try:
        lines = []
        for line in proc.stdout:  # however long the interpreter takes to get there
            lines.append(line)
            if line.startswith("server stopped"):
                break
        assert lines and lines[-1].startswith("server stopped"), lines
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(3)
    finally:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
    assert "atexit ran" not in out


@pytest.mark.parametrize(("ending", "status"), [("stopped", 0), ("crashed", 1)])
def test_an_unknown_thread_is_named_and_the_process_ends(ending, status):
    proc = run(STUCK_THREAD, ending)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == status, out
    assert (
        "session=alice/lab stopped but threads kept it from exiting after 0.5 s: someone's poller; "
        "ending the process"
    ) in out


SIGINT_SERVER = textwrap.dedent(
    """
    import logging, os, signal, sys, time
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    from jupyterhub_sessions.serverext.exitwatch import stop_on_sigint

    class Server:  # what stop_on_sigint uses of jupyter-server's ServerApp
        log = logging.getLogger("server")
        _stopping = sys.argv[1] == "stopping"  # SIGTERM or /api/shutdown came first
        def stop(self, from_signal=False):
            print(f"cleanup and stop (from_signal={from_signal})", flush=True)

    if sys.argv[1] == "terminal":  # jupyter-server on a terminal asks before it stops
        signal.signal(signal.SIGINT, lambda *a: print("Shut down this Jupyter server?", flush=True))
    print("installed:", stop_on_sigint(Server(), "session=alice/lab"), flush=True)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)  # a KeyboardInterrupt here would end the script with a traceback
    print("still running", flush=True)
    if sys.argv[1] in ("session", "stopping"):
        os.kill(os.getpid(), signal.SIGINT)  # a second one interrupts, as before
        time.sleep(5)
    """
)


def test_sigint_stops_a_session_server_through_its_cleanup():
    proc = run(SIGINT_SERVER, "session")
    out, _ = proc.communicate(timeout=30)
    assert out.splitlines()[:4] == [
        "installed: True",
        "jupyterhub-sessions: session=alice/lab received SIGINT, stopping",
        "cleanup and stop (from_signal=True)",
        "still running",
    ], out
    assert "KeyboardInterrupt" in out and proc.returncode != 0  # the second SIGINT


def test_a_handler_already_there_is_left_alone():
    proc = run(SIGINT_SERVER, "terminal")
    out, _ = proc.communicate(timeout=30)
    assert out.splitlines() == ["installed: False", "Shut down this Jupyter server?", "still running"], out
    assert proc.returncode == 0


def test_sigint_during_a_stop_leaves_that_stop_alone():
    proc = run(SIGINT_SERVER, "stopping")
    out, _ = proc.communicate(timeout=30)
    assert out.splitlines()[:2] == ["installed: True", "still running"], out
    assert "KeyboardInterrupt" in out  # the second one
