"""Browser fixtures for the end-to-end tests (shared `hub` and `browser` from tests/conftest.py)."""

import pytest


@pytest.fixture
def context(browser, request, tmp_path):
    """A fresh browser context (own cookies) per test; a screenshot of each page if the test fails."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(30_000)
    yield ctx
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for i, page in enumerate(ctx.pages):
            try:
                page.screenshot(path=str(tmp_path / f"page-{i}.png"), full_page=True)
                print(f"screenshot of {page.url}: {tmp_path / f'page-{i}.png'}")
            except Exception:  # noqa: BLE001 - best effort only
                pass
    ctx.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def stop_all(hub):
    """Stop every session of the users a test registers, even when it fails."""
    users = []
    yield users.append
    for user in users:
        for name in list(hub.user_model(user)["servers"]):
            hub.stop_session(user, name)
