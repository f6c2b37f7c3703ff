"""What the two hub services (`sessions`, `ssh`) share: settings from the hub, logging, serving.

JupyterHub starts a managed service with its name, token, URLs and prefix in `JUPYTERHUB_*`
environment variables (`jupyterhub.services.service`). `HubService` makes each of them a
configurable trait that defaults to that variable (so a service also runs by hand, or behind a
Kubernetes Service, with flags), sets up one log handler for the whole package, listens, and
serves until SIGTERM/SIGINT. `JSONHandlerMixin` gives both services' REST handlers the same JSON
errors (`{"status", "message"}`), bodies and answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from http import HTTPStatus
from urllib.parse import urlsplit

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.log import LogFormatter
from traitlets import Unicode, default, validate
from traitlets.config import Application

LOG_FORMAT = "%(color)s[%(levelname)1.1s %(asctime)s %(name)s]%(end_color)s %(message)s"


class HubService(Application):
    """Base of a JupyterHub managed service of this package (see the module docstring)."""

    # the name the service has in the hub when JUPYTERHUB_SERVICE_NAME is not set
    default_service_name = "service"
    # where it listens when JUPYTERHUB_SERVICE_URL is not set
    default_bind_url = "http://127.0.0.1:10101"

    service_name = Unicode(config=True, help="This service's name in the hub (its URL is /services/<name>/).")

    @default("service_name")
    def _default_service_name(self):
        return os.environ.get("JUPYTERHUB_SERVICE_NAME") or self.default_service_name

    hub_api_url = Unicode(config=True, help="The hub REST API URL, e.g. http://127.0.0.1:8081/hub/api.")

    @default("hub_api_url")
    def _default_hub_api_url(self):
        return os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")

    api_token = Unicode(
        config=True,
        help="Token this service uses for the hub API (the hub gives managed services one).",
    )

    @default("api_token")
    def _default_api_token(self):
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    service_prefix = Unicode(config=True, help="URL prefix the proxy routes to us, with a trailing slash.")

    @default("service_prefix")
    def _default_service_prefix(self):
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{self.service_name}/")
        return prefix if prefix.endswith("/") else prefix + "/"  # a default is not validated

    @validate("service_prefix")
    def _slash(self, proposal):
        value = proposal["value"]
        return value if value.endswith("/") else value + "/"

    hub_base_url = Unicode(
        config=True, help="The hub's base URL (JupyterHub.base_url), e.g. / or /jupyter/ behind a path."
    )

    @default("hub_base_url")
    def _default_hub_base_url(self):
        return os.environ.get("JUPYTERHUB_BASE_URL", "/")

    bind_url = Unicode(
        config=True,
        help="""Where to listen, e.g. http://0.0.0.0:8282 in a hub pod whose service URL names a
        Kubernetes Service. Default: $JUPYTERHUB_SERVICE_URL (what the hub's proxy routes to).""",
    )

    @default("bind_url")
    def _default_bind_url(self):
        return os.environ.get("JUPYTERHUB_SERVICE_URL", self.default_bind_url)

    @default("log_level")
    def _default_log_level(self):
        return logging.INFO

    @default("log")
    def _log_default(self):
        """One handler for the whole package (the service's own and its modules' loggers)."""
        logger = logging.getLogger("jupyterhub_sessions")
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(LogFormatter(fmt=LOG_FORMAT))
            logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(self.log_level)
        return logger

    def listen(self, app: web.Application, **server_kwargs) -> HTTPServer:
        """Serve `app` at `bind_url` (behind the hub's proxy: its X-Forwarded headers count)."""
        url = urlsplit(self.bind_url)
        server = HTTPServer(app, xheaders=True, **server_kwargs)
        server.listen(url.port or 80, url.hostname or "127.0.0.1")
        return server

    @staticmethod
    def stop_on_signals() -> asyncio.Event:
        """An event set by SIGTERM (the hub stopping its service) or SIGINT (main thread only)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return stop


class JSONHandlerMixin:
    """JSON errors, bodies and answers for a service's REST handlers (list it before RequestHandler).

    Errors are `{"status": N, "message": "..."}`: the HTTPError's message, or the status phrase
    for a 5xx that has none (never a traceback). Every error closes the connection: a request
    refused before its body was read makes tornado close the connection after the response
    without saying so, and the proxy would reuse that socket for the next request (a 503).
    """

    max_body = 64 * 1024

    def write_error(self, status_code, **kwargs):
        self.set_header("Connection", "close")
        message = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif status_code >= 500:
            message = (
                HTTPStatus(status_code).phrase if status_code in HTTPStatus._value2member_map_ else "error"
            )
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"status": status_code, "message": message}))

    def write_json(self, data, status: int | None = None):
        if status is not None:
            self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(data))

    def parse_json_object(self, raw: bytes, too_large: bool = False) -> dict:
        """`raw` as a JSON object (empty: {}); 413 over `max_body`, 400 for anything else."""
        if too_large or len(raw) > self.max_body:
            raise web.HTTPError(413, f"Request body is larger than {self.max_body} bytes")
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting fits in 64 kB
            raise web.HTTPError(400, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, "Request body must be a JSON object")
        return body
