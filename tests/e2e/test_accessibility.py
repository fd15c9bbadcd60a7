"""The page for everyone: axe-core finds no serious or critical violation on any tab at desktop
and phone width (and in dark mode at desktop width); the keyboard alone reaches and moves the
text weight, the fusion radios and the results; result tiles are named by caption and score.
docs/accessibility.md says what else was checked and what is known not to work."""

from __future__ import annotations

import re

import pytest
from pages import CHROMIUM, NO_CHROMIUM, gallery_captions, launch, open_tab, show_every_view, wait_for_change

from mmdemo.data import gallery

playwright = pytest.importorskip("playwright.sync_api")
axe = pytest.importorskip("axe_playwright_python.sync_playwright")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)

TABS = ("Retrieve", "Classify", "Index", "Evaluate")
# Gradio internals the app cannot repair, each listed in docs/accessibility.md, as
# (axe rule, CSS selector of the node). Every entry must still match something.
GRADIO_INTERNAL: list[tuple[str, str]] = []


@pytest.fixture(scope="module")
def browser(server):
    with playwright.sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


def open_page(browser, url: str, width: int, scheme: str = "light"):
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.goto(url)
    page.wait_for_selector("#retrieve-text textarea", timeout=60_000)
    page.get_by_text("make it blue").first.click()  # an example: image + text, results and map
    wait_for_change(page, [])
    return page


def serious(page, where: str, matched: set) -> list[str]:
    """axe's serious and critical findings, less the listed exceptions (noted in ``matched``)."""
    found = []
    for rule in axe.Axe().run(page).response["violations"]:
        if rule["impact"] not in ("serious", "critical"):
            continue
        for node in rule["nodes"]:
            known = [(r, sel) for r, sel in GRADIO_INTERNAL if r == rule["id"] and page.evaluate(
                "([target, sel]) => document.querySelector(target)?.matches(sel)", [node["target"][0], sel])]
            matched.update(known)
            if not known:
                found.append(f"{where}: {rule['id']} {node['target']} {node['failureSummary'][:200]}")
    return found


def test_no_serious_axe_violation_on_any_tab_at_desktop_and_phone_width_nor_in_dark_mode(browser, server):
    found, matched = [], set()
    for width, scheme in ((1366, "light"), (390, "light"), (1366, "dark")):
        page = open_page(browser, server, width, scheme)
        for tab in TABS:
            open_tab(page, tab)
            if tab == "Retrieve":  # every view of the tab on screen: both views, a steering term, the texts layer
                show_every_view(page)
            if tab == "Classify":  # the probabilities and the labels' map drawn
                page.locator("#classify-image input[type=file]").set_input_files(
                    str(gallery.bundled_dir() / "shape-0001.png"))
                page.locator("#classify-plot li").first.wait_for(timeout=30_000)
            found += serious(page, f"{tab} at {width} px ({scheme})", matched)
        page.close()
    assert not found, "\n".join(found)
    stale = set(GRADIO_INTERNAL) - matched
    assert not stale, f"these exceptions match nothing any more; remove them: {sorted(stale)}"


def focus(page) -> str:
    """The focused element as `#block-id tag[type] name`, enough to see where Tab went."""
    return page.evaluate("""() => { const e = document.activeElement;
        return `#${e.closest('.block')?.id} ${e.tagName.toLowerCase()}[${e.type || ''}] ${e.ariaLabel || ''}`; }""")


def tab_to(page, selector: str, limit: int) -> int:
    """Press Tab until ``selector`` has the focus; the number of presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("(sel) => document.activeElement.matches(sel)", selector):
            return presses
    raise AssertionError(f"{selector} not reached in {limit} Tab presses; focus is on {focus(page)}")


def test_keyboard_alone_moves_the_weights_and_fusion_and_opens_a_result(browser, server):
    page = open_page(browser, server, 1366)
    try:
        page.locator("#retrieve-text textarea").focus()
        # negative text, then the image weight's box, reset and range, the text weight's box, reset
        assert tab_to(page, "#w-text input[type=range]", 8) <= 7
        for key, value in (("ArrowLeft", "0.55"), ("ArrowRight", "0.6")):
            before = gallery_captions(page)
            page.keyboard.press(key)
            wait_for_change(page, before)
            assert page.locator("#w-text input[type=range]").input_value() == value
        # The fusion radios are one tab stop; arrows choose among them.
        tab_to(page, "#fusion input:checked", 6)
        before = gallery_captions(page)
        page.keyboard.press("ArrowRight")
        page.locator("#retrieve-info", has_text="late fusion").wait_for(timeout=20_000)
        wait_for_change(page, before)
        page.keyboard.press("Tab")
        assert page.evaluate("!document.activeElement.closest('#fusion')"), focus(page)
        # Past the other settings and the Search button to the first result, named by its caption.
        tab_to(page, "#retrieve-gallery button.thumbnail-item", 15)
        name = " ".join(page.evaluate("document.activeElement.ariaLabel").split())  # as the caption shows
        assert name.startswith(gallery_captions(page)[0]) and re.match(r"#1 \d\.\d{3} \S", name), name
        assert name.endswith("(thumbnail 1 of 12)"), name
        page.keyboard.press("Enter")  # the detailed view of the result
        detail = page.get_by_role("button", name="detailed view of selected image")
        detail.wait_for(timeout=15_000)
        page.keyboard.press("ArrowRight")  # the next result
        page.locator("#retrieve-gallery .preview .caption", has_text=re.compile("^#2 ")).wait_for(timeout=15_000)
        page.keyboard.press("Escape")
        detail.wait_for(state="detached", timeout=15_000)
        # the result opened is offered as an example: More like this, by keyboard too
        page.locator("#steer-picked").wait_for(timeout=15_000)
        tab_to(page, "#steer-more", 20)  # right after the result tiles
        page.keyboard.press("Enter")
        page.locator("#steer-slot-0 input[type=range]").wait_for(timeout=15_000)
    finally:
        page.close()
