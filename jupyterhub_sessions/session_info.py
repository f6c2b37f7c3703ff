"""What a session is told about itself: one typed model, written by the spawner, read in the session.

The spawner (hub process) builds a `SessionInfo` from the session's options and type and puts it,
as JSON, in the session's environment (`ENV_SESSION`); the server extension parses it back with
`SessionInfo.from_environ()` (link time and load time) and serves it to the lab extension as is.
One model on both sides, so a renamed or retyped field fails here, not as a `dict.get` that
quietly returns None. `default_url(interface)` is the one place the landing URL is computed
(the spawner's `default_url` and the server's `--ServerApp.default_url`).

Kept light to import (pydantic and the profiles' `Interface`): the extension links before every
server starts, bare ones too.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from .profiles import Interface

# the session's info as JSON in the session's environment
ENV_SESSION = "JUPYTERHUB_SESSIONS_SESSION"
# seconds the session caches the hub's answer about who may use it (and re-checks websockets)
AUTH_CACHE_SECONDS = 30


def default_url(interface: Interface) -> str:
    """Where the user lands: JupyterLab, or the web app / desktop behind its launcher path."""
    if interface.kind == "lab" or not interface.name:
        return "/lab"
    return f"/{interface.name}/" + interface.url_path.lstrip("/")


class SessionInfo(BaseModel):
    """The normalized options (as recorded in `user_options`) plus what the session needs to
    know about itself.

    Extra fields are ignored, not refused: a session started by a hub one version apart still
    starts (the fields it does not know it cannot use anyway).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    session_type: str
    image: str = ""
    cpu: float = 0
    memory: str = ""
    gpu: int = 0
    drive: str = ""
    timeout: int = 0
    collaborative: bool = False
    display_name: str = ""
    interface: Interface = Interface()
    server_name: str = ""
    service: str = "sessions"  # the sessions hub service's name
    scratch: str | None = None  # $SCRATCH as the session sees it

    @property
    def is_app(self) -> bool:
        """Opens on a web app or desktop at `/<name>/` rather than JupyterLab."""
        return self.interface.kind in ("webapp", "desktop") and bool(self.interface.name)

    @property
    def default_url(self) -> str:
        return default_url(self.interface)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> SessionInfo | None:
        """The session's info; None outside a managed session (or if it does not parse: the
        server then runs as a plain one, and says so in its log)."""
        raw = environ.get(ENV_SESSION, "")
        if not raw:
            return None
        try:
            return cls.model_validate_json(raw)
        except ValidationError as e:
            logging.getLogger(__name__).warning(
                "jupyterhub-sessions: %s is not a session's info, running as a plain server: %s",
                ENV_SESSION,
                str(e).splitlines()[0],
            )
            return None
