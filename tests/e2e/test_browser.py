"""The real page in headless Chromium: run an example, move a slider, see the gallery and the map
change; the phone layout; the Classify map. Latency is measured by bench/slider_latency.py."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from mmdemo.data import gallery

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


def fused_point(page, root: str = "#space-map") -> tuple[float, float]:
    marker = page.locator(f"{root} [data-kind=fused]")
    return float(marker.get_attribute("data-x")), float(marker.get_attribute("data-y"))


def move(page, slider_id: str, value: str) -> None:
    box = page.locator(f"#{slider_id} input[type=number]")
    box.fill(value)
    box.press("Enter")


def test_example_then_slider_reranks_live_and_moves_the_fused_point(page):
    page.get_by_text("make it blue").first.click()  # an example: image + text + weights
    first = wait_for_change(page, [])
    page.locator("#retrieve-image-preview img").wait_for(timeout=10_000)  # the example filled the preview
    shot(page, "retrieve-example.png")
    points = [fused_point(page)]
    for value in ("0.95", "0.05", "0.9"):
        before = gallery_captions(page)
        move(page, "w-text", value)
        wait_for_change(page, before)
        page.wait_for_function("([x]) => document.querySelector('#space-map [data-kind=fused]')"
                               ".getAttribute('data-x') !== x", arg=[str(points[-1][0])], timeout=20_000)
        points.append(fused_point(page))
    assert gallery_captions(page) != first
    image = page.locator("#space-map [data-kind=image]")
    text = page.locator("#space-map [data-kind=text]")
    ix, tx = float(image.get_attribute("data-x")), float(text.get_attribute("data-x"))
    # text weight 0.95 puts the fused point near the text, 0.05 near the image
    assert abs(points[1][0] - tx) < abs(points[1][0] - ix) and abs(points[2][0] - ix) < abs(points[2][0] - tx)
    assert page.locator("#space-map #map-top circle").count() == 12  # the top-k, ringed
    shot(page, "retrieve-slider.png")


def test_enter_in_the_negative_box_searches(page):
    negative = page.locator("#retrieve-negative textarea")
    negative.fill("hexagon")
    negative.press("Enter")
    page.locator("#retrieve-info", has_text="negative (negative)").wait_for(timeout=20_000)
    page.locator("#space-map [data-kind=negative]").wait_for(timeout=20_000)
    negative.fill("")
    negative.press("Enter")
    page.wait_for_function("!document.querySelector('#space-map [data-kind=negative]')", timeout=20_000)


def test_a_refused_query_clears_the_results_instead_of_keeping_the_old_ones(page):
    page.locator("#fusion label", has_text="learned").click()
    page.locator("#retrieve-info", has_text="learned fusion").wait_for(timeout=30_000)
    assert gallery_captions(page)  # learned works out of the box: results shown
    text = page.locator("#retrieve-text textarea")
    text.fill("")
    text.press("Enter")  # learned fusion without a text is refused
    page.locator("#retrieve-info", has_text="Not searched").wait_for(timeout=20_000)
    assert gallery_captions(page) == [] and page.locator("#space-map [data-kind=fused]").count() == 0
    text.fill("make it blue")
    page.locator("#fusion label", has_text="early").click()
    wait_for_change(page, [])


def test_phone_width_keeps_results_and_map_next_to_the_sliders(page, server):
    phone = page.context.browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone.goto(server)
        phone.wait_for_selector("#retrieve-text textarea", timeout=60_000)
        phone.get_by_text("make it blue").first.click()
        wait_for_change(phone, [])
        phone.locator("#retrieve-image-preview img").wait_for(timeout=10_000)
        phone.locator("#w-text").scroll_into_view_if_needed()
        slider, gallery, space = (phone.locator(s).bounding_box() for s in ("#w-text", "#retrieve-gallery",
                                                                              "#space-map"))
        assert gallery["y"] + gallery["height"] <= slider["y"] + 1  # results right above the sliders
        assert space["y"] >= slider["y"]  # the map below them
        assert slider["y"] - (gallery["y"] + gallery["height"]) < 300 and space["y"] - slider["y"] < 500
        before, point = gallery_captions(phone), fused_point(phone)
        move(phone, "w-text", "0.95")
        wait_for_change(phone, before)
        phone.wait_for_function("([x]) => document.querySelector('#space-map [data-kind=fused]')"
                                ".getAttribute('data-x') !== x", arg=[str(point[0])], timeout=20_000)
        # the results are in view while the slider is: part of the gallery shows above it
        assert phone.locator("#retrieve-gallery").bounding_box()["y"] + 100 < slider["y"] + slider["height"]
        shot(phone, "phone.png")
    finally:
        phone.close()


def test_classify_tab_mirrors_the_map_with_the_labels(page):
    page.get_by_role("tab", name="Classify").click()
    page.locator("#classify-image input[type=file]").set_input_files(str(gallery.bundled_dir() / "shape-0001.png"))
    page.locator("#classify-map [data-kind=fused]").wait_for(timeout=30_000)
    assert page.locator("#classify-map text").count() >= 10  # the labels, named
    hint = page.get_by_label("Text hint (fused with the image)")
    hint.fill("it is a star")
    hint.press("Enter")
    page.locator("#classify-map [data-kind=text]").wait_for(timeout=30_000)
    point = fused_point(page, "#classify-map")
    move(page, "classify-w-text", "0.9")
    page.wait_for_function("([x]) => document.querySelector('#classify-map [data-kind=fused]')"
                           ".getAttribute('data-x') !== x", arg=[str(point[0])], timeout=20_000)
    page.get_by_role("tab", name="Retrieve").click()


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


def upload_to(page, elem_id: str, path) -> None:
    """Choose a file in a gr.File and wait until it shows as uploaded. The file input can be
    re-created while the component re-renders (an output just cleared it, a tab just mounted):
    a choice made on the old one is lost, so it is made again."""
    for _ in range(3):
        page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))
        try:
            page.locator(f"#{elem_id}", has_text=path.name).wait_for(timeout=20_000)
            return
        except playwright.TimeoutError:
            continue
    raise AssertionError(f"{path.name} never showed as uploaded in #{elem_id}")


def test_evaluate_tab_evaluates_an_uploaded_zip_and_a_triplets_set(page, tmp_path):
    import own_data

    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-own").wait_for(timeout=20_000)
    upload_to(page, "eval-upload", own_data.classify_zip(tmp_path / "shapes.zip"))
    page.locator("#eval-own").click()
    page.locator("#eval-confusion img").wait_for(timeout=60_000)  # the heat map
    summary = page.locator("#eval-own-summary")
    assert "accuracy" in summary.inner_text() and "shapes/star/broken.png" in summary.inner_text()
    assert all(name in page.locator("#eval-recall").inner_text() for name in own_data.CLASSES)
    shot(page, "evaluate-own-classify.png")

    page.locator("#eval-kind label", has_text="composed").click()
    upload_to(page, "eval-upload", own_data.triplets_zip(tmp_path / "triplets.zip"))
    page.locator("#eval-own").click()
    page.locator("#eval-own-sweep img").wait_for(timeout=60_000)  # the sweep, CV choice starred
    assert "5-fold CV choice" in summary.inner_text() and "row 14" in summary.inner_text()
    assert page.locator("#eval-confusion").is_hidden()
    assert "delta" in page.locator("#eval-own-table").inner_text()
    shot(page, "evaluate-own-composed.png")
    page.get_by_role("tab", name="Retrieve").click()
