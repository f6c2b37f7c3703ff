"""The first README command: `jupyterhub-sessions local` runs the whole platform on 127.0.0.1.

Run as a user would (a subprocess of the installed command), on a free public
port and a temporary data dir: it answers, logs people in with the demo
authenticator, stops cleanly leaving no process behind, and a second run on
the same data dir still has the users, their servers and drives.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from jupyterhub_sessions.drives import user_slug
from jupyterhub_sessions.embedded import PORTS_FILE, internal_ports

from .conftest import PROFILES
from .hubtools import free_port, kill_processes_of, wait_for

COMMAND = Path(sys.executable).parent / "jupyterhub-sessions"
PASSWORD = "demo-pass"
HOSTILE = "<script>window.__pwned = 1</script><b>bold</b>"
HOSTILE_DESC = '<img src=x onerror="window.__pwned = 2"> & more'


def test_internal_ports_are_free_remembered_and_overridable(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    pa = internal_ports(a, env={})
    assert set(pa) == {"hub_port", "proxy_api_port"} and pa["hub_port"] != pa["proxy_api_port"]
    assert json.loads((a / PORTS_FILE).read_text()) == pa
    assert internal_ports(a, env={}) == pa  # same data dir, same ports: a restart finds its proxy
    assert set(internal_ports(b, env={}).values()).isdisjoint(pa.values())  # two platforms side by side
    env = {"JUPYTERHUB_SESSIONS_HUB_PORT": "18081"}
    assert internal_ports(a, env=env) == {**pa, "hub_port": 18081}


class Platform:
    """`jupyterhub-sessions local` as a subprocess (its own process group)."""

    def __init__(self, data_dir: Path, profiles: Path):
        self.data_dir, self.profiles = data_dir, profiles
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = data_dir.parent / "local.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout=180):
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
        env.update(
            JUPYTERHUB_SESSIONS_DEMO_PASSWORD=PASSWORD,
            JUPYTERHUB_SESSIONS_ADMINS="boss",
            JUPYTERHUB_SESSIONS_TEST_HUB=str(self.data_dir),
        )
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(COMMAND),
                    "local",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    "--profiles",
                    str(self.profiles),
                ],
                env=env,
                cwd=self.data_dir.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def answers():
            if self.proc.poll() is not None:
                raise AssertionError(f"exited with {self.proc.returncode}:\n{self.tail()}")
            return requests.get(self.url + "hub/login", timeout=5).status_code == 200

        wait_for(answers, timeout=timeout, interval=0.3, what="jupyterhub-sessions local")

    def tail(self, n=40):
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> list[str]:
        """SIGTERM the command; return what is still running of what it had started."""
        started = psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(90)
        gone, alive = psutil.wait_procs(started, timeout=15)
        return [" ".join(p.cmdline()[:3]) for p in alive if p.status() != psutil.STATUS_ZOMBIE]

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        kill_processes_of(self.data_dir)

    def login(self, name, password=PASSWORD) -> requests.Session:
        """Log in through the hub's login form, as a browser would (cookies + XSRF)."""
        s = requests.Session()
        s.get(self.url + "hub/login", timeout=30).raise_for_status()
        xsrf = s.cookies.get("_xsrf")
        r = s.post(
            self.url + "hub/login",
            data={"username": name, "password": password, "_xsrf": xsrf},
            allow_redirects=False,
            timeout=30,
        )
        # the hub sets a fresh XSRF cookie for the logged-in user; API calls echo it
        s.headers["X-XSRFToken"] = [c.value for c in s.cookies if c.name == "_xsrf"][-1]
        s.login_status = r.status_code
        return s


@pytest.fixture
def platform(tmp_path):
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(PROFILES / "notebook.yaml", profiles)
    # admin-written text is still text: markup in a profile must show, not run
    (profiles / "hostile.yaml").write_text(
        f"display_name: {json.dumps(HOSTILE)}\n"
        f"description: {json.dumps(HOSTILE_DESC)}\n"
        "image: {default: example/image:1}\n"
    )
    data = tmp_path / "data"
    p = Platform(data, profiles)
    try:
        yield p
    finally:
        p.kill()


