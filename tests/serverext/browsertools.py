"""Headless Chromium helpers for JupyterLab pages (tests and benchmarks)."""

from __future__ import annotations

from tests.hubtools import CHROMIUM, CHROMIUM_ARGS

CELL_EDITOR = ".jp-Notebook .jp-Cell .cm-content"


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def empty_notebook(source: str = "") -> dict:
    return {
        "cells": [
            {
                "cell_type": "code",
                "source": source,
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "id": "first-cell",
            }
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def authorize_shared_server(page, timeout_ms: int = 60_000) -> None:
    """A shared (not own) server asks the visitor to confirm the OAuth grant once."""
    page.wait_for_url(lambda u: "/oauth2/authorize" in u or "/lab" in u, timeout=timeout_ms)
    if "/oauth2/authorize" in page.url:
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(lambda u: "/lab" in u, timeout=timeout_ms)


def open_notebook(page, url: str, timeout_ms: int = 120_000):
    """Open a notebook in JupyterLab and wait until its first cell can be edited."""
    response = page.goto(url)
    page.locator(CELL_EDITOR).first.wait_for(timeout=timeout_ms)
    return response


def type_in_first_cell(page, text: str) -> None:
    editor = page.locator(CELL_EDITOR).first
    editor.click()
    page.keyboard.press("End")
    page.keyboard.type(text)


def wait_for_cell_text(page, text: str, timeout_ms: int = 30_000) -> None:
    page.locator(CELL_EDITOR, has_text=text).first.wait_for(timeout=timeout_ms)


def api_fetch(page, method: str, path: str, body=None) -> tuple[int, str]:
    """fetch() from the page: the browser's own cookies, plus the server's XSRF cookie."""
    return tuple(
        page.evaluate(
            """async ([method, path, body]) => {
                const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1];
                const headers = {"Content-Type": "application/json"};
                if (xsrf) headers["X-XSRFToken"] = decodeURIComponent(xsrf);
                const r = await fetch(path, {method, headers, credentials: "same-origin",
                                             body: body === null ? undefined : JSON.stringify(body)});
                return [r.status, await r.text()];
            }""",
            [method, path, body],
        )
    )
