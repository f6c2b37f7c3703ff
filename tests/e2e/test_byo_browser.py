"""Your own session types and images in Chromium, on the embedded platform (issue 19).

A user creates a type on the dashboard's editor (a refused image is named with its rule and
nothing is kept), sees its details (the command line a start runs) on the dashboard and the
spawn form, starts it from the form, edits and deletes it; a group member sees it under
"Shared with you", by its author; a custom image given on the form is shown on the dashboard.
Screenshots of each page go to $JHS_SCREENSHOT_DIR (default: the test's tmp_path); their
paths are printed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ..usertypes.tools import new_group, session_env, types_api

pytestmark = [pytest.mark.hub, pytest.mark.browser]

LAB_SHELL = "#jp-main-dock-panel"
START_TIMEOUT = 120_000  # ms; a session start takes 5-15 s here, more on a busy box


@pytest.fixture
def shot(tmp_path):
    base = Path(os.environ.get("JHS_SCREENSHOT_DIR") or tmp_path)
    base.mkdir(parents=True, exist_ok=True)

    def take(page, name):
        path = base / f"byo-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")

    return take


def my_types(hub, user) -> list[dict]:
    r = types_api(hub, "GET", token=hub.user_token(user))
    assert r.status_code == 200, r.text
    return r.json()


def test_a_user_creates_starts_edits_and_deletes_a_type_on_the_dashboard(hub, context, stop_all, shot):
    alice = hub.new_user("alice")
    stop_all(alice)
    page = context.new_page()
    hub.login(page, alice)
    page.goto(hub.url + "hub/home")
    expect(page.locator("#jhs-no-own-types")).to_be_visible()
    page.locator("#jhs-new-type").click()
    expect(page.locator("#jhs-type-editor h1")).to_have_text("New session type")
    shot(page, "01-editor-new")

    # an image outside the policy: refused on the page naming the rule, the form keeps what was typed
    page.fill("#jhs-t-name", "Team R <b>bold</b>")
    page.fill("#jhs-t-description", "R with our packages")
    page.fill("#jhs-t-image", "evil.example.com/x/r:1;rm -rf /")
    page.locator("#jhs-type-save").click()
    expect(page.locator("#jhs-error")).to_contain_text("field 'image'")
    expect(page.locator("#jhs-error")).to_contain_text("rule: _policy.yaml: user_types.images")
    expect(page.locator("#jhs-t-name")).to_have_value("Team R <b>bold</b>")
    shot(page, "02-editor-refused-image")
    assert my_types(hub, alice) == []

    page.fill("#jhs-t-image", "quay.io/jupyter/r-notebook:2025-10-20")
    page.uncheck("#jhs-t-to-1")  # 15 minutes: not offered
    page.locator("#jhs-type-save").click()
    page.wait_for_url(re.compile(r"/hub/home"))
    (t,) = my_types(hub, alice)
    assert t["spec"]["timeouts"] == [3600, 14400] and t["revision"] == 1
    card = page.locator(f"#jhs-my-types .jhs-tcard[data-type='{t['slug']}']")
    expect(card.locator(".jhs-tcard-name")).to_have_text("Team R <b>bold</b>")  # text, not markup
    card.locator("summary").click()
    details = card.locator(".jhs-type-details")
    expect(details.locator(".jhs-d-image")).to_contain_text("quay.io/jupyter/r-notebook:2025-10-20")
    expect(details.locator(".jhs-d-image")).to_contain_text("(not enforced here)")
    expect(details.locator(".jhs-d-timeouts")).to_contain_text("1 hour")
    expect(details.locator(".jhs-d-timeouts")).not_to_contain_text("15 minutes")
    expect(details.locator("pre.jhs-launch")).to_contain_text("-m jupyterhub.singleuser")
    shot(page, "03-dashboard-my-type-details")

    # the spawn form: under "Your session types", with the same details; start it
    page.goto(hub.url + f"hub/spawn/{alice}/r")
    expect(page.locator("#jhs-group-mine")).to_have_text("Your session types")
    own = page.locator(f".jhs-type[data-session-type='{t['slug']}']")
    own.locator("summary").click()
    expect(own.locator(".jhs-type-details pre.jhs-launch")).to_contain_text("-m jupyterhub.singleuser")
    own.locator("input[type=radio]").check()
    shot(page, "04-spawn-form-own-type")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(rf"/user/{alice}/r/"), timeout=START_TIMEOUT)
    page.wait_for_selector(LAB_SHELL, timeout=START_TIMEOUT)
    started = json.loads(session_env(hub, alice, "r")["JUPYTERHUB_SESSIONS_SESSION"])
    assert (started["session_type"], started["image"]) == (t["slug"], "quay.io/jupyter/r-notebook:2025-10-20")

    # the dashboard row names the type and its image; then edit it (revision 2) and delete it
    page.goto(hub.url + "hub/home")
    row = page.locator("#jhs-my-sessions tr[data-session='r']")
    expect(row.locator(".jhs-type")).to_contain_text("Team R <b>bold</b>")
    expect(row.locator(".jhs-image")).to_contain_text("quay.io/jupyter/r-notebook:2025-10-20")
    card.locator("[data-jhs-type-action=edit]").click()
    expect(page.locator("#jhs-t-image")).to_have_value("quay.io/jupyter/r-notebook:2025-10-20")
    page.fill("#jhs-t-name", "Team R")
    page.locator("#jhs-type-save").click()
    page.wait_for_url(re.compile(r"/hub/home"))
    expect(card.locator(".jhs-tcard-name")).to_have_text("Team R")
    expect(card).to_contain_text("revision 2")
    shot(page, "05-dashboard-after-edit")
    card.locator("[data-jhs-type-action=delete]").click()
    expect(page.get_by_text("Running sessions of it keep running")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/hub/home"))
    expect(page.locator("#jhs-no-own-types")).to_be_visible()
    assert my_types(hub, alice) == []
    # the running session is untouched
    assert hub.user_model(alice)["servers"]["r"]["ready"]
    shot(page, "06-dashboard-after-delete")


def test_a_shared_type_is_listed_under_its_author_and_a_custom_image_is_shown(hub, context, stop_all, shot):
    alice, bob = hub.new_user("alice"), hub.new_user("bob")
    stop_all(bob)
    group = new_group(hub, alice, bob)
    r = types_api(
        hub,
        "POST",
        token=hub.user_token(alice),
        json={
            "spec": {
                "name": "Team notebook",
                "description": "Our team's image",
                "image": "registry.example.org/team/nb:3",
                "share_with_groups": [group],
            }
        },
    )
    assert r.status_code == 201, r.text
    slug = r.json()["slug"]
    page = context.new_page()
    hub.login(page, bob)
    page.goto(hub.url + "hub/home")
    card = page.locator(f"#jhs-session-types .jhs-tcard[data-type='{slug}']")
    expect(card.locator(".jhs-tcard-author")).to_have_text(f"by {alice}")
    page.goto(hub.url + f"hub/spawn/{bob}/own")
    expect(page.locator("#jhs-group-shared")).to_have_text("Shared with you")
    expect(page.locator(f".jhs-type[data-session-type='{slug}'] .jhs-author")).to_have_text(f"by {alice}")

    # a custom image on an admin type: a refused one is named with its rule, a good one is recorded
    page.get_by_label("Notebook (JupyterLab)", exact=True).check()
    page.fill("#jhs-notebook-custom-image", "registry.example.org/bob/nb:latest")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Start").click()
    assert nav.value.status == 400
    expect(page.locator(".spawn-error-msg")).to_contain_text("rule: _policy.yaml: custom_images")
    expect(page.locator("#jhs-notebook-custom-image")).to_have_value("registry.example.org/bob/nb:latest")
    shot(page, "07-spawn-form-refused-image")
    page.fill("#jhs-notebook-custom-image", "registry.example.org/bob/nb:1.0")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(rf"/user/{bob}/own/"), timeout=START_TIMEOUT)
    page.wait_for_selector(LAB_SHELL, timeout=START_TIMEOUT)
    page.goto(hub.url + "hub/home")
    row = page.locator("#jhs-my-sessions tr[data-session='own']")
    expect(row.locator(".jhs-image")).to_have_text(
        "Your image: registry.example.org/bob/nb:1.0 (not enforced here)"
    )
    shot(page, "08-dashboard-custom-image")
    # the form offered again for this session keeps the image (what a restart sends)
    assert hub.user_model(bob)["servers"]["own"]["user_options"]["image"] == "registry.example.org/bob/nb:1.0"
