"""Where personal types are kept: the directory store and the ConfigMap store (on the fake
cluster), and the per-process view that turns them into SessionTypes. A stored type that no
longer loads is shown to its author and served to nobody; it never hides anyone else's types."""

from __future__ import annotations

import json
import os

import pytest

from jupyterhub_sessions.drives import user_slug
from jupyterhub_sessions.profiles import PlatformPolicy
from jupyterhub_sessions.usertypes import Conflict, DirectoryStore, StoreError, UserTypeRecord, UserTypes
from jupyterhub_sessions.usertypes.model import new_id

from .conftest import GOOD, POLICY


def record(owner="alice", **spec) -> UserTypeRecord:
    return UserTypeRecord(id=new_id(), owner=owner, spec={**GOOD, **spec}, created_at="t", updated_at="t")


async def test_directory_store_keeps_types_private_and_atomic(tmp_path, policy):
    store = DirectoryStore(tmp_path / "user-types")
    a = await store.create(record("alice"))
    b = await store.create(record("bob", name="Bob's"))
    path = tmp_path / "user-types" / user_slug("alice") / f"{a.id}.json"
    assert json.loads(path.read_text())["owner"] == "alice"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (
        path.parent.stat().st_mode & 0o777 == 0o700
        and (tmp_path / "user-types").stat().st_mode & 0o777 == 0o700
    )
    assert not list(path.parent.glob(".tmp-*"))
    assert {r.id for r in await store.load_all()} == {a.id, b.id}
    with pytest.raises(Conflict):
        await store.create(a)


async def test_an_edit_needs_the_revision_it_edited(tmp_path):
    store = DirectoryStore(tmp_path)
    a = await store.create(record())
    edited = UserTypeRecord(id=a.id, owner="alice", spec={**GOOD, "name": "v2"}, revision=2)
    await store.replace(edited, expected_revision=1)
    stale = UserTypeRecord(id=a.id, owner="alice", spec={**GOOD, "name": "lost"}, revision=2)
    with pytest.raises(Conflict, match="revision 2, you edited 1"):
        await store.replace(stale, expected_revision=1)
    assert [r.spec["name"] for r in await store.load_all()] == ["v2"]
    await store.delete(edited)
    with pytest.raises(StoreError, match="deleted"):
        await store.replace(edited, expected_revision=2)
    assert await store.load_all() == []


async def test_a_broken_type_shows_its_author_why_and_breaks_nobody_else(tmp_path, policy):
    store = DirectoryStore(tmp_path)
    good = await store.create(record("bob", name="Bob's", share_with_groups=["physics"]))
    mine = await store.create(record("alice"))
    alice_dir = tmp_path / user_slug("alice")
    (alice_dir / f"{mine.id}.json").write_text(
        '{"id": "' + mine.id + '", "owner": "alice", "spec": {'
    )  # truncated
    huge = new_id()
    (alice_dir / f"{huge}.json").write_bytes(b" " * (70 * 1024))
    forged = new_id()  # a file under alice's folder claiming to be bob's
    (alice_dir / f"{forged}.json").write_text(
        json.dumps({"id": forged, "owner": "bob", "spec": GOOD, "revision": 1})
    )
    (alice_dir / "notes.txt").write_text("ignored")
    os.symlink(tmp_path / user_slug("bob") / f"{good.id}.json", alice_dir / f"{new_id()}.json")
    view = await UserTypes(store).refresh(policy)
    # bob's type is served to bob and his group, untouched by alice's broken files
    assert list(view.visible_to("carol", ["physics"])) == [good.slug]
    assert list(view.visible_to("alice", [])) == []
    errors = sorted(e.error for e in view.owned_by("alice"))
    assert len(errors) == 3 and all(errors)
    assert any("does not load" in e for e in errors) and any("larger than" in e for e in errors)
    assert any("another id or owner" in e for e in errors)
    assert [e.slug for e in view.owned_by("bob")] == [good.slug]


async def test_a_policy_change_applies_to_every_type_at_the_next_refresh(tmp_path, policy):
    store = DirectoryStore(tmp_path)
    rec = await store.create(record(resources={"cpu": 4}))
    view = UserTypes(store)
    assert (await view.refresh(policy)).get(rec.slug).type.resources.cpu.default == 4
    tighter = {
        **POLICY,
        "user_types": {**POLICY["user_types"], "resources": {"cpu": {"default": 1, "max": 2}}},
    }
    entry = (await view.refresh(PlatformPolicy.model_validate(tighter))).get(rec.slug)
    assert entry.type is None and "resources.cpu" in entry.error and "between 1 and 2" in entry.error
    assert (await view.refresh(policy)).get(rec.slug).type is not None


async def test_a_store_that_cannot_be_read_keeps_the_last_good_set(tmp_path, policy):
    class Flaky(DirectoryStore):
        fail = False

        async def load_all(self):
            if self.fail:
                raise StoreError("the cluster did not answer")
            return await super().load_all()

        due = True

        async def changed(self):
            return self.due

    store = Flaky(tmp_path)
    rec = await store.create(record())
    view = await UserTypes(store).refresh(policy)
    store.fail = True
    await view.refresh(policy)
    assert view.error == "the cluster did not answer" and rec.slug in view.entries
    # not due for a re-read (ConfigMaps: within the ttl): the error still shows, the set still serves
    store.due = False
    await view.refresh(policy)
    assert view.error == "the cluster did not answer" and rec.slug in view.entries
    store.fail, store.due = False, True
    await view.refresh(policy)
    assert view.error is None and rec.slug in view.entries


