"""What the browser tests share: Debian's chromium, the gallery's captions, the tabs at any width."""

from __future__ import annotations

import shutil
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = "Debian's chromium is not installed (apt-get install chromium); .ci/run installs it"


def launch(p):
    """Headless chromium from the system, no browser download (``p``: a sync_playwright)."""
    return p.chromium.launch(executable_path=CHROMIUM,
                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])


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


def open_tab(page, name: str) -> None:
    """Click a tab; on a narrow page gradio keeps the last ones behind a "More tabs" menu."""
    tab = page.get_by_role("tab", name=name)
    if tab.is_visible():
        tab.click()
    else:
        page.get_by_role("button", name="More tabs").click()
        page.locator(".overflow-dropdown button", has_text=name).click()
    page.get_by_role("tab", name=name, selected=True).wait_for(timeout=5_000)


def show_every_view(page) -> None:
    """On Retrieve with results: the strategies and rank-path views open, a result added as an
    example, the map's modality-gap layer on (so an audit sees all of the tab's markup)."""
    page.locator("#compare-view").click()
    page.locator("#paths-view").click()
    page.locator("#compare td[data-id]").first.wait_for(timeout=30_000)
    page.locator("#paths .path-item").first.wait_for(state="attached", timeout=30_000)
    page.locator("#retrieve-gallery .thumbnail-item").nth(2).click()
    page.keyboard.press("Escape")
    page.locator("#steer-more").click()
    page.locator("#steer-slot-0 input[type=range]").wait_for(timeout=20_000)
    page.locator("#map-texts input").check()
    page.locator("#space-map #map-gap").wait_for(state="attached", timeout=30_000)
