"""Regenerate the README's screenshots from the real app in headless Chromium.

    python bench/screenshots.py [--out docs]

Starts ``python -m mmdemo serve`` on a free loopback port and writes:
- ``retrieve.png``: the "make it blue" example (a pink hexagon, text weight 0.6, early fusion),
  desktop width: blue results, per-part contributions, the map with the fused query;
- ``retrieve-phone.png``: the same on a 390 px wide phone, scrolled to the text-weight slider,
  with the results above it and the map below;
- ``classify.png``: the Classify tab on the same image with the hint "a hexagon" (hexagon the top bar).
Each shot checks what its README caption says (e.g. most results are blue) and fails if not.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import shutil

from slider_latency import ROOT, serve

from mmdemo.data import gallery


def captions(page) -> list[str]:
    return page.locator("#retrieve-gallery .caption-label").all_inner_texts()


def run_example(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#retrieve-text textarea", timeout=120_000)
    page.get_by_text("make it blue").first.click()
    page.wait_for_function("document.querySelectorAll('#retrieve-gallery .caption-label').length >= 12 && "
                           "document.querySelector('#space-map [data-kind=fused]')", timeout=60_000)
    page.wait_for_function("[...document.querySelectorAll('#retrieve-gallery img')].every(i => i.complete)")
    page.wait_for_timeout(500)


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
            blue = [c for c in captions(page) if "blue" in c]
            assert len(blue) >= 8 and "blue hexagon" in captions(page)[0], \
                f"the caption says blue results, a blue hexagon first; got {captions(page)}"
            assert page.locator("#w-text input[type=number]").input_value() == "0.6"
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "retrieve.png"), clip={"x": 0, "y": 0, "width": 1366, "height": 1150})

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
    print(f"wrote {', '.join(str(out / n) for n in ('retrieve.png', 'retrieve-phone.png', 'classify.png'))}")


if __name__ == "__main__":
    main()
