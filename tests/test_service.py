"""Retrieval and classification through the service, on the bundled gallery and built-in model."""

import re
import threading

import numpy as np
import pytest
from PIL import Image

from mmdemo import building, fusion, limits, service
from mmdemo.data import gallery
from mmdemo.errors import UserError
from mmdemo.index import Index


def bundled(name):
    return str(gallery.bundled_dir() / name)


def colours(out):
    return [r["caption"].split()[-2] for r in out["results"]]


def test_bundled_index_is_built_and_complete(bundled_index):
    idx = service.get_index(bundled_index)
    assert len(idx) == gallery.BUNDLED_SHAPES + gallery.BUNDLED_GARMENTS
    assert idx.manifest.model == "builtin" and idx.exact


def test_text_query_finds_its_colour_and_shape(bundled_index):
    out = service.retrieve(text="a red circle", k=5)
    assert all(r["caption"].endswith("red circle") for r in out["results"])
    assert out["weights"] == {"image": 0.0, "text": 1.0, "negative": 0.0}


def test_more_text_weight_gives_more_results_with_the_texts_colour(bundled_index):
    ref = bundled("shape-0001.png")  # a pink hexagon
    low = service.retrieve(image=ref, text="make it blue", w_image=0.9, w_text=0.1, k=12)
    high = service.retrieve(image=ref, text="make it blue", w_image=0.3, w_text=0.7, k=12)
    assert colours(low).count("blue") < colours(high).count("blue")
    assert [r["id"] for r in low["results"]] != [r["id"] for r in high["results"]]


@pytest.mark.parametrize("mode, w_text", [("early", 0.6), ("delta", 0.5)])
def test_pink_hexagon_made_blue_gives_blue_hexagons(bundled_index, mode, w_text):
    """The app's first example, at the snapshots' weights: the shape class must outrank where a
    shape sits. Composed retrieval's benchmark cannot see this (its target shares the geometry),
    so a model trained to keep geometry is held to it here."""
    out = service.retrieve(image=bundled("shape-0001.png"), text="make it blue", fusion_mode=mode,
                           w_image=1 - w_text, w_text=w_text, k=6)
    captions = [r["caption"] for r in out["results"]]
    assert sum(c.endswith("blue hexagon") for c in captions) >= 5, captions


def test_reranking_equals_a_fresh_exact_search(bundled_index):
    """Re-weighting cached part scores gives what FAISS gives for the fused query."""
    idx = service.get_index(bundled_index)
    enc = service.index_encoder(idx)
    for w_text in (0.2, 0.5, 0.8):
        out = service.retrieve(image=bundled("shape-0002.png"), text="as a star", negative="orange",
                               w_image=1 - w_text, w_text=w_text, w_negative=0.3, k=20)
        parts = service.build_parts(enc, bundled("shape-0002.png"), "as a star", "orange").parts
        w = fusion.part_weights(parts, out["weights"])
        q = fusion.early_query(np.stack([p.vector for p in parts]), w)
        rows, scores = idx.search(q, 20)
        assert [r["id"] for r in out["results"]] == [idx.items[r].id for r in rows]
        np.testing.assert_allclose([r["score"] for r in out["results"]], scores, atol=1e-5)


