"""server_args: what a session's single-user server is told on its command line."""

from traitlets.config import Config
from traitlets.config.loader import KVArgParseConfigLoader

from jupyterhub_sessions.hub.args import server_args
from jupyterhub_sessions.profiles import Interface
from jupyterhub_sessions.serverext.launch import proxy_servers
from jupyterhub_sessions.session_info import ENV_SESSION, SessionInfo


def _parse(args) -> Config:
    from jupyter_server.serverapp import ServerApp
    from jupyter_server_ydoc.app import YDocExtension
    from jupyterhub.services.auth import HubOAuth

    return KVArgParseConfigLoader(args, classes=[ServerApp, YDocExtension, HubOAuth]).load_config()


def _info(st, collaborative=False) -> SessionInfo:
    return SessionInfo(
        session_type=st.slug, collaborative=collaborative, interface=st.interface, server_name="x"
    )


def test_collaboration_off_unloads_the_ydoc_extension(shipped_types):
    cfg = _parse(server_args(_info(shipped_types["notebook"], collaborative=False)))
    assert cfg.ServerApp.jpserver_extensions == {"jupyter_server_ydoc": False}
    assert cfg.YDocExtension.disable_rtc is True


def test_collaboration_on_leaves_ydoc_alone(shipped_types):
    cfg = _parse(server_args(_info(shipped_types["notebook"], collaborative=True)))
    assert "jpserver_extensions" not in cfg.ServerApp
    assert "YDocExtension" not in cfg
    # a lab session keeps the hub's default URL
    assert "default_url" not in cfg.ServerApp


def test_revocations_reach_the_server_within_a_minute(shipped_types):
    cfg = _parse(server_args(_info(shipped_types["notebook"], collaborative=True)))
    assert cfg.HubOAuth.cache_max_age <= 60


def test_desktop_type_opens_on_the_desktop_its_image_serves(shipped_types):
    # jupyter-remote-desktop-proxy (in the desktop image) serves /desktop/ and starts the VNC
    # server: the session opens there and adds no launcher of its own
    st = shipped_types["desktop"]
    assert st.interface.command == []
    cfg = _parse(server_args(_info(st)))
    assert cfg.ServerApp.default_url == "/desktop/"
    assert proxy_servers(_info(st)) == {}


def test_a_desktop_with_a_command_gets_its_launcher(shipped_types):
    interface = {**shipped_types["desktop"].interface.model_dump(), "command": ["websockify", "{port}"]}
    info = _info(shipped_types["desktop"]).model_copy(update={"interface": Interface(**interface)})
    entry = proxy_servers(info)["desktop"]
    assert entry["command"] == ["websockify", "{port}"]
    assert entry["launcher_entry"] == {"enabled": True, "title": "Desktop", "path_info": "desktop/"}


def test_webapp_launcher_is_valid_server_proxy_config(shipped_types):
    from jupyter_server_proxy.config import ServerProxy

    st = shipped_types["firefly"]
    cfg = _parse(server_args(_info(st)))
    assert cfg.ServerApp.default_url == "/firefly/firefly/"
    cfg.ServerProxy.servers = proxy_servers(_info(st))
    proxy = ServerProxy(config=cfg)
    ((name, process),) = proxy.servers.items()
    assert name == "firefly"
    assert process.command == ["/usr/local/bin/start-firefly.sh", "{port}"]
    assert process.launcher_entry.title == "Firefly"
    assert process.timeout == 120


def test_lab_sessions_get_no_launcher(shipped_types):
    # the extension reads the session info back from the environment (JSON)
    info = SessionInfo.from_environ({ENV_SESSION: _info(shipped_types["notebook"]).to_json()})
    assert proxy_servers(info) == {}
    carta = SessionInfo.from_environ({ENV_SESSION: _info(shipped_types["carta"]).to_json()})
    assert list(proxy_servers(carta)) == ["carta"]
