"""The real page in headless Chromium: run an example, move a slider, see the gallery and the map
change; the phone layout; the Classify map. Latency is measured by bench/slider_latency.py."""

from __future__ import annotations

import os

import pytest
from pages import CHROMIUM, NO_CHROMIUM, gallery_captions, launch, wait_for_change

from mmdemo.data import gallery

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
SHOTS = os.environ.get("MMDEMO_SCREENSHOTS")


@pytest.fixture(scope="module")
def page(server):
    with playwright.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(server)
        page.wait_for_selector("#retrieve-text textarea", timeout=60_000)
        yield page
        browser.close()


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


def make_it_blue(page) -> None:
    """A fresh page with the "make it blue" example's results shown."""
    page.reload()
    page.wait_for_selector("#retrieve-text textarea", timeout=60_000)
    page.get_by_text("make it blue").first.click()
    wait_for_change(page, [])


def cells(page) -> dict[str, list[tuple[str, str]]]:
    """Each strategy column of the compare view: (id, score) per rank."""
    out: dict[str, list] = {}
    for cell in page.locator("#compare td[data-id]").all():
        out.setdefault(cell.get_attribute("data-strategy"), []).append(
            (cell.get_attribute("data-id"), cell.locator("b").inner_text()))
    return out


def test_compare_columns_and_the_rank_path_marker_follow_the_slider(page):
    make_it_blue(page)
    page.locator("#compare-view").click()
    page.locator("#compare td[data-id]").first.wait_for(timeout=30_000)
    page.locator("#paths-view").click()
    page.locator("#paths-current").wait_for(state="attached", timeout=30_000)
    before, marker = cells(page), page.locator("#paths-current").get_attribute("data-w")
    assert set(before) == {"early", "late", "rrf", "delta", "learned"} and marker == "0.6"
    shot(page, "compare-paths.png")
    move(page, "w-text", "0.95")
    moved = str(round(0.95 / (0.4 + 0.95), 6))  # the text's share of the image + text weight
    page.wait_for_function("([w]) => document.querySelector('#paths-current').getAttribute('data-w') === w",
                           arg=[moved], timeout=20_000)
    page.wait_for_timeout(300)
    after = cells(page)
    for strategy in ("early", "late", "rrf", "delta"):  # every column the weights drive
        assert after[strategy] != before[strategy], strategy
    assert after["learned"] == before["learned"]  # model-level fusion does not use the sliders


def table_id(page, row: int) -> str:
    """The id column (the last) of a row of the results table."""
    return page.locator(f"#retrieve-table [data-testid=cell-{row}-5]").inner_text().strip()


def test_more_like_this_on_result_3_adds_a_weighted_term_and_raises_it(page):
    page.reload()
    page.wait_for_selector("#retrieve-text textarea", timeout=60_000)
    text = page.locator("#retrieve-text textarea")
    text.fill("a blue one")
    text.press("Enter")
    wait_for_change(page, [])
    third = table_id(page, 2)
    page.locator("#retrieve-gallery .thumbnail-item").nth(2).click()
    page.locator("#steer-picked").wait_for(timeout=10_000)
    page.keyboard.press("Escape")  # the gallery's preview
    before = gallery_captions(page)
    page.locator("#steer-more").click()
    page.locator("#steer-slot-0 input[type=range]").wait_for(timeout=10_000)
    wait_for_change(page, before)
    page.wait_for_function("([id]) => [0, 1].some(r => document.querySelector(`#retrieve-table "
                           "[data-testid=cell-${r}-5]`)?.innerText.trim() === id)", arg=[third], timeout=20_000)
    assert "example" in page.locator("#retrieve-info").inner_text()
    page.locator("#steer-remove-0").click()
    page.locator("#steer-slot-0").wait_for(state="hidden", timeout=10_000)


def map_point(page, n: int = 0) -> tuple[float, float]:
    """Screen coordinates of the n-th drawn item of the map."""
    return tuple(page.evaluate(
        """([n]) => { const p = document.querySelector('#space-map path.map-items');
        const m = [...p.getAttribute('d').matchAll(/M(-?[\\d.]+) (-?[\\d.]+)/g)][n];
        const [dx, dy] = p.dataset.o.split(' ').map(Number);  // the glyph's offset from its point
        const svg = p.ownerSVGElement, pt = svg.createSVGPoint(); pt.x = +m[1] - dx; pt.y = +m[2] - dy;
        const s = pt.matrixTransform(svg.getScreenCTM()); return [s.x, s.y]; }""", [n]))


def test_hover_shows_a_thumbnail_and_a_box_adds_a_region_term(page):
    make_it_blue(page)
    page.locator("#space-map svg.space-map").scroll_into_view_if_needed()
    x, y = map_point(page)
    page.mouse.move(x, y)
    page.wait_for_function("() => { const i = document.querySelector('#mm-tip img'); "
                           "return i && i.complete && i.naturalWidth > 0; }", timeout=20_000)
    page.mouse.click(x, y)  # a click adds the item as an example
    page.locator("#steer-slot-0 input[type=range]").wait_for(timeout=20_000)
    box = page.locator("#space-map svg.space-map").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.85, box["y"] + box["height"] * 0.7, steps=6)
    page.mouse.up()
    page.locator("#steer-offer-note", has_text="items selected").wait_for(timeout=20_000)
    before = gallery_captions(page)
    page.locator("#steer-less-region").click()
    page.locator("#steer-region input[type=range]").wait_for(timeout=10_000)
    wait_for_change(page, before)
    assert "region of" in page.locator("#retrieve-info").inner_text()
    page.locator("#space-map [data-kind=region]").wait_for(timeout=10_000)
    shot(page, "steer.png")


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