def test_slider_moves_reuse_cached_part_scores(bundled_index, monkeypatch):
    service.retrieve(image=bundled("shape-0003.png"), text="in red", k=5)
    idx = service.get_index(bundled_index)
    calls = []
    monkeypatch.setattr(Index, "candidates", lambda *a, **k: calls.append(1))
    enc = service.index_encoder(idx)
    monkeypatch.setattr(enc, "encode_texts", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(enc, "encode_images", lambda *a, **k: calls.append(1))
    for w in np.linspace(0.05, 0.95, 10):
        service.retrieve(image=bundled("shape-0003.png"), text="in red", w_text=float(w), k=5,
                         fusion_mode=["early", "late", "rrf"][int(w * 10) % 3])
    assert calls == []  # no re-encoding, no re-scan


def test_every_fusion_mode_and_threshold(bundled_index):
    for mode in fusion.MODES:
        out = service.retrieve(image=bundled("shape-0004.png"), text="make it green", fusion_mode=mode, k=8)
        assert len(out["results"]) == 8 and out["fusion"] == mode
    assert service.retrieve(text="a green star", k=50, threshold=0.99)["results"] == []


def test_delta_guesses_the_source_from_the_image(bundled_index):
    out = service.retrieve(image=bundled("shape-0001.png"), text="make it blue", fusion_mode="delta", k=3)
    assert out["source"] == "pink"
    assert any(p["name"] == "from: pink" and p["weight"] < 0 for p in out["parts"])
    typed = service.retrieve(image=bundled("shape-0001.png"), text="make it blue", fusion_mode="delta",
                             source="green", k=3)
    assert typed["source"] == "green"


def test_multi_term_query(bundled_index, monkeypatch):
    expr = f"2:a yellow one + @{bundled('shape-0005.png')} - circle"
    with pytest.raises(UserError, match="server paths are not accepted"):  # API and UI: no paths
        service.retrieve(expression=expr, k=5)
    out = service.retrieve(expression=expr, k=5, allow_paths=True)  # the CLI's local user
    names = [p["name"] for p in out["parts"]]
    assert names == ["a yellow one", "shape-0005.png", "circle"]
    assert out["parts"][0]["weight"] == pytest.approx(2 * out["weights"]["text"])
    # the reference is an orange circle: the negative term pushes circles down, not always out
    plain = service.retrieve(expression=f"2:a yellow one + @{bundled('shape-0005.png')}", k=5, allow_paths=True)
    circles = [sum("circle" in r["caption"] for r in o["results"]) for o in (plain, out)]
    assert "circle" not in out["results"][0]["caption"] and circles[1] < circles[0]
    assert all("yellow" in r["caption"] for r in out["results"])
    # An item of the index, by id or file name, uses its stored embedding: no file is read. It is
    # an example: its multiplier is its weight, no slider scales it (the file's term takes the
    # image weight, 1 here; with no image part the item's query keeps w_text as set: w_image 0).
    by_name = service.retrieve(expression="2:a yellow one + @shape-0005.png - circle", k=5)
    item_id = next(r["id"] for r in service.retrieve(expression="@shape-0005.png", k=1)["results"])
    by_id = service.retrieve(expression=f"2:a yellow one + @{item_id} - circle", k=5)
    assert [r["id"] for r in by_name["results"]] == [r["id"] for r in by_id["results"]]
    assert [p["kind"] for p in by_id["parts"]] == ["text", "example", "negative"]
    file_term = service.retrieve(expression=expr, w_image=1.0, k=5, allow_paths=True)
    item_term = service.retrieve(expression=f"2:a yellow one + @{item_id} - circle", w_image=0.0, k=5)
    assert [r["id"] for r in item_term["results"]] == [r["id"] for r in file_term["results"]]
    assert [r["score"] for r in item_term["results"]] == pytest.approx(  # the stored row is fp16
        [r["score"] for r in file_term["results"]], abs=1e-3)
    monkeypatch.setattr(limits, "MAX_TERM_SCAN", 100)  # a bigger index is not scanned per term: ids only
    with pytest.raises(UserError, match="up to 100 items"):
        service.retrieve(expression="a yellow one + @shape-0005.png", k=5)
    assert service.retrieve(expression=f"a yellow one + @{item_id}", k=5)["results"]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "empty"),
    ({"text": "x", "w_text": float("nan")}, "finite"),
    ({"text": "x", "w_image": -1}, "≥ 0"),
    ({"text": "x", "w_image": 0, "w_text": 0, "w_negative": 0}, "all weights are zero"),
    ({"text": "x", "k": 0}, "k must be"),
    ({"text": "x", "fusion_mode": "magic"}, "unknown fusion mode"),
    ({"text": "x", "index": "../etc"}, "invalid index name"),
    ({"text": "x", "index": "missing"}, "no index named"),
    ({"image": b"garbage"}, "not a readable image"),
    ({"negative": "only this"}, "needs an image or a text"),
    ({"text": "make it red", "fusion_mode": "delta"}, "needs both"),
])
def test_bad_input_gets_a_clear_error(bundled_index, kwargs, message):
    with pytest.raises(UserError, match=message):
        service.retrieve(**kwargs)


def test_odd_images_and_texts_work(bundled_index):
    rgba = Image.new("RGBA", (3000, 20), (0, 0, 255, 128))
    assert service.retrieve(image=rgba, k=3)["results"]
    assert service.retrieve(text="🙂 " * 499, k=3)["results"]  # long texts are truncated by the tokenizer
    with pytest.raises(UserError, match="limit is 1000"):  # an enormous one is refused up front
        service.retrieve(text="🙂 " * 5000, k=3)


