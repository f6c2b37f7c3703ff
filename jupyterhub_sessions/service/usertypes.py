"""Personal session types in the sessions service: who may do what, and doing it.

The service owns personal types: the REST API (`api/user-types`) and the
editor pages (`types/...`) both come here after authenticating the caller.
Who may is decided by hub scopes, like everything in the service:

- reading a user's types needs `read:servers!user=<owner>` (the owner's own
  token or browser login, admins); a type shared with a group is also
  readable by the group's current members;
- creating, editing and deleting needs `delete:servers!user=<owner>`, the
  scope that manages the owner's sessions (user-wide): a session's server
  token (`read:servers!server=...`, readable by collaborators from a
  terminal) can change nothing, so nobody can swap the image behind a type
  its owner starts. Admins hold it for everyone (they may remove a type).

A type the caller may not even read is "not found" (404), so ids of other
users' types do not leak; a readable one they may not change is 403.
Every change is validated by the same strict model as admin types, under
the admin's `user_types` policy, before anything is written.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from jupyterhub.services.auth import check_scopes
from tornado import web

from ..profiles import PlatformPolicy
from ..usertypes import Conflict, StoreError, UserTypeError, UserTypeRecord, parse_spec, to_session_type
from ..usertypes.model import ID_RE, new_id, slug_of
from ..usertypes.store import Entry, UserTypes, owner_key
from .hubclient import HubAPIError


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def has_scope(caller: dict, scope: str) -> bool:
    return bool(check_scopes({scope}, set(caller.get("scopes") or [])))


def is_user(caller: dict) -> bool:
    return caller.get("kind", "user") == "user"


def label(caller: dict) -> str:
    return f"{caller.get('kind', 'user')} {caller['name']}"


class TypesService:
    """The service's personal types: the store's view, the policy, and one writer at a time."""

    def __init__(self, service, registry: UserTypes | None):
        self.service = service
        self.registry = registry
        self._write_lock = asyncio.Lock()

    @property
    def log(self):
        return self.service.log

    def policy(self) -> PlatformPolicy:
        return self.service.platform_policy()

    def enabled(self) -> bool:
        return self.registry is not None and self.policy().user_types is not None

    async def refresh(self) -> UserTypes:
        """The types as stored now; 404 when personal types are off (the store is then never read)."""
        if self.registry is None:
            raise web.HTTPError(404, "Personal session types are not kept on this hub (no store configured)")
        if self.policy().user_types is None:
            raise web.HTTPError(404, "Personal session types are switched off on this hub (_policy.yaml)")
        return await self.registry.refresh(self.policy())

    async def groups_of(self, username: str) -> list[str]:
        try:
            model = await self.service.client.get_user(username)
        except HubAPIError as e:
            raise web.HTTPError(502, f"The hub API failed: {e.message}") from None
        groups = (model or {}).get("groups")
        return [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []

    # ---- reading ----------------------------------------------------------------

    async def visible(self, caller: dict, everyone: bool = False) -> list[Entry]:
        """Own types (broken ones too) and types shared with the caller's groups; with `everyone`,
        every type the caller may read (admins: all)."""
        if not self.enabled():
            return []
        reg = await self.refresh()
        groups = await self.groups_of(caller["name"]) if is_user(caller) else []
        out = []
        for e in reg.entries.values():
            readable = self.may_read(caller, e, groups)
            mine = is_user(caller) and e.owned_by(caller["name"])
            if readable and (everyone or mine or self.shared_with(caller, e, groups)):
                out.append(e)
        return sorted(out, key=lambda e: (e.record.owner_key, e.record.created_at, e.record.id))

    @staticmethod
    def shared_with(caller: dict, entry: Entry, groups: list[str]) -> bool:
        """Shared with one of the caller's groups, and the caller acts as themselves (not a session token)."""
        return bool(
            is_user(caller)
            and entry.type
            and entry.type.access.permits(caller["name"], groups)
            and has_scope(caller, f"read:servers!user={caller['name']}")
        )

    @staticmethod
    def owner_of(caller: dict, entry: Entry) -> str | None:
        """The owner's name; for a broken record (its name unreadable) the caller's if it is theirs."""
        if entry.record.owner:
            return entry.record.owner
        return caller["name"] if is_user(caller) and entry.owned_by(caller["name"]) else None

    def may_read(self, caller: dict, entry: Entry, groups: list[str]) -> bool:
        owner = self.owner_of(caller, entry)
        if has_scope(caller, f"read:servers!user={owner}" if owner else "read:servers"):
            return True
        return self.shared_with(caller, entry, groups)

    def may_change(self, caller: dict, owner: str | None) -> bool:
        # a broken record whose owner is unknown: only hub-wide (admin) permission
        return has_scope(caller, f"delete:servers!user={owner}" if owner else "delete:servers")

    async def find(self, caller: dict, type_id: str, change: bool = False) -> Entry:
        """The entry `type_id` if the caller may read it (404 otherwise), and change it (403 otherwise)."""
        missing = web.HTTPError(404, f"No session type {type_id[:40]!r}")
        if not ID_RE.match(type_id):
            raise missing
        reg = await self.refresh()
        entry = reg.get(slug_of(type_id))
        if entry is None:
            raise missing
        groups = await self.groups_of(caller["name"]) if is_user(caller) else []
        if not self.may_read(caller, entry, groups):
            raise missing
        if change and not self.may_change(caller, self.owner_of(caller, entry)):
            raise web.HTTPError(403, "Only its author (or an admin) may change this session type")
        return entry

    # ---- changing ----------------------------------------------------------------

    async def _validated(self, owner: str, spec_raw: object, type_id: str, revision: int) -> UserTypeRecord:
        """A record for `spec_raw`, checked as the hub will serve it; 400 naming the field otherwise."""
        policy = self.policy()
        ut = policy.user_types
        if ut is None:
            raise web.HTTPError(403, "Personal session types are switched off on this hub")
        groups = await self.groups_of(owner)
        if not ut.access.permits(owner, groups):
            raise web.HTTPError(403, f"{owner} may not create personal session types on this hub")
        try:
            spec = parse_spec(spec_raw)
        except UserTypeError as e:
            raise web.HTTPError(400, f"Invalid session type: {e}") from None
        outside = [g for g in spec.share_with_groups if g not in groups]
        if outside:
            raise web.HTTPError(
                400,
                f"Invalid session type: field 'share_with_groups': {owner} is not in group {outside[0]!r}",
            )
        record = UserTypeRecord(
            id=type_id,
            owner=owner,
            spec=spec.model_dump(mode="json"),
            revision=revision,
        )
        try:
            to_session_type(record, policy)
        except UserTypeError as e:
            raise web.HTTPError(400, f"Invalid session type: {e}") from None
        return record

    async def create(self, caller: dict, spec_raw: object) -> Entry:
        if not is_user(caller):
            raise web.HTTPError(403, "Only users have personal session types")
        owner = caller["name"]
        if not self.may_change(caller, owner):
            raise web.HTTPError(403, f"{label(caller)} may not create session types of {owner!r}")
        record = await self._validated(owner, spec_raw, new_id(), 1)
        record.created_at = record.updated_at = now_iso()
        async with self._write_lock:
            reg = await self.refresh()
            mine = reg.owned_by(owner)
            limit = self.policy().user_types.max_per_user
            if len(mine) >= limit:
                raise web.HTTPError(409, f"You have {len(mine)} personal session types, the limit is {limit}")
            await self._store(self.registry.store.create(record))
            reg = await self.refresh()
        self.log.info("Session type %s (%r) created by %s", record.id, record.spec["name"], label(caller))
        return reg.get(record.slug)

    async def update(self, caller: dict, type_id: str, spec_raw: object, revision: object) -> Entry:
        if isinstance(revision, bool) or not isinstance(revision, int):
            raise web.HTTPError(400, "Field 'revision' (the revision you edited) must be a number")
        async with self._write_lock:
            entry = await self.find(caller, type_id, change=True)
            owner = self.owner_of(caller, entry)
            if owner is None:
                raise web.HTTPError(
                    409, "This stored session type does not load: delete it and create it anew"
                )
            if revision != entry.record.revision:
                raise web.HTTPError(
                    409,
                    f"The session type changed meanwhile (revision {entry.record.revision}, you edited {revision}): "
                    "reload it and edit again",
                )
            record = await self._validated(owner, spec_raw, type_id, entry.record.revision + 1)
            record.created_at = entry.record.created_at or now_iso()
            record.updated_at = now_iso()
            await self._store(self.registry.store.replace(record, entry.record.revision))
            reg = await self.refresh()
        self.log.info(
            "Session type %s of %s changed to revision %d by %s",
            type_id,
            owner,
            record.revision,
            label(caller),
        )
        return reg.get(record.slug)

    async def delete(self, caller: dict, type_id: str) -> None:
        async with self._write_lock:
            entry = await self.find(caller, type_id, change=True)
            await self._store(self.registry.store.delete(entry.record))
            await self.refresh()
        self.log.info(
            "Session type %s of %s deleted by %s",
            type_id,
            entry.record.owner or entry.record.owner_key,
            label(caller),
        )

    async def _store(self, coro):
        try:
            return await coro
        except Conflict as e:
            raise web.HTTPError(409, f"{e}: reload it and try again") from None
        except StoreError as e:
            self.log.error("Session type store failed: %s", e)
            raise web.HTTPError(503, f"Session types cannot be saved right now: {e}") from None


