"""Your own image and your own session types on Kubernetes, as Zero to JupyterHub runs them (issue 19).

A hub started by the chart's own loader with our values, on the fake cluster that enforces the
RBAC a real install has: the chart's hub Role (templates/hub/rbac.yaml) plus
hub_config/kubernetes/user-types-rbac.yaml. Personal types go through the sessions service's
REST API into ConfigMaps; the hub process reads them to spawn; a custom image is recorded and
reused on restart; escalating fields are refused and nothing is written; the spawn form's
details show the pod spec KubeSpawner builds (in Chromium, screenshot printed). Without our Role
the API says which Role to apply, and the form keeps working for everyone.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.hubtools import CHROMIUM, CHROMIUM_ARGS, wait_for
from tests.usertypes.rbac import chart_hub_rules, our_rules
from tests.usertypes.tools import page, types_api

from .chart import name_templates, render_values
from .test_chart import chart, chart_hub  # noqa: F401 - the chart hub fixtures

TYPE = {"name": "Team R", "image": "quay.io/jupyter/r-notebook:2025-10-20", "resources": {"cpu": 2}}
CUSTOM = "registry.example.org/team-a/notebook@sha256:" + "ab" * 32
COMPONENT = "app.kubernetes.io/component=session-user-type"


def test_the_user_types_role_is_bound_to_the_charts_hub_service_account(chart):  # noqa: F811
    """user-types-rbac.yaml names the service account the chart's hub runs as with our values."""
    import yaml

    from tests.usertypes.rbac import OUR_ROLE

    values = render_values(chart)
    assert values["hub"]["serviceAccount"]["create"] and not values["hub"]["serviceAccount"].get("name")
    docs = {d["kind"]: d for d in yaml.safe_load_all(OUR_ROLE.read_text())}
    (subject,) = docs["RoleBinding"]["subjects"]
    # the chart's jupyterhub.hub-serviceaccount.fullname: serviceAccount.name, else the hub's name
    assert subject == {"kind": "ServiceAccount", "name": name_templates(values)["hub"]}
    assert docs["RoleBinding"]["roleRef"]["name"] == docs["Role"]["metadata"]["name"]
    assert "namespace" not in docs["Role"]["metadata"]  # applied with -n <the hub's namespace>


