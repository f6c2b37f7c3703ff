"""The editor pages of personal session types: `types/new`, `types/{id}/edit`, `types/{id}/delete`.

Server-rendered forms in the hub's look (hubpage.HubLook), with the service's
XSRF token, so they work without JavaScript; the dashboard links to them.
A refused form is shown again with the reason (the field named) and what
was typed. The checks are the API's (service/usertypes.py): the form is
turned into the same JSON spec and goes through the same code.
"""

from __future__ import annotations

import shlex

from tornado import web

from ..profiles import NEVER, format_timeout
from .pages import PageHandler
from .usertypes import policy_json

MAX_FORM_FIELD = 4000


def _number(text: str):
    """ "2" → 2, "0.5" → 0.5; anything else stays text (the model then names the field)."""
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def num(x):
    """2.0 → "2" (how the editor shows numbers); anything else as it is."""
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return "" if x is None else str(x)


def form_to_spec(form: dict[str, list[str]]) -> dict:
    """The editor's fields as a JSON spec (typed where the form sends text)."""

    def one(key: str) -> str:
        values = form.get(key) or [""]
        return values[0].strip()[:MAX_FORM_FIELD]

    spec: dict = {"name": one("name"), "description": one("description"), "image": one("image")}
    kind = one("kind") or "lab"
    interface: dict = {"kind": kind}
    if kind == "webapp":
        try:
            interface["command"] = shlex.split(one("command"))
        except ValueError as e:
            raise web.HTTPError(400, f"Invalid session type: field 'interface.command': {e}") from None
        if one("port"):
            interface["port"] = _number(one("port"))
        interface["url_path"] = one("url_path") or "/"
    spec["interface"] = interface
    resources = {}
    for key in ("cpu", "gpu"):
        if one(key):
            resources[key] = _number(one(key))
    if one("memory"):
        resources["memory"] = one("memory")
    spec["resources"] = resources
    if one("timeout"):
        spec["timeout"] = _number(one("timeout"))
    spec["timeouts"] = [_number(t) for t in (form.get("timeouts") or [])[:20]]
    if one("placement"):
        spec["placement"] = one("placement")
    spec["collaborative"] = one("collaborative") == "on"
    spec["share_with_groups"] = [g for g in (form.get("share_with_groups") or [])[:20]]
    return spec


def spec_to_values(spec: dict) -> dict:
    """What the editor's fields show for a stored (or refused) spec."""
    iface = spec.get("interface") if isinstance(spec.get("interface"), dict) else {}
    res = spec.get("resources") if isinstance(spec.get("resources"), dict) else {}
    command = iface.get("command") if isinstance(iface.get("command"), list) else []
    return {
        "name": spec.get("name", ""),
        "description": spec.get("description", ""),
        "image": spec.get("image", ""),
        "kind": iface.get("kind", "lab"),
        "command": shlex.join(str(c) for c in command),
        "port": iface.get("port") or "",
        "url_path": iface.get("url_path", "/"),
        "cpu": num(res.get("cpu")),
        "memory": res.get("memory") or "",
        "gpu": num(res.get("gpu")),
        "timeout": spec.get("timeout"),
        "timeouts": spec.get("timeouts") if isinstance(spec.get("timeouts"), list) else [],
        "placement": spec.get("placement") or "",
        "collaborative": bool(spec.get("collaborative")),
        "share_with_groups": spec.get("share_with_groups")
        if isinstance(spec.get("share_with_groups"), list)
        else [],
    }


