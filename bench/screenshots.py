"""Regenerate the README's screenshots from the real app in headless Chromium.

    python bench/screenshots.py [--out docs]

Starts ``python -m mmdemo serve`` on a free loopback port and writes:
- ``retrieve.png``: the "make it blue" example (a pink hexagon, text weight 0.6, early fusion),
  desktop width: blue results, per-part contributions, the map with the fused query;
- ``retrieve-phone.png``: the same on a 390 px wide phone, scrolled to the text-weight slider,
  with the results above it and the map below;
- ``compare.png``: the strategies side by side for the same example: early and delta must
  disagree (their top-12 lists differ), rrf finds items no other strategy does;
- ``paths.png``: the rank paths of the same example: a pink hexagon leads at w = 0, a blue
  hexagon at some weight before w = 1 (the crossing; printed), the current weight marked;
- ``classify.png``: the Classify tab on the same image with the hint "a hexagon" (hexagon the top bar).
Each shot checks what its caption says (e.g. the gallery's six blue hexagons first) and fails if not.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import shutil

from slider_latency import ROOT, serve

from mmdemo.data import gallery

SHOTS = ("retrieve.png", "compare.png", "paths.png", "retrieve-phone.png", "classify.png")


def captions(page) -> list[str]:
    return page.locator("#retrieve-gallery .caption-label").all_inner_texts()


def run_example(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#retrieve-text textarea", timeout=120_000)
    page.get_by_text("make it blue").first.click()
    page.wait_for_function("document.querySelectorAll('#retrieve-gallery .caption-label').length >= 12 && "
                           "document.querySelector('#space-map [data-kind=fused]')", timeout=60_000)
    page.locator("#retrieve-gallery").scroll_into_view_if_needed()  # its images load lazily, once in view
    page.wait_for_function("[...document.querySelectorAll('#retrieve-gallery img')].every(i => i.complete)")
    page.wait_for_timeout(500)


def views(page, out: Path) -> None:
    """The strategies and the rank paths of the example, each shot checked against its caption."""
    page.locator("#compare-view").click()
    page.locator("#compare td[data-id]").first.wait_for(timeout=60_000)
    page.locator("#paths-view").click()
    page.locator("#paths .path-item").first.wait_for(state="attached", timeout=60_000)
    page.wait_for_timeout(800)
    column = {s: page.locator(f"#compare td[data-strategy={s}][data-id]").evaluate_all(
        "cells => cells.map(c => c.dataset.id)") for s in ("early", "delta", "rrf")}
    assert column["early"] != column["delta"], "the caption says early and delta disagree"
    assert page.locator("#compare td[data-strategy=rrf][data-only]").count() > 0, "rrf finds items alone"
    table = page.locator("#compare .mm-compare")
    table.scroll_into_view_if_needed()
    table.screenshot(path=str(out / "compare.png"))
    w = crossing(page.url)
    assert 0 < w < 1, "the caption says blue hexagons overtake the pink ones inside the path"
    chart = page.locator("#paths")
    chart.scroll_into_view_if_needed()
    chart.screenshot(path=str(out / "paths.png"))
    print(f"rank paths: a blue hexagon first from w_text = {w:.2f} (a pink hexagon first at w_text = 0)")


def crossing(url: str) -> float:
    """The first text weight of the example's path at which a blue hexagon ranks first (the
    same query through ``/paths``), after a pink hexagon does at w = 0."""
    from gradio_client import Client, handle_file

    out = Client(url, verbose=False, download_files=False).predict(
        image=handle_file(str(gallery.bundled_dir() / "shape-0001.png")), text="make it blue", w_image=0.4,
        w_text=0.6, k=12, steps=101, api_name="/paths")
    first = [next((it["caption"] for it in out["items"] if it["ranks"][j] == 1), "") for j in range(len(out["weights"]))]
    assert "pink hexagon" in first[0], first[0]
    return next(w for w, c in zip(out["weights"], first) if "blue hexagon" in c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs"))
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    proc, url = serve(Path("/tmp/mmdemo-screenshots.log"))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1366, "height": 1150})
            run_example(page, url)
            first = [c for c in captions(page)[:6] if "blue hexagon" in c]
            assert len(first) == 6, f"the caption says the gallery's six blue hexagons first; got {captions(page)}"
            assert page.locator("#w-text input[type=number]").input_value() == "0.6"
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "retrieve.png"), clip={"x": 0, "y": 0, "width": 1366, "height": 1150})

            views(page, out)

            phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                     is_mobile=True, has_touch=True)
            run_example(phone, url)
            phone.locator("#w-text").scroll_into_view_if_needed()
            phone.evaluate("document.querySelector('#retrieve-results').scrollIntoView({block: 'start'})")
            box, slider = (phone.locator(s).bounding_box() for s in ("#retrieve-gallery", "#w-text"))
            assert slider["y"] + slider["height"] <= 844 and box["y"] >= -1, (box, slider)
            phone.screenshot(path=str(out / "retrieve-phone.png"))

            page.get_by_role("tab", name="Classify").click()
            page.locator("#classify-image input[type=file]").set_input_files(
                str(gallery.bundled_dir() / "shape-0001.png"))
            hint = page.get_by_label("Text hint (fused with the image)")
            hint.fill("a hexagon")
            hint.press("Enter")
            page.wait_for_function("document.querySelector('#classify-map [data-kind=text]')", timeout=60_000)
            page.wait_for_timeout(800)
            top = page.locator("#classify-plot .mm-bars-name").first.inner_text()
            assert top == "hexagon", f"the caption says hexagon comes first; got {top!r}"
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "classify.png"), clip={"x": 0, "y": 0, "width": 1366, "height": 1150})
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"wrote {', '.join(str(out / n) for n in SHOTS)}")


if __name__ == "__main__":
    main()
