"""The space map: PCA maths (pure), its cache beside the index, and queries placed on it."""

from __future__ import annotations

import numpy as np
import pytest

from mmdemo import querymap, service, spacemap
from mmdemo.data import gallery
from mmdemo.request import Query


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_pca_keeps_the_widest_directions_and_is_linear():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 16)) * np.array([9.0, 4.0] + [0.3] * 14)
    proj = spacemap.fit(x)
    assert abs(abs(proj.axes[0, 0]) - 1) < 0.01 and abs(abs(proj.axes[1, 1]) - 1) < 0.01
    assert proj.explained[0] > proj.explained[1] > 0.1 and proj.coords.shape == (500, 2)
    u, v = rng.normal(size=16), rng.normal(size=16)
    # a weighted mean of two points lands on the segment between their map points
    mixed = proj.place(0.3 * u + 0.7 * v)[0]
    assert np.allclose(mixed, 0.3 * proj.place(u)[0] + 0.7 * proj.place(v)[0], atol=1e-4)


def test_projection_is_cached_per_generation_and_old_maps_go(tmp_path):
    emb = unit(np.random.default_rng(1).normal(size=(50, 8)))
    first = spacemap.load_or_fit(tmp_path, "1", emb)
    assert spacemap.cache_file(tmp_path, "1").is_file()
    again = spacemap.load_or_fit(tmp_path, "1", emb * 0)  # read from the file, not refitted
    assert np.array_equal(first.coords, again.coords)
    spacemap.load_or_fit(tmp_path, "2", emb)
    assert [p.name for p in tmp_path.glob("map-*.npz")] == ["map-2.npz"]


def test_fused_point_slides_from_the_image_to_the_text(bundled_index):
    image = str(gallery.bundled_dir() / "shape-0001.png")
    seen = []
    for w_text in (0.1, 0.5, 0.9):
        m = querymap.query_map(bundled_index, Query.make(image, "make it blue", w_image=1 - w_text, w_text=w_text, k=5))
        q = {p["kind"]: np.array([p["x"], p["y"]]) for p in m["queries"]}
        seen.append(q)
        along = (q["fused"] - q["image"]) @ (q["text"] - q["image"]) / np.sum((q["text"] - q["image"]) ** 2)
        assert along == pytest.approx(w_text, abs=1e-3)  # on the segment, where the weights put it
        out = service.retrieve(bundled_index, image, "make it blue", w_image=1 - w_text, w_text=w_text, k=5)
        assert [t["id"] for t in m["top"]] == [r["id"] for r in out["results"]]
        assert all(t["row"] in m["items"]["rows"] for t in m["top"])
    assert not np.allclose(seen[0]["fused"], seen[2]["fused"])
    assert len(m["items"]["x"]) == len(service.get_index(bundled_index))


def test_learned_negative_and_empty_maps(bundled_index):
    image = str(gallery.bundled_dir() / "shape-0001.png")
    m = querymap.query_map(bundled_index, Query.make(image, "make it blue", negative="striped", fusion="learned"))
    assert [p["kind"] for p in m["queries"]] == ["image", "text", "negative", "fused"]
    assert querymap.query_map(bundled_index)["queries"] == []
    c = querymap.classification_map(image, "circle\nsquare\nhexagon\nstar", "a hexagon")
    assert c["items"]["label"] == ["circle", "square", "hexagon", "star"]
    assert [p["kind"] for p in c["queries"]] == ["image", "text", "fused"] and len(c["top"]) == 1


def test_an_unwritable_index_folder_still_gets_a_map(tmp_path):
    emb = unit(np.random.default_rng(2).normal(size=(20, 8)))
    missing = tmp_path / "gone"  # no such folder: the write fails, the projection does not
    assert spacemap.load_or_fit(missing, "1", emb).coords.shape == (20, 2)