@pytest.mark.hub
@pytest.mark.browser
def test_local_command_serves_stops_cleanly_and_keeps_state(platform, browser):
    platform.start()
    assert platform.data_dir.is_dir() and (platform.data_dir / "jupyterhub.sqlite").is_file()
    ports = json.loads((platform.data_dir / PORTS_FILE).read_text())

    # the demo authenticator: the demo password is required, JUPYTERHUB_SESSIONS_ADMINS are admins
    assert platform.login("alice", password="wrong").login_status != 302
    alice = platform.login("alice")
    assert alice.login_status == 302
    me = alice.get(platform.url + "hub/api/user", timeout=30).json()
    assert me["name"] == "alice" and not me["admin"]
    created = me["created"]
    boss = platform.login("boss")
    assert boss.get(platform.url + "hub/api/user", timeout=30).json()["admin"] is True

    # a session on a new drive, started through the REST API with the browser's cookie
    r = alice.post(
        platform.url + "hub/api/users/alice/servers/work",
        timeout=30,
        json={"session_type": "notebook", "drive": "__new__", "new_drive": "thesis"},
    )
    assert r.status_code in (201, 202), r.text

    def ready():
        s = alice.get(platform.url + "hub/api/user", timeout=30).json()["servers"].get("work")
        return s and s["ready"]

    wait_for(ready, timeout=120, what="alice/work ready")
    drive = platform.data_dir / "drives" / user_slug("alice") / "thesis"
    (drive / "notes.txt").write_text("kept")

    # stopping the command stops everything it started: proxy, services, the running session
    assert platform.stop() == []
    assert platform.proc.returncode == 0, platform.tail()
    with pytest.raises(requests.ConnectionError):
        requests.get(platform.url + "hub/login", timeout=5)

    # same data dir again: same internal ports, same users, their servers and drives
    platform.start()
    assert json.loads((platform.data_dir / PORTS_FILE).read_text()) == ports
    alice = platform.login("alice")
    me = alice.get(platform.url + "hub/api/user?include_stopped_servers=1", timeout=30).json()
    assert me["created"] == created and "work" in me["servers"]
    assert not me["servers"]["work"]["ready"]  # sessions do not outlive the hub by default
    assert me["servers"]["work"]["user_options"]["drive"] == "thesis"
    form = alice.get(platform.url + "hub/spawn/alice/next", timeout=30)
    assert form.status_code == 200 and '<option value="thesis"' in form.text
    assert (drive / "notes.txt").read_text() == "kept"
    assert platform.login("boss").get(platform.url + "hub/api/user", timeout=30).json()["admin"] is True

    # profile text with markup is shown as text in the browser, never run
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(platform.url + "hub/login")
        page.fill("input#username_input", "alice")
        page.fill("input#password_input", PASSWORD)
        page.click("#login_submit")
        page.wait_for_url(lambda u: "/hub/login" not in u)
        page.goto(platform.url + "hub/spawn/alice/look")
        card = page.locator(".jhs-type[data-session-type=hostile]")
        assert card.locator(".jhs-name").inner_text() == HOSTILE
        assert card.locator(".jhs-desc").inner_text() == HOSTILE_DESC
        assert card.locator("b, img, script").count() == 0
        assert page.evaluate("window.__pwned") is None
    finally:
        ctx.close()

    assert platform.stop() == []


def test_state_and_drives_are_made_private_even_when_they_exist(tmp_path):
    import stat

    from jupyterhub_sessions.embedded import secure_data_dir

    data = tmp_path / "data"
    drive = data / "drives" / user_slug("alice") / "home"
    drive.mkdir(parents=True)
    for name in ("jupyterhub.sqlite", "jupyterhub.sqlite-journal", "jupyterhub_cookie_secret", PORTS_FILE):
        (data / name).write_text("x")
        os.chmod(data / name, 0o644)
    for d in (data, data / "drives", drive.parent, drive):
        os.chmod(d, 0o755)
    old_umask = os.umask(0o022)
    try:
        secure_data_dir(data)
        assert os.umask(0o022) == 0o077  # what the hub writes later is private too
    finally:
        os.umask(old_umask)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert [mode(d) for d in (data, data / "drives", drive.parent, drive)] == [0o700] * 4
    for name in ("jupyterhub.sqlite", "jupyterhub.sqlite-journal", "jupyterhub_cookie_secret", PORTS_FILE):
        assert mode(data / name) == 0o600, name


def test_a_new_hub_database_and_ports_file_are_private_from_the_start(tmp_path):
    import stat

    from jupyterhub_sessions.embedded import secure_data_dir

    old_umask = os.umask(0o022)
    try:
        secure_data_dir(tmp_path / "fresh")
        internal_ports(tmp_path / "fresh", env={})
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "fresh" / "jupyterhub.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "fresh" / PORTS_FILE).stat().st_mode) == 0o600
