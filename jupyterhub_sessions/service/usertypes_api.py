"""REST API of personal session types: `api/user-types`, `api/user-types/{id}`, `api/user-types-policy`.

| method | path | |
|---|---|---|
| GET | `user-types` | types the caller may read: their own (also ones that no longer load, with `error`) and those shared with their groups; admins with `?all=1`: everyone's |
| POST | `user-types` | `{"spec": {...}}` → 201 the new type (owner: the caller) |
| GET | `user-types/{id}` | one type |
| PUT | `user-types/{id}` | `{"spec": {...}, "revision": N}` (the revision edited) → 200; 409 if it changed meanwhile |
| DELETE | `user-types/{id}` | → 204 (running sessions of the type keep running) |
| GET | `user-types-policy` | what the admin allows (`enabled`, images, resources, timeouts, placements, ...) |

Authentication and body limits are the sessions API's (handlers.APIHandler);
who may do what: service/usertypes.py.
"""

from __future__ import annotations

from tornado import web

from .handlers import APIHandler
from .usertypes import entry_json, policy_json


class _TypesHandler(APIHandler):
    @property
    def types(self):
        return self.service.types_service


class UserTypesHandler(_TypesHandler):
    async def get(self):
        everyone = self.get_argument("all", "") in ("1", "true")
        entries = await self.types.visible(self.caller, everyone=everyone)
        self.write_json([entry_json(e, self.caller) for e in entries])

    async def post(self):
        body = self.json_body({"spec": dict})
        if "spec" not in body:
            raise web.HTTPError(400, 'Request body must be {"spec": {...}}')
        entry = await self.types.create(self.caller, body["spec"])
        self.set_status(201)
        self.write_json(entry_json(entry, self.caller))


class UserTypeHandler(_TypesHandler):
    async def get(self, type_id):
        entry = await self.types.find(self.caller, type_id)
        self.write_json(entry_json(entry, self.caller))

    async def put(self, type_id):
        body = self.json_body({"spec": dict, "revision": int})
        if "spec" not in body or "revision" not in body:
            raise web.HTTPError(400, 'Request body must be {"spec": {...}, "revision": N}')
        entry = await self.types.update(self.caller, type_id, body["spec"], body["revision"])
        self.write_json(entry_json(entry, self.caller))

    async def delete(self, type_id):
        self.json_body()
        await self.types.delete(self.caller, type_id)
        self.set_status(204)
        self.finish()


class UserTypesPolicyHandler(_TypesHandler):
    async def get(self):
        self.write_json(policy_json(self.types.policy()))


def usertype_routes(prefix: str, service) -> list:
    p = prefix.rstrip("/") + "/"
    kw = {"service": service}
    return [
        (p + "api/user-types/?", UserTypesHandler, kw),
        (p + "api/user-types-policy", UserTypesPolicyHandler, kw),
        (p + "api/user-types/([^/]+)", UserTypeHandler, kw),
    ]
