"""The real page in headless Chromium: run an example, move a slider, see the gallery change."""

from __future__ import annotations

import os
import shutil
import statistics
import time

import pytest

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(apt-get install chromium); .ci/run installs it")
SHOTS = os.environ.get("MMDEMO_SCREENSHOTS")


@pytest.fixture(scope="module")
def page(server):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(server)
        page.wait_for_selector("#retrieve-text textarea", timeout=60_000)
        yield page
        browser.close()


def gallery_captions(page) -> list[str]:
    return page.locator("#retrieve-gallery .caption-label").all_inner_texts()


def wait_for_change(page, before: list[str], timeout: float = 20) -> list[str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = gallery_captions(page)
        if now and now != before:
            return now
        time.sleep(0.01)
    raise AssertionError(f"gallery did not change from {before[:3]}")


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def test_example_then_slider_reranks_live(page):
    page.get_by_text("make it blue").first.click()  # an example: image + text + weight
    first = wait_for_change(page, [])
    shot(page, "retrieve-example.png")
    slider = page.locator("#w-text input[type=number]")
    latencies = []
    for value in ("0.95", "0.05", "0.9", "0.1", "0.85", "0.15", "0.8", "0.2", "0.75", "0.25"):
        before = gallery_captions(page)
        start = time.perf_counter()
        slider.fill(value)
        slider.press("Enter")
        wait_for_change(page, before)
        latencies.append((time.perf_counter() - start) * 1000)
    assert gallery_captions(page) != first
    shot(page, "retrieve-slider.png")
    print(f"slider-to-new-results latency: median {statistics.median(latencies):.0f} ms, "
          f"all {[round(x) for x in latencies]}")


def test_bad_upload_shows_an_error_not_a_broken_page(page, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"definitely not a png")
    page.reload()
    page.wait_for_selector("#retrieve-text textarea", timeout=60_000)
    page.locator("#retrieve-image input[type=file]").set_input_files(str(bad))
    page.get_by_text("not a readable image").first.wait_for(timeout=20_000)
    shot(page, "retrieve-error.png")
    assert page.locator("#retrieve-text textarea").is_visible()


def test_other_tabs_render(page):
    for tab in ("Classify", "Index", "Evaluate"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(300)
        shot(page, f"tab-{tab.lower()}.png")
    page.get_by_role("tab", name="Retrieve").click()