def test_concurrent_users_get_consistent_answers(bundled_index):
    expected = service.retrieve(text="a purple square", k=5)
    results, errors = [], []

    def user(i):
        try:
            w = 0.3 + 0.05 * (i % 5)
            service.retrieve(image=bundled(f"shape-{i:04d}.png"), text="a purple square", w_text=w, k=5)
            results.append(service.retrieve(text="a purple square", k=5))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(r["results"] == expected["results"] for r in results)


def test_classify_with_and_without_a_text_hint(builtin):
    labels = "circle, square, triangle, star, hexagon, cross"
    out = service.classify(bundled("shape-0001.png"), labels)
    assert out["labels"][0]["label"] == "hexagon"
    assert sum(r["score"] for r in out["labels"]) == pytest.approx(1.0, abs=1e-5)
    hinted = service.classify(bundled("shape-0001.png"), labels, "it is a star", w_image=0.2, w_text=0.8)
    assert hinted["labels"][0]["label"] == "star"
    only_text = service.classify(None, labels, "a cross")
    assert only_text["labels"][0]["label"] == "cross" and only_text["weights"]["image"] == 0
    with pytest.raises(UserError, match="at least two"):
        service.classify(bundled("shape-0001.png"), "circle")


def test_index_model_mismatch_is_refused(bundled_index, tmp_path):
    import tiny_models

    other = f"open_clip:{tiny_models.TINY_ARCH}@{tiny_models.open_clip_weights(tmp_path, 0)}"
    with pytest.raises(UserError, match="built with 'builtin'"):
        service.retrieve(index=bundled_index, text="a red one", model=other)


def test_learned_fusion_works_out_of_the_box_on_the_bundled_index(bundled_index):
    """ensure_index (the app's first start) trained the bundled index's combiner."""
    out = service.retrieve(image=bundled("shape-0001.png"), text="make it blue", fusion_mode="learned", k=5)
    assert [p["name"] for p in out["parts"]] == ["learned"] and "learned" in out["formula"]
    assert "blue hexagon" in out["results"][0]["caption"]
    with pytest.raises(UserError, match="needs both"):
        service.retrieve(text="make it blue", fusion_mode="learned")


def test_the_shipped_combiner_fits_the_shipped_builtin_model(builtin):
    from mmdemo.evaluate import learned

    assert learned.shipped_for(builtin) is not None, (
        "the built-in weights changed: refresh their combiner with "
        "`mmdemo train-combiner --index bundled --ship`")


def test_missing_combiner_error_names_the_command_that_fixes_it(bundled_index, builtin):
    """The message's command, run as the CLI would, makes learned fusion work on that index."""
    import shlex

    from mmdemo.cli import main

    building.build_index("no-combiner", "bundled")
    with pytest.raises(UserError, match="no learned combiner") as err:
        service.retrieve("no-combiner", bundled("shape-0001.png"), "make it blue", fusion_mode="learned")
    command = re.search(r"`(mmdemo [^`]+)`", str(err.value)).group(1)
    assert main(shlex.split(command)[1:]) == 0
    out = service.retrieve("no-combiner", bundled("shape-0001.png"), "make it blue", fusion_mode="learned", k=5)
    assert "blue hexagon" in out["results"][0]["caption"]


def test_learned_combiner_and_cv_defaults_saved_with_an_index(bundled_index, builtin):
    from mmdemo.evaluate import composed
    from mmdemo.index import read_manifest

    building.build_index("saved-defaults", "bundled")
    small = composed.training_triplets(builtin, n_shapes=1500)  # the full 8,000 is for eval, not tests
    model, cfg = composed.train_combiner(builtin, triplets=small)
    cv_result = {"k": 5, "mean": 0.9, "std": 0.01, "chosen": {"mode": "delta", "w_text": 0.4}}
    saved = composed.save_to_index({"_combiner": (model, cfg), "cv": cv_result}, "saved-defaults")
    assert saved["combiner"] and read_manifest("saved-defaults").defaults["fusion"] == "delta"
    out = service.retrieve("saved-defaults", bundled("shape-0001.png"), "make it blue", fusion_mode="learned", k=5)
    assert "blue" in out["results"][0]["caption"] and sum("blue" in r["caption"] for r in out["results"]) >= 3
    # the index still loads and searches as before: saving defaults touched only the manifest
    assert service.retrieve("saved-defaults", text="a red circle", k=3)["results"][0]["caption"].endswith(
        "red circle")