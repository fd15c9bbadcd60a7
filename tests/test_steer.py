"""Steering by example and the modality gap, through the service: examples are ``@ID`` terms,
a region is the mean of its rows, centering moves texts only; on every kind of index."""

from __future__ import annotations

import numpy as np
import pytest

from mmdemo import fusion, gap, ondisk, paths, service, sessions
from mmdemo.data import gallery
from mmdemo.errors import UserError
from mmdemo.index import Index
from mmdemo.manifest import Manifest


def ids(out):
    return [r["id"] for r in out["results"]]


def scores(out):
    return [r["score"] for r in out["results"]]


@pytest.fixture(scope="module")
def items(bundled_index):
    idx = service.get_index(bundled_index)
    return idx, {it.caption: it.id for it in idx.items}


@pytest.fixture(scope="module")
def on_disk(bundled_index, builtin):
    """The bundled gallery's rows as an out-of-core (IVF-PQ) index of the same model."""
    idx = service.get_index(bundled_index)
    m = Manifest("steer-disk", builtin.spec, builtin.fingerprint, builtin.dim, "")
    rows = [{"id": it.id, "path": it.path, "sha1": it.sha1, "caption": it.caption, "label": it.label,
             "source": it.source} for it in idx.items]
    big = np.tile(idx.embeddings, (12, 1))  # PQ trains on ≥ 10k rows; ids repeat past the first copy
    big_rows = rows + [{**r, "id": f"{n:016x}x"[:16], "sha1": f"{n:040x}"} for n, r in
                       enumerate(rows * 11, start=len(rows))]
    ondisk.write(paths.index_dir() / "steer-disk", m, big, iter(big_rows), ondisk.plan(len(big), builtin.dim, 1 << 20))
    return "steer-disk"


@pytest.mark.parametrize("index", ["bundled", "steer-disk", "private"])
def test_examples_equal_the_expression_with_those_items(bundled_index, items, on_disk, index):
    idx, by_caption = items
    a, b = idx.items[7].id, idx.items[300].id
    target = {"private": private_copy(idx), "bundled": bundled_index, "steer-disk": on_disk}[index]
    steered = service.retrieve(target, text="a red one", k=8, w_image=0.3, w_text=0.7,
                               examples=[{"id": a, "weight": 0.8}, {"id": b, "weight": -0.4}])
    spelled = service.retrieve(target, expression=f"a red one + 0.8:@{a} - 0.4:@{b}", k=8, w_image=0.3, w_text=0.7)
    assert ids(steered) == ids(spelled) and scores(steered) == pytest.approx(scores(spelled), abs=1e-6)
    assert [p["kind"] for p in steered["parts"]] == ["text", "example", "example"]
    assert steered["parts"][2]["weight"] == pytest.approx(-0.4)  # its own weight: no slider scales it


def private_copy(idx) -> Index:
    """A visitor's gallery: an unsaved in-memory index (the service never writes it)."""
    copy = Index.create(sessions.PRIVATE, idx.manifest.model, idx.manifest.fingerprint, idx.manifest.dim, "Flat")
    copy.add(idx.embeddings[:400], list(idx.items[:400]))
    return copy


def test_more_like_this_raises_the_item_and_region_is_the_mean_of_its_rows(bundled_index, items):
    idx, _ = items
    base = service.retrieve(text="a blue one", k=12)
    third = base["results"][2]["id"]
    more = service.retrieve(text="a blue one", k=12, examples=[{"id": third, "weight": 0.5}])
    assert ids(more).index(third) < 2
    picked = [r["id"] for r in service.retrieve(text="a green star", k=30)["results"]]
    region = service.retrieve(text="a red one", k=5, region={"ids": picked, "weight": 0.6})
    rows = idx.rows_of(picked)
    centroid = idx.embeddings[rows].mean(axis=0)
    centroid /= np.linalg.norm(centroid)
    g = idx.embeddings
    text = service.text_vector(service.index_encoder(idx), "a red one")
    # no image: its weight moves to the text (1.0 in all); the region weighs its own 0.6
    expected = np.argsort(-(1.0 * (g @ text) + 0.6 * (g @ centroid)), kind="stable")[:5]
    assert ids(region) == [idx.items[int(r)].id for r in expected]
    assert region["parts"][1]["name"] == "region of 30 items"