def entry_json(entry: Entry, caller: dict) -> dict:
    """A type as the API returns it: the stored record, whether it loads, and what it becomes."""
    rec = entry.record
    out = {
        **rec.to_json(),
        "slug": rec.slug,
        "mine": is_user(caller) and entry.owned_by(caller["name"]),
        "loaded": entry.type is not None,
        "error": entry.error,
        "session_type": entry.type.model_dump(mode="json") if entry.type else None,
    }
    if not rec.owner:
        out["owner"] = caller["name"] if out["mine"] else None
    return out


def policy_json(policy: PlatformPolicy) -> dict:
    """What the admin allows in personal types (the editor and API clients show it)."""
    ut = policy.user_types
    if ut is None:
        return {"enabled": False}
    images = policy.user_images
    return {
        "enabled": True,
        "max_per_user": ut.max_per_user,
        "images": images.model_dump(mode="json"),
        "images_text": images.describe(),
        "default_image": ut.default_image,
        "interfaces": list(ut.interfaces),
        "resources": ut.resources.model_dump(mode="json"),
        "timeouts": ut.timeouts.model_dump(mode="json") | {"all_choices": ut.timeouts.all_choices},
        "lifetime": ut.lifetime.model_dump(mode="json"),
        "placements": [p.model_dump(mode="json") for p in ut.placements],
        "sharing": ut.sharing,
        "collaborative": ut.collaborative,
    }


__all__ = ["TypesService", "entry_json", "owner_key", "policy_json"]