class TypePageHandler(PageHandler):
    @property
    def types(self):
        return self.service.types_service

    def defaults(self, p: dict) -> dict:
        res = p["resources"]
        return {
            **spec_to_values({}),
            "image": p.get("default_image") or "",
            "cpu": num(res["cpu"]["default"]),
            "memory": res["memory"]["default"],
            "gpu": num(res["gpu"]["default"]),
            "timeout": p["timeouts"]["default"],
            "timeouts": list(p["timeouts"]["all_choices"]),
        }

    async def show(
        self, title: str, button: str, values: dict, owner: str, revision=None, error="", status=200
    ):
        p = policy_json(self.types.policy())
        if not p["enabled"]:
            raise web.HTTPError(404, "Personal session types are switched off on this hub")
        life = p["lifetime"]
        lifetime_text = (
            "none"
            if life["max_age"] == NEVER
            else f"{format_timeout(life['max_age'])}, renewable"
            + (f" {life['max_renewals']} times" if life.get("max_renewals") is not None else "")
        )
        self.render_page(
            "sessions_usertype_form.html",
            status=status,
            title=title,
            button=button,
            v=values,
            p=p,
            owner=owner,
            groups=await self.types.groups_of(owner),
            revision=revision,
            error=error,
            home=self.hub_home + "#jhs-types-section",
            format_timeout=format_timeout,
            num=num,
            lifetime_text=lifetime_text,
            unenforced=self.service.unenforced,
        )

    def form(self) -> dict[str, list[str]]:
        return {
            k: [v.decode("utf-8", "replace") for v in vs] for k, vs in self.request.body_arguments.items()
        }

    def done(self):
        self.redirect(self.hub_home + "#jhs-types-section")


class NewTypeHandler(TypePageHandler):
    async def get(self):
        p = policy_json(self.types.policy())
        if not p["enabled"]:
            raise web.HTTPError(404, "Personal session types are switched off on this hub")
        await self.show("New session type", "Create", self.defaults(p), self.caller["name"])

    async def post(self):
        form = self.form()
        spec: dict = {}
        try:
            spec = form_to_spec(form)
            await self.types.create(self.caller, spec)
        except web.HTTPError as e:
            if e.status_code not in (400, 409):
                raise
            values = {**spec_to_values(spec), "command": (form.get("command") or [""])[0]}
            return await self.show(
                "New session type",
                "Create",
                values,
                self.caller["name"],
                error=e.log_message,
                status=e.status_code,
            )
        self.done()


class EditTypeHandler(TypePageHandler):
    async def get(self, type_id: str):
        entry = await self.types.find(self.caller, type_id, change=True)
        owner = self.types.owner_of(self.caller, entry)
        spec = entry.record.spec if isinstance(entry.record.spec, dict) else {}
        await self.show(
            f"Edit “{spec.get('name') or type_id}”",
            "Save",
            spec_to_values(spec),
            owner,
            revision=entry.record.revision,
            error=entry.error or "",
        )

    async def post(self, type_id: str):
        form = self.form()
        entry = await self.types.find(self.caller, type_id, change=True)
        owner = self.types.owner_of(self.caller, entry)
        spec: dict = {}
        try:
            revision = _number((form.get("revision") or [""])[0])
            spec = form_to_spec(form)
            await self.types.update(self.caller, type_id, spec, revision)
        except web.HTTPError as e:
            if e.status_code not in (400, 409):
                raise
            values = {**spec_to_values(spec), "command": (form.get("command") or [""])[0]}
            current = await self.types.find(self.caller, type_id, change=True)
            return await self.show(
                f"Edit “{values['name'] or type_id}”",
                "Save",
                values,
                owner,
                revision=current.record.revision if e.status_code == 400 else entry.record.revision,
                error=e.log_message,
                status=e.status_code,
            )
        self.done()


class DeleteTypeHandler(TypePageHandler):
    async def get(self, type_id: str):
        entry = await self.types.find(self.caller, type_id, change=True)
        name = entry.record.spec.get("name") if isinstance(entry.record.spec, dict) else None
        self.render_page(
            "sessions_confirm.html",
            title="Delete session type",
            text=f"Delete your session type “{name or type_id}”? Running sessions of it keep running; "
            "they cannot be restarted with it afterwards. Drives are not touched.",
            button="Delete",
            btn_class="danger",
            error="",
            home=self.hub_home + "#jhs-types-section",
        )

    async def post(self, type_id: str):
        await self.types.delete(self.caller, type_id)
        self.done()


def usertype_page_routes(prefix: str, service) -> list:
    p = prefix.rstrip("/") + "/"
    kw = {"service": service}
    return [
        (p + "types/new", NewTypeHandler, kw),
        (p + "types/([^/]+)/edit", EditTypeHandler, kw),
        (p + "types/([^/]+)/delete", DeleteTypeHandler, kw),
    ]