@pytest.mark.parametrize("kwargs, message", [
    ({"examples": [{"id": "nope", "weight": 1}]}, "is no item of index"),
    ({"examples": [{"id": "x", "weight": 11}]}, "between -10 and 10"),
    ({"examples": [{"id": "x", "weight": "lots"}]}, "must be a number"),
    ({"examples": [{"id": f"x{i}", "weight": 1} for i in range(9)]}, "at most 8"),
    ({"examples": [{"id": "a"}, {"id": "a"}]}, "given twice"),
    ({"examples": "not a list"}, "must be a list"),
    ({"examples": [{"id": {"$gt": 1}}]}, "must be an item id"),
    ({"region": {"ids": [], "weight": 1}}, "at least one"),
    ({"region": {"ids": [str(i) for i in range(4001)]}}, "at most 4,000"),
    ({"region": {"ids": ["nope"]}}, "is no item of index"),
    ({"region": {"ids": ["a"], "weight": float("nan")}}, "between -10 and 10"),
])
def test_bad_steering_is_one_clear_message(bundled_index, kwargs, message):
    with pytest.raises(UserError, match=message):
        service.retrieve(text="a red one", **kwargs)


def test_ids_of_another_index_are_refused(bundled_index, items):
    idx, _ = items
    private = private_copy(idx)
    outside = idx.items[500].id  # in the bundled index, not in the first 400 the private copy holds
    with pytest.raises(UserError, match="is no item of index 'my-uploads'"):
        service.retrieve(private, text="a red one", examples=[{"id": outside, "weight": 1}])


def test_centering_moves_texts_only(bundled_index, items):
    idx, _ = items
    encoder = service.index_encoder(idx)
    g = service.modality_gap(idx, encoder)
    assert g.source == "captions" and g.norm > 0.3 and 0 < g.pair_cos < 1
    image = str(gallery.bundled_dir() / "shape-0001.png")
    plain, centred = (service.retrieve(image=image, k=20, center=c) for c in (False, True))
    assert ids(plain) == ids(centred) and scores(plain) == pytest.approx(scores(centred))
    # texts moved by the gap: their mean lands on the images' (before: the gap apart), and each
    # image's own caption comes much closer to it
    texts = g.text_vectors[g.text_of]
    moved = gap.center_texts(texts, g)
    assert np.linalg.norm(moved.mean(axis=0) - g.image_mean) < 0.05 * g.norm
    rows = idx.embeddings[g.rows]
    assert np.mean(np.sum(rows * moved, axis=1)) > g.pair_cos + 0.2
    text_only = [service.retrieve(text="a blue star", k=10, center=c) for c in (False, True)]
    assert text_only[1]["centered"] and text_only[0]["parts"] == text_only[1]["parts"]
    again = gap.load(gap.cache_file(paths.index_dir() / bundled_index, idx.manifest.data))
    assert again is not None and again.texts == g.texts  # kept beside the index for this generation


def test_centering_needs_texts(bundled_index, items):
    idx, _ = items
    bare = Index.create(sessions.PRIVATE, idx.manifest.model, idx.manifest.fingerprint, idx.manifest.dim, "Flat")
    unlabelled = [type(it)(it.id, it.path, it.sha1) for it in idx.items[:20]]
    bare.add(idx.embeddings[:20], unlabelled)
    with pytest.raises(UserError, match="centering needs texts"):
        service.retrieve(bare, text="a red one", center=True)


def test_learned_fusion_refuses_examples(bundled_index, items):
    idx, _ = items
    image = str(gallery.bundled_dir() / "shape-0001.png")
    with pytest.raises(UserError, match="learned fusion composes one image"):
        service.retrieve(image=image, text="make it blue", fusion_mode="learned",
                         examples=[{"id": idx.items[3].id, "weight": 0.5}])
    assert fusion.EXAMPLE == "example"
