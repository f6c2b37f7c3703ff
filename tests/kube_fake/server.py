"""The fake Kubernetes API server: core/v1 over HTTP, in a background thread.

kubernetes_asyncio (and so KubeSpawner) talks to it unchanged: point a
kubeconfig or `k8s_api_host` at `FakeKubernetes.url`. It serves pods,
persistentvolumeclaims, events, secrets, configmaps, services and namespaces:
create/get/list/watch/replace/patch/delete, with real `Status` errors.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote

import yaml
from tornado import httpserver, web
from tornado.netutil import bind_sockets

from .errors import ApiError, bad_request
from .faults import Faults
from .store import KIND_TO_RESOURCE, RESOURCES, Store

MAX_BODY = 3 * 1024 * 1024
# /api/v1[/namespaces/<ns>]/<resource>[/<name>[/<subresource>]]
_RESOURCE_PATH = re.compile(r"^/api/v1/(?:namespaces/([^/]+)/)?([a-z]+)(?:/([^/]+))?(?:/([a-z]+))?/?$")
DEFAULT_WATCH_SECONDS = 1800


@dataclass
class Request:
    method: str
    path: str
    query: dict
    body: object


def _truthy(v: str | None) -> bool:
    return (v or "").lower() in ("true", "1")


class BaseHandler(web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

    @property
    def fake(self) -> FakeKubernetes:
        return self.settings["fake"]

    @property
    def store(self) -> Store:
        return self.fake.store

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json")

    def check_xsrf_cookie(self):
        pass

    async def write_json(self, obj, status: int = 200):
        fault = getattr(self, "_after_fault", None)
        if fault is not None:
            await self._inflict(fault)
        self.set_status(status)
        self.finish(json.dumps(obj))

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, ApiError):
            err = exc
        elif isinstance(exc, web.HTTPError):
            err = ApiError(
                status_code,
                "NotFound" if status_code == 404 else "BadRequest",
                exc.log_message or "the server could not find the requested resource",
            )
        else:
            err = ApiError(500, "InternalError", f"Internal error occurred: {exc!r}")
        self.set_status(err.code)
        self.finish(json.dumps(err.status()))

    def log_exception(self, typ, value, tb):
        if not isinstance(value, ApiError):
            super().log_exception(typ, value, tb)

    def q(self, name: str, default=None):
        return self.get_query_argument(name, default)

    async def prepare(self):
        body = None
        if self.request.body:
            if len(self.request.body) > MAX_BODY:
                raise ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY}")
            try:
                ctype = self.request.headers.get("Content-Type", "")
                body = yaml.safe_load(self.request.body) if "yaml" in ctype else json.loads(self.request.body)
            except (ValueError, yaml.YAMLError) as e:
                raise bad_request(f"the body of the request was in an unknown format: {e}") from None
        self.body = body
        query = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        self.fake._log(Request(self.request.method, self.request.path, query, body))
        self._generation = self.fake.generation
        self.fake.authorize(self.request.method, self.request.path, query)
        fault = self.fake.faults.take(self.request.method, self.request.path)
        if fault is not None:
            if fault.after:
                self._after_fault = fault
            else:
                await self._inflict(fault)

    async def _inflict(self, fault):
        if fault.hang:
            await asyncio.sleep(fault.hang)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if self._generation != self.fake.generation:
            # held past a reset: the test that sent it is over, so it must not
            # reach the next test's cluster
            raise ApiError(503, "ServiceUnavailable", "request held across a reset of the fake cluster")
        if fault.status:
            raise ApiError(fault.status, fault.reason, fault.message or f"injected fault: {fault.reason}")

    def resource_info(self, resource: str):
        if resource not in RESOURCES:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return RESOURCES[resource]


class CollectionHandler(BaseHandler):
    """/api/v1/namespaces/{ns}/{resource}, /api/v1/namespaces, /api/v1/{resource}."""

    async def get(self, namespace=None, resource="namespaces"):
        info = self.resource_info(resource)
        if namespace is not None and not info.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if namespace is not None:
            namespace = unquote(namespace)
        labels, fields = self.q("labelSelector"), self.q("fieldSelector")
        rv = self.q("resourceVersion")
        if _truthy(self.q("watch")):
            await self.watch(resource, namespace, labels, fields, rv)
            return
        items, current = self.store.list(resource, namespace, labels, fields)
        if rv not in (None, "", "0"):
            try:
                want = int(rv)
            except ValueError:
                raise bad_request(f"invalid resource version: {rv!r}") from None
            match = self.q("resourceVersionMatch")
            if match == "Exact" and want != current:
                raise ApiError(410, "Expired", f"too old resource version: {want} ({current})")
            if want > current:
                raise ApiError(504, "Timeout", f"Too large resource version: {want}, current: {current}")
        for item in items:
            item.pop("kind", None)
            item.pop("apiVersion", None)
        meta = {"resourceVersion": str(current)}
        limit = self.q("limit")
        cont = self.q("continue")
        if cont:
            try:
                start = int(cont)
            except ValueError:
                raise ApiError(410, "Expired", "The provided continue parameter is too old") from None
            items = items[start:]
        else:
            start = 0
        if limit and int(limit) > 0 and len(items) > int(limit):
            items = items[: int(limit)]
            meta["continue"] = str(start + int(limit))
        await self.write_json(
            {"kind": f"{info.kind}List", "apiVersion": "v1", "metadata": meta, "items": items}
        )

    async def watch(self, resource, namespace, labels, fields, rv):
        timeout = self.q("timeoutSeconds")
        try:
            timeout = float(timeout) if timeout else DEFAULT_WATCH_SECONDS
        except ValueError:
            raise bad_request(f"invalid timeoutSeconds {timeout!r}") from None
        w = self.store.watch(resource, namespace, labels, fields, rv, asyncio.get_running_loop())
        self._watcher = w
        deadline = time.monotonic() + timeout
        self.set_status(200)
        self.set_header("Transfer-Encoding", "chunked")
        try:
            await self.flush()
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(w.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                if (
                    item is None
                    or self.request.connection.stream is None
                    or self.request.connection.stream.closed()
                ):
                    break
                type_, obj = item
                self.write(json.dumps({"type": type_, "object": obj}) + "\n")
                await self.flush()
        except Exception:  # client went away mid-write
            pass
        finally:
            self.store.unwatch(w)
        if not self._finished:
            self.finish()

    def on_connection_close(self):
        w = getattr(self, "_watcher", None)
        if w is not None:
            w.queue.put_nowait(None)

    async def post(self, namespace=None, resource="namespaces"):
        info = self.resource_info(resource)
        ns = unquote(namespace) if namespace is not None else ""
        if info.namespaced and namespace is None:
            raise ApiError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        obj = self.store.create(resource, ns, self.body)
        await self.write_json(obj, 201)


class ItemHandler(BaseHandler):
    """/api/v1/namespaces/{ns}/{resource}/{name}[/status] and /api/v1/namespaces/{name}."""

    def _args(self, namespace, resource, name):
        info = self.resource_info(resource)
        if namespace is None and info.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return (unquote(namespace) if namespace is not None else ""), unquote(name)

    async def get(self, namespace=None, resource="namespaces", name="", sub=""):
        ns, name = self._args(namespace, resource, name)
        await self.write_json(self.store.get(resource, ns, name))

    async def put(self, namespace=None, resource="namespaces", name="", sub=""):
        ns, name = self._args(namespace, resource, name)
        await self.write_json(self.store.replace(resource, ns, name, self.body, sub or ""))

    async def patch(self, namespace=None, resource="namespaces", name="", sub=""):
        ns, name = self._args(namespace, resource, name)
        ctype = self.request.headers.get("Content-Type", "")
        await self.write_json(self.store.patch(resource, ns, name, self.body, ctype, sub or ""))

    async def delete(self, namespace=None, resource="namespaces", name="", sub=""):
        if sub:
            raise ApiError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        ns, name = self._args(namespace, resource, name)
        opts = self.body if isinstance(self.body, dict) else {}
        grace = self.q("gracePeriodSeconds")
        if grace is None:
            grace = opts.get("gracePeriodSeconds")
        try:
            grace = int(grace) if grace is not None else None
        except ValueError:
            raise bad_request(f"invalid gracePeriodSeconds {grace!r}") from None
        obj = self.store.delete(resource, ns, name, grace, opts.get("preconditions"))
        await self.write_json(obj)


class InfoHandler(BaseHandler):
    async def get(self, what):
        if what == "version":
            await self.write_json(
                {"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "platform": "linux/amd64"}
            )
        elif what == "api":
            await self.write_json(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
                }
            )
        elif what == "api/v1":
            await self.write_json(
                {
                    "kind": "APIResourceList",
                    "groupVersion": "v1",
                    "resources": [
                        {
                            "name": r,
                            "namespaced": k.namespaced,
                            "kind": k.kind,
                            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                        }
                        for r, k in RESOURCES.items()
                    ],
                }
            )
        else:
            self.set_header("Content-Type", "text/plain")
            self.finish("ok")


class FakeKubernetes:
    """A core/v1 API server on 127.0.0.1 (random port) in a background thread.

    Use as a context manager, or call start()/stop(). `store` holds the
    objects, `faults` injects failures, `requests` records what was asked.
    """

    def __init__(self):
        self.store = Store()
        self.faults = Faults()
        # RBAC, off by default: a list of Role rules ({"apiGroups", "resources", "verbs"}) the caller
        # holds; every core/v1 request then needs a rule allowing its verb on its resource (403 otherwise)
        self.rbac: list[dict] | None = None
        self.rbac_user = "system:serviceaccount:default:hub"
        self.requests: list[Request] = []
        self._req_lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self.port = 0
        self.generation = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _log(self, req: Request) -> None:
        with self._req_lock:
            self.requests.append(req)

    def requests_to(self, method: str, path_contains: str) -> list[Request]:
        """Recorded requests with this method whose path contains `path_contains`."""
        with self._req_lock:
            return [r for r in self.requests if r.method == method and path_contains in r.path]

    def make_app(self) -> web.Application:
        ns = r"/api/v1/namespaces/([^/]+)"
        return web.Application(
            [
                (r"/(version|api|api/v1|healthz|readyz|livez)/?", InfoHandler),
                (ns + r"/([a-z]+)/([^/]+)/(status)", ItemHandler),
                (ns + r"/([a-z]+)/([^/]+)", ItemHandler),
                (ns + r"/([a-z]+)/?", CollectionHandler),
                (r"/api/v1/(?P<resource>namespaces)/(?P<name>[^/]+)", ItemHandler),
                (r"/api/v1/(?P<resource>[a-z]+)/?", CollectionHandler),
            ],
            fake=self,
        )

    def start(self) -> FakeKubernetes:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.loop = loop
            try:
                sockets = bind_sockets(0, "127.0.0.1")
                self.port = sockets[0].getsockname()[1]

                async def listen():
                    self._server = httpserver.HTTPServer(self.make_app(), max_body_size=4 * MAX_BODY)
                    self._server.add_sockets(sockets)

                loop.run_until_complete(listen())
            except BaseException as e:  # pragma: no cover - start-up failure
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-kubernetes", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _shutdown(self):
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        if self.loop is not None and self._thread is not None:
            self.store.reset()  # wakes open watches
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self._thread = None

    def call_later(self, delay: float, fn, *args) -> None:
        """Run `fn(*args)` on the server thread after `delay` seconds (thread-safe)."""
        if self.loop is None or self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(self.loop.call_later, delay, fn, *args)
        except RuntimeError:
            pass

    def authorize(self, method: str, path: str, query: dict) -> None:
        """Refuse (403, the API server's words) a request `rbac` does not allow; discovery is free."""
        if self.rbac is None:
            return
        m = _RESOURCE_PATH.match(path)
        if m is None:
            return
        namespace, resource, name, sub = m.groups()
        if sub:
            resource = f"{resource}/{sub}"
        if method == "GET":
            verb = (
                "get"
                if name
                else ("watch" if (query.get("watch") or "").lower() in ("1", "true") else "list")
            )
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
        for rule in self.rbac:
            if (
                {"", "*"} & set(rule.get("apiGroups") or [])
                and {resource, "*"} & set(rule.get("resources") or [])
                and {verb, "*"} & set(rule.get("verbs") or [])
            ):
                return
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        raise ApiError(
            403,
            "Forbidden",
            f'{resource} is forbidden: User "{self.rbac_user}" cannot {verb} resource "{resource}" '
            f'in API group ""{where}',
        )

    def reset(self) -> None:
        """Empty cluster, no faults, no RBAC, no recorded requests (between tests).

        Requests still held by a `hang`/`delay` fault are dropped, not carried out.
        """
        self.generation += 1
        self.rbac = None
        self.store.reset()
        self.faults.clear()
        with self._req_lock:
            self.requests.clear()

    def kubeconfig(self, namespace: str = "default") -> dict:
        """A kubeconfig pointing at this server, as a real cluster would hand out."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
            ],
            "current-context": "fake",
        }

    # convenient, synchronous access for tests
    def objects(
        self, resource: str, namespace: str | None = "default", label_selector: str | None = None
    ) -> list[dict]:
        return self.store.list(resource, namespace, label_selector)[0]

    def get(self, resource: str, name: str, namespace: str = "default") -> dict | None:
        return self.store.find(resource, namespace, name)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


__all__ = ["FakeKubernetes", "KIND_TO_RESOURCE", "Request"]
