"""Caps and the FAISS factory grammar: every accepted string builds, every rejected one is a
UserError (FAISS itself crashes the process on some of them)."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from mmdemo import limits
from mmdemo.classify import label_embeddings, parse_labels
from mmdemo.errors import UserError
from mmdemo.parts import split_negatives


@pytest.mark.parametrize("factory", ["Flat", "HNSW4", "HNSW32", "HNSW128,Flat", "IVF16,Flat", "IVF16,PQ8",
                                     "IVF16,PQ16x4", "OPQ8,IVF16,PQ8", "IVF16_HNSW32,Flat"])
def test_accepted_factories_build_and_search(factory):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 64)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = faiss.index_factory(64, limits.factory(factory, 64), faiss.METRIC_INNER_PRODUCT)
    index.train(x)
    index.add(x)
    assert index.search(x[:2], 3)[1].shape == (2, 3)


@pytest.mark.parametrize("factory, words", [
    ("HNSW1", "4 ≤ m"), ("HNSW0", "4 ≤ m"), ("HNSW999", "4 ≤ m"), ("RR0,Flat", "not accepted"),
    ("PQ1x0", "not accepted"), ("IVF0,Flat", "nlist"), ("IVF16,PQ7", "divide"), ("IVF16,PQ8x3", "bits"),
    ("IDMap,Flat", "not accepted"), ("Flat\n", None), ("{}" * 10, "not accepted"), ("IVF99999999,Flat", "not accepted"),
])
def test_rejected_factories_are_user_errors(factory, words):
    if words is None:  # surrounding whitespace is trimmed, not an attack
        assert limits.factory(factory, 64) == "Flat"
        return
    with pytest.raises(UserError, match=words):
        limits.factory(factory, 64)


def test_caps_say_the_limit():
    with pytest.raises(UserError, match="limit is 1000"):
        limits.text("x" * 1001)
    with pytest.raises(UserError, match="≤ 10"):
        limits.weight(10.5)
    with pytest.raises(UserError, match="finite"):
        limits.weight("inf")
    with pytest.raises(UserError, match="between 1 and 200"):
        limits.k(201)
    with pytest.raises(UserError, match="limit is 200"):
        parse_labels([f"l{i}" for i in range(201)])
    for bad in ("nan", 1.5, "high"):
        with pytest.raises(UserError, match="threshold must"):
            limits.threshold(bad)
    assert limits.threshold(None) is None and limits.threshold("-0.5") == -0.5
    with pytest.raises(UserError, match="limit is 1000"):
        split_negatives("x," * 600)  # one field, however it splits
    with pytest.raises(UserError, match="limit is 16"):
        split_negatives(",".join(f"n{i}" for i in range(17)))
    with pytest.raises(UserError, match="limit is 16"):
        split_negatives([f"n{i}" for i in range(10_000)])
    assert split_negatives("dark, , blurry") == ["dark", "blurry"]
    assert len(parse_labels(["a", "b"] * 5000)) == 2  # repeats are dropped in linear time


def test_templates_are_filled_by_plain_replacement(builtin):
    assert limits.fill("{:>100000000}{{}}", "cat") == "{:>100000000}{cat}"
    emb = label_embeddings(builtin, ["a star", "a circle"], ["{:>100000000} {}"])
    assert emb.shape == (2, builtin.dim)
    with pytest.raises(UserError, match="no {}"):
        label_embeddings(builtin, ["a", "b"], ["a photo"])
