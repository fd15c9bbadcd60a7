"""axe-core on every tab of the real app: serious and critical violations per tab, width and
colour scheme (the counts in docs/accessibility.md).

    python bench/axe_audit.py [--url URL] [--empty] [--composed] [--widths 1366 390] [--schemes light dark]

Starts ``python -m mmdemo serve`` on a free loopback port unless ``--url`` names a running
server (e.g. one started from an older checkout, to count what a change fixed). Each page runs
the "make it blue" example and classifies a bundled image first, so results, maps and
probabilities are on the page (on Retrieve also both views, a steering term and the gap layer);
``--empty`` audits the tabs as loaded instead. ``--composed``
also runs the composed evaluation (about 2-3 minutes on 2 cores, once per server) so the
Evaluate tab's tables and plot are audited. Prints JSON: one row per (width, scheme, tab) with
the count of serious/critical nodes per rule, and the total. No exceptions are subtracted: the
test (tests/e2e/test_accessibility.py) is where known gradio internals would be excused.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))  # the tests' page helpers

import argparse
import json
from collections import Counter

from pages import launch, open_tab, show_every_view
from slider_latency import serve

from mmdemo.data import gallery

TABS = ("Retrieve", "Classify", "Index", "Evaluate")


def fill(page, composed: bool) -> None:
    """Put results on the page: the example on Retrieve, an image on Classify, and the composed
    evaluation on Evaluate when asked (each tab is left where it was)."""
    page.get_by_text("make it blue").first.click()
    page.locator("#space-map [data-kind=fused]").wait_for(timeout=60_000)
    show_every_view(page)
    open_tab(page, "Classify")
    image = next(e.file for e in gallery.bundled_entries() if e.file.name == "shape-0001.png")  # made if missing
    page.locator("#classify-image input[type=file]").set_input_files(str(image))
    page.locator("#classify-map [data-kind=fused]").wait_for(timeout=60_000)
    if composed:
        open_tab(page, "Evaluate")
        page.get_by_role("button", name="Composed retrieval").click()
        page.locator("#eval-sweep svg").first.wait_for(timeout=600_000)
    open_tab(page, "Retrieve")


def audit(browser, url: str, width: int, scheme: str, empty: bool, composed: bool) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.goto(url)
    page.wait_for_selector("#retrieve-text textarea", timeout=120_000)
    if not empty:
        fill(page, composed)
    rows = []
    for tab in TABS:
        open_tab(page, tab)
        page.wait_for_timeout(500)  # plots draw after the tab shows
        found = Counter()
        for rule in Axe().run(page).response["violations"]:
            if rule["impact"] in ("serious", "critical"):
                found[rule["id"]] += len(rule["nodes"])
        rows.append({"width": width, "scheme": scheme, "tab": tab, "serious": sum(found.values()),
                     "rules": dict(found)})
    page.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="audit this running server instead of starting one")
    ap.add_argument("--empty", action="store_true", help="audit the tabs as loaded, without results")
    ap.add_argument("--composed", action="store_true", help="run the composed evaluation first (minutes)")
    ap.add_argument("--widths", type=int, nargs="+", default=[1366, 390])
    ap.add_argument("--schemes", nargs="+", default=["light", "dark"], choices=["light", "dark"])
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    proc, url = (None, a.url) if a.url else serve(Path("/tmp/mmdemo-axe-audit.log"))
    try:
        with sync_playwright() as p:
            browser = launch(p)
            rows = [row for width in a.widths for scheme in a.schemes
                    for row in audit(browser, url, width, scheme, a.empty, a.composed)]
            browser.close()
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
    print(json.dumps({"state": "as loaded" if a.empty else "with results", "rows": rows,
                      "total_serious": sum(r["serious"] for r in rows)}, indent=1))


if __name__ == "__main__":
    main()
