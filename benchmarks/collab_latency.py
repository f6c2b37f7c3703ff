"""Co-editing latency: time for an edit in one browser to appear in the other.

Boots the embedded platform (tests/hubtools.py: JupyterHub + CHP + local
sessions on free ports, scratch data dir), starts a collaborative session,
shares it with a second user through the server extension's API, opens the
same notebook in two headless Chromium contexts and types N short edits,
alternating direction. Each figure is from the start of typing in one page
until the text is in the other's editor DOM (polled every 5 ms in the page).

Run:  .venv/bin/python benchmarks/collab_latency.py [--edits 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hubtools import start_hub  # noqa: E402
from tests.serverext.browsertools import (  # noqa: E402
    CELL_EDITOR,
    authorize_shared_server,
    empty_notebook,
    launch_chromium,
    open_notebook,
)

# records (epoch ms) when `text` shows up; returns at once so typing can start
WATCH_JS = """([sel, text]) => {
    window.__seen = window.__seen || {};
    const check = () => {
        for (const el of document.querySelectorAll(sel)) {
            if (el.textContent.includes(text)) { window.__seen[text] = Date.now(); return; }
        }
        setTimeout(check, 5);
    };
    check();
}"""


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=20)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="collab-bench-") as tmp:
        hub = start_hub(Path(tmp), timeout=240)
        try:
            owner, guest = hub.new_user("owner"), hub.new_user("guest")
            r = hub.start_session(owner, "bench", options={"session_type": "notebook", "collaborative": True})
            r.raise_for_status()
            base = f"user/{owner}/bench/"
            token = hub.user_token(owner)
            hub.request(
                "PUT",
                base + "api/contents/bench.ipynb",
                token=token,
                json={"type": "notebook", "format": "json", "content": empty_notebook("# bench\n")},
            ).raise_for_status()
            r = hub.request("POST", base + "sessions-api/shares", token=token, json={"user": guest})
            assert r.status_code == 201, r.text

            with sync_playwright() as p:
                browser = launch_chromium(p)
                pages = {}
                for name in (owner, guest):
                    page = browser.new_context().new_page()
                    hub.login(page, name)
                    pages[name] = page
                url = hub.url + base + "lab/tree/bench.ipynb"
                pages[guest].goto(url)
                authorize_shared_server(pages[guest])
                t = time.perf_counter()
                for page in pages.values():
                    open_notebook(page, url)
                print(f"both JupyterLab pages ready in {time.perf_counter() - t:.1f} s")

                results = {"owner->guest": [], "guest->owner": []}
                for i in range(args.edits):
                    src, dst, key = (
                        (owner, guest, "owner->guest") if i % 2 == 0 else (guest, owner, "guest->owner")
                    )
                    marker = f" e{i}x{int(time.time() * 1000) % 100000}"
                    pages[src].locator(CELL_EDITOR).first.click()
                    pages[src].keyboard.press("End")
                    pages[dst].evaluate(WATCH_JS, [CELL_EDITOR, marker])
                    t0 = time.time() * 1000  # same machine: same clock as the page's Date.now()
                    pages[src].keyboard.insert_text(marker)
                    pages[dst].wait_for_function(
                        "t => window.__seen && window.__seen[t]", arg=marker, timeout=60_000
                    )
                    seen = pages[dst].evaluate("t => window.__seen[t]", marker)
                    results[key].append(seen - t0)
                browser.close()
        finally:
            hub.stop()

    everything = [v for vs in results.values() for v in vs]
    print(f"{args.edits} edits, ms from typing to visible in the other browser")
    print(f"{'direction':<14} {'n':>3} {'median':>8} {'p90':>8} {'max':>8}")
    for key, vs in [*results.items(), ("all", everything)]:
        print(f"{key:<14} {len(vs):>3} {statistics.median(vs):>8.0f} {pct(vs, 0.9):>8.0f} {max(vs):>8.0f}")


if __name__ == "__main__":
    main()