def configmaps(kube) -> list[dict]:
    return [
        cm
        for cm in kube.objects("configmaps")
        if (cm["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "session-user-type"
    ]


def pod_of(kube, user: str, server: str) -> dict:
    (pod,) = [
        p
        for p in kube.objects("pods")
        if p["metadata"]["labels"].get("hub.jupyter.org/servername") == server
        and p["metadata"]["annotations"].get("hub.jupyter.org/username") == user
    ]
    return pod


def notebook(pod: dict) -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")


def details_in_chromium(hub, user: str, server: str, slug: str, shot: Path) -> str:
    """The spawn form's details of `slug` as Chromium shows them (its pod spec text); a screenshot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            hub.login(page, user)
            page.goto(hub.url + f"hub/spawn/{user}/{server}")
            card = page.locator(f".jhs-type[data-session-type='{slug}']")
            card.locator("summary").click()
            card.locator("input[type=radio]").check()
            pre = card.locator("pre.jhs-launch")
            pre.wait_for()
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
            return pre.inner_text()
        finally:
            browser.close()


@pytest.mark.hub
@pytest.mark.browser
async def test_personal_types_in_configmaps_and_a_custom_image_under_the_charts_rbac(
    kube,
    chart_hub,  # noqa: F811
    tmp_path,
):
    kube.rbac = chart_hub_rules() + our_rules()  # what the hub's service account holds
    h = await asyncio.to_thread(chart_hub, {})
    hub = h.hub
    alice = await asyncio.to_thread(hub.ensure_user, "alice")
    token = await asyncio.to_thread(hub.user_token, alice)

    def call(method, path="", **kw):
        return types_api(hub, method, path, token=token, **kw)

    def service_routed():  # the hub routes the proxy to its services once it is up
        r = hub.request("GET", "services/sessions/api/user-types-policy", token=token)
        return r.status_code == 200 and r.json()["enabled"]

    await asyncio.to_thread(wait_for, service_routed, 60, 0.3, "the sessions service behind the proxy")
    # escalating fields are refused (named), and no ConfigMap is written
    for field, value in [
        ("privileged", True),
        ("extra_pod_config", {"hostNetwork": True}),
        ("service_account", "hub"),
        ("node_selector", {"kubernetes.io/hostname": "node-1"}),
        ("volumes", [{"name": "root", "hostPath": {"path": "/"}}]),
    ]:
        r = await asyncio.to_thread(call, "POST", json={"spec": {**TYPE, field: value}})
        assert r.status_code == 400, (field, r.text)
        assert f"'{field}'" in r.json()["message"], r.text
    assert configmaps(kube) == []

    # a type: one ConfigMap in the hub's namespace, labelled with its owner
    r = await asyncio.to_thread(call, "POST", json={"spec": TYPE})
    assert r.status_code == 201, r.text
    t = r.json()
    (cm,) = configmaps(kube)
    assert cm["metadata"]["namespace"] == "default"
    assert cm["metadata"]["name"] == f"jupyterhub-sessions-type-{t['id']}"
    assert cm["metadata"]["annotations"]["sessions.jupyterhub.org/username"] == alice
    assert json.loads(cm["data"]["type.json"])["spec"]["image"] == TYPE["image"]

    # the hub process reads it at once and spawns its pod
    r = await asyncio.to_thread(hub.start_session, alice, "r", {"session_type": t["slug"]}, token)
    assert r.status_code in (201, 202), r.text
    pod = pod_of(kube, alice, "r")
    assert notebook(pod)["image"] == TYPE["image"]
    assert notebook(pod)["resources"]["limits"]["cpu"] in (2, "2", 2.0)
    assert pod["metadata"]["labels"]["sessions.jupyterhub.org/session-type"] == t["slug"]
    assert not pod["spec"].get("hostNetwork") and pod["spec"].get("serviceAccountName") in (None, "default")

    # the type's details on the spawn form: the pod spec KubeSpawner builds, as Chromium shows it
    shots = Path(os.environ.get("JHS_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    text = await asyncio.to_thread(
        details_in_chromium, hub, alice, "other", t["slug"], shots / "byo-kube-pod-spec.png"
    )
    assert "kind: Pod" in text and f"image: {TYPE['image']}" in text
    assert f"sessions.jupyterhub.org/session-type: {t['slug']}" in text
    # no secret: tokens are made when a session starts
    assert "- name: JUPYTERHUB_API_TOKEN\n      value: (created when the session starts)" in text
    assert not re.search(r"\b[0-9a-f]{32,}\b", text)

    # a custom image on an admin type: the pod runs it, the hub records it, a restart reuses it
    r = await asyncio.to_thread(
        hub.start_session,
        alice,
        "img",
        {"session_type": "notebook", "image": CUSTOM, "new_drive": "images"},
        token,
    )
    assert r.status_code in (201, 202), r.text
    assert notebook(pod_of(kube, alice, "img"))["image"] == CUSTOM
    options = (await asyncio.to_thread(hub.user_model, alice))["servers"]["img"]["user_options"]
    assert options["image"] == CUSTOM
    await asyncio.to_thread(hub.stop_session, alice, "img")
    r = await asyncio.to_thread(hub.start_session, alice, "img", options, token)  # the dashboard's Restart
    assert r.status_code in (201, 202), r.text
    assert notebook(pod_of(kube, alice, "img"))["image"] == CUSTOM

    # without our Role: the API says which Role to apply; the spawn form still works
    kube.rbac = chart_hub_rules()
    r = await asyncio.to_thread(call, "POST", json={"spec": {**TYPE, "name": "Another"}})
    assert r.status_code == 503, r.text
    assert "user-types-rbac.yaml" in r.json()["message"]
    assert len(configmaps(kube)) == 1
    listed, since = len(kube.requests_to("GET", "configmaps")), time.monotonic()

    def form_ok():
        return "Notebook (JupyterLab)" in page(hub, alice, f"hub/spawn/{alice}/other")

    assert await asyncio.to_thread(wait_for, form_ok, 30, 0.5, "the spawn form")
    for _ in range(5):  # forms keep working; the hub and the service retry the store at most every second
        assert await asyncio.to_thread(form_ok)
    assert len(kube.requests_to("GET", "configmaps")) - listed <= 2 * (time.monotonic() - since + 1)
    home = await asyncio.to_thread(page, hub, alice, "hub/home")
    assert "Personal session types are not up to date: the hub may not list ConfigMaps" in home
    assert "user-types-rbac.yaml" in home
    # the dashboard's type cards carry the same details: the pod spec KubeSpawner builds
    assert "Generated by KubeSpawner.get_pod_manifest()" in home and "kind: Pod" in home
    for server in ("r", "img"):
        await asyncio.to_thread(hub.stop_session, alice, server)
