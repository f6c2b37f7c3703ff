"""Just enough of the hub to drive a spawner the way JupyterHub 6 does.

Users and servers are real JupyterHub ORM rows (in-memory SQLite), so
`spawner.name`, `spawner.server`, `active` and saved state behave as in the
hub. `spawn()` and `stop()` follow jupyterhub.user.User.spawn/stop: apply
group overrides, run `apply_user_options` (HTTP errors pass through), start
within `start_timeout`, and on failure stop what may have started (poll, then
stop). The spawner under test is the real class talking HTTP to the cluster.
"""

from __future__ import annotations

import asyncio
import functools
from types import SimpleNamespace
from urllib.parse import quote, urlparse

from jupyterhub import orm
from jupyterhub.objects import Hub, Server
from jupyterhub.utils import maybe_future
from traitlets.config import Config


def spawner_config(kube, **kubespawner) -> Config:
    """Config for a SessionKubeSpawner talking to the fake cluster `kube`.

    Keyword arguments override KubeSpawner settings (e.g. request timeouts).
    """
    from tests.conftest import PROFILES

    c = Config()
    c.KubeSpawner.k8s_api_host = kube.url
    c.KubeSpawner.k8s_api_verify_ssl = False
    c.KubeSpawner.namespace = "default"
    c.KubeSpawner.start_timeout = 15
    c.KubeSpawner.k8s_api_request_retry_timeout = 5
    for name, value in kubespawner.items():
        setattr(c.KubeSpawner, name, value)
    c.SessionKubeSpawner.session_types_dir = str(PROFILES)
    return c


@functools.cache
def _db():
    return orm.new_session_factory("sqlite:///:memory:")()


class FakeHub:
    """A hub database plus the spawner objects a running hub would hold."""

    def __init__(self, config: Config, spawner_class):
        self.config = config
        self.spawner_class = spawner_class
        self.db = _db()
        for table in reversed(orm.Base.metadata.sorted_tables):
            self.db.execute(table.delete())
        self.db.commit()
        self.db.expunge_all()
        self.users: dict[str, HubUser] = {}

    def user(self, name: str, groups=()) -> HubUser:
        if name not in self.users:
            self.users[name] = HubUser(self, name, groups)
        return self.users[name]

    def restart(self) -> None:
        """Forget every in-memory object; the database (servers, state) stays."""
        self.users = {}
        self.db.expire_all()


class HubUser:
    """A hub user: name, groups and the spawners of its named servers."""

    def __init__(self, hub: FakeHub, name: str, groups=()):
        self.hub = hub
        self.db = hub.db
        self.orm_user = orm.User.find(self.db, name)
        if self.orm_user is None:
            self.orm_user = orm.User(name=name)
            self.db.add(self.orm_user)
            self.db.commit()
        self.name = name
        self.id = self.orm_user.id
        self.groups = [SimpleNamespace(name=g) for g in groups]
        self.spawners: dict = {}
        self.escaped_name = quote(name, safe="@~")
        self.url = f"/user/{self.escaped_name}/"

    def spawner(self, name: str = "", **kwargs):
        """The spawner for server `name`, created (and its state loaded) like the hub does."""
        if name in self.spawners:
            return self.spawners[name]
        orm_spawner = self.orm_user.orm_spawners.get(name)
        if orm_spawner is None:
            orm_spawner = orm.Spawner(user=self.orm_user, name=name)
            self.db.add(orm_spawner)
            self.db.commit()
        sp = self.hub.spawner_class(
            hub=Hub(),
            user=self,
            orm_spawner=orm_spawner,
            db=self.db,
            config=self.hub.config,
            api_token=f"token-{self.id}-{name}",
            oauth_client_id=f"jupyterhub-user-{self.id}-{name}",
            **kwargs,
        )
        if orm_spawner.state:
            sp.load_state(orm_spawner.state)
        self.spawners[name] = sp
        return sp


async def spawn(spawner, options: dict | None) -> str:
    """Start like User.spawn: hook, start, and clean up on failure."""
    db = spawner.user.db
    spawner._spawn_pending = True
    spawner.orm_spawner.user_options = options or {}
    spawner.user_options = options or {}
    spawner.clear_state()
    orm_server = orm.Server(base_url=spawner.user.url + (spawner.name and f"{spawner.name}/"))
    db.add(orm_server)
    db.commit()
    spawner.server = Server(orm_server=orm_server)
    db.commit()
    try:
        await spawner.apply_group_overrides()
        await spawner._run_apply_user_options(spawner.user_options)
        await maybe_future(spawner.run_pre_spawn_hook())
        url = await asyncio.wait_for(spawner.start(), timeout=spawner.start_timeout)
    except BaseException:
        await stop(spawner)
        raise
    finally:
        spawner._spawn_pending = False
    parsed = urlparse(url)
    spawner.server.ip, spawner.server.port = parsed.hostname, parsed.port
    spawner.orm_spawner.state = spawner.get_state()
    db.commit()
    return url


async def stop(spawner) -> None:
    """Stop like User.stop: poll, stop if running, drop the server, save state."""
    spawner._spawn_pending = False
    spawner._stop_pending = True
    try:
        status = await spawner.poll()
        if status is None:
            await spawner.stop()
    finally:
        spawner._stop_pending = False
        spawner.server = None
        spawner.clear_state()
        spawner.orm_spawner.state = spawner.get_state()
        spawner.user.db.commit()