# ---- ConfigMaps (Kubernetes) ---------------------------------------------------------


async def test_configmap_store_on_the_cluster(kube, policy):
    from jupyterhub_sessions.usertypes.kube_store import NAME_PREFIX, ConfigMapStore

    store = ConfigMapStore("default", configure=True, ttl=0)
    a = await store.create(record("alice@example.org", share_with_groups=["physics"]))
    cm = kube.get("configmaps", NAME_PREFIX + a.id)
    assert cm["metadata"]["labels"]["app.kubernetes.io/component"] == "session-user-type"
    assert cm["metadata"]["labels"]["sessions.jupyterhub.org/owner"] == user_slug("alice@example.org")
    assert cm["metadata"]["annotations"]["sessions.jupyterhub.org/username"] == "alice@example.org"
    assert json.loads(cm["data"]["type.json"])["spec"]["name"] == "My R"
    view = await UserTypes(store).refresh(policy)
    assert list(view.visible_to("bob", ["physics"])) == [a.slug]
    edited = UserTypeRecord(id=a.id, owner=a.owner, spec={**GOOD, "name": "v2"}, revision=2)
    await store.replace(edited, 1)
    with pytest.raises(Conflict):
        await store.replace(edited, 1)
    assert [r.spec["name"] for r in await store.load_all()] == ["v2"]
    # a ConfigMap whose annotation names someone else is served to nobody
    forged = kube.get("configmaps", NAME_PREFIX + a.id)
    forged["metadata"]["annotations"]["sessions.jupyterhub.org/username"] = "bob"
    kube.store.replace("configmaps", "default", NAME_PREFIX + a.id, forged)
    (only,) = await store.load_all()
    assert only.error and "annotation" in only.error
    await store.delete(edited)
    assert kube.get("configmaps", NAME_PREFIX + a.id) is None
    await store.delete(edited)  # already gone: fine


async def test_the_charts_hub_role_alone_cannot_keep_types_and_ours_can(kube):
    """Held against the chart's own RBAC: its hub Role has no ConfigMaps, so the store says
    which Role to apply; with hub_config/kubernetes/user-types-rbac.yaml it does all it needs."""
    from jupyterhub_sessions.usertypes.kube_store import ConfigMapStore

    from .rbac import chart_hub_rules, our_rules

    kube.rbac = chart_hub_rules()
    store = ConfigMapStore("default", configure=True, ttl=0)
    for attempt in (store.load_all(), store.create(record())):
        with pytest.raises(StoreError) as e:
            await attempt
        assert "may not" in str(e.value) and "user-types-rbac.yaml" in str(e.value)
    kube.rbac = chart_hub_rules() + our_rules()
    a = await store.create(record())
    await store.replace(UserTypeRecord(id=a.id, owner=a.owner, spec=GOOD, revision=2), 1)
    assert [r.revision for r in await store.load_all()] == [2]
    await store.delete(a)
    assert await store.load_all() == []
    # and nothing more than that: no watch, no other resource
    assert {r["resources"][0] for r in our_rules()} == {"configmaps"}
    assert set(our_rules()[0]["verbs"]) == {"get", "list", "create", "update", "delete"}


def test_the_configmaps_are_in_the_hubs_namespace_never_a_users(monkeypatch, tmp_path):
    """The hub's spawners and its sessions service must agree on one namespace, the hub's (its Role)."""
    from types import SimpleNamespace

    from jupyterhub_sessions.usertypes import store as store_module
    from jupyterhub_sessions.usertypes.store import store_namespace

    for var in ("JUPYTERHUB_SESSIONS_USER_TYPES_NAMESPACE", "POD_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    sa_file = tmp_path / "namespace"
    sa_file.write_text("hubns\n")
    monkeypatch.setattr(store_module, "SERVICE_ACCOUNT_NAMESPACE", str(sa_file))
    shared = SimpleNamespace(namespace="sessions", enable_user_namespaces=False)
    per_user = SimpleNamespace(namespace="user-alice", enable_user_namespaces=True)
    assert store_namespace(shared) == "sessions"
    assert store_namespace(per_user) == "hubns"  # not the user's namespace
    assert store_namespace() == "hubns"  # the service: the pod's own
    monkeypatch.setenv("POD_NAMESPACE", "sessions")  # z2jh's hub pod
    assert store_namespace(per_user) == store_namespace() == "sessions"
    monkeypatch.setenv("JUPYTERHUB_SESSIONS_USER_TYPES_NAMESPACE", "types")
    assert store_namespace(shared) == "types"
    sa_file.unlink()
    monkeypatch.delenv("POD_NAMESPACE")
    monkeypatch.delenv("JUPYTERHUB_SESSIONS_USER_TYPES_NAMESPACE")
    assert store_namespace() == "default"
