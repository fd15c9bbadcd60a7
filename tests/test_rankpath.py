"""Rank paths: the exact sweep against brute-force fusion at the grid and around every crossing."""

from __future__ import annotations

import numpy as np
import pytest

from mmdemo import fusion, rankpath


def unit(v):
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def query():
    rng = np.random.default_rng(7)
    gallery = unit(rng.normal(size=(2000, 24)))
    image, text = unit(gallery[3] + 0.8 * rng.normal(size=24)), unit(gallery[40] + 0.8 * rng.normal(size=24))
    parts = [fusion.Part("image", "image", image), fusion.Part("text", "text", text),
             fusion.Part("striped", "negative", unit(rng.normal(size=24))),
             fusion.Part("from: red", "text", unit(rng.normal(size=24)), sign=-1.0)]
    scores = np.stack([p.vector for p in parts]) @ gallery.T
    return parts, fusion.Candidates(np.arange(len(gallery)) * 3 + 5, scores, exact=True)  # rows ≠ positions


def brute(cand, parts, mode, w, k, total=1.0, threshold=None):
    kinds = {"image": total * (1 - w), "text": total * w, "negative": 0.4}
    return [int(r) for r in fusion.fuse(cand, parts, kinds, mode, k, threshold).rows]


def ranked(path, j):
    order = [(path.ranks[i, j], int(path.rows[i])) for i in range(len(path.rows)) if path.ranks[i, j]]
    return [row for _, row in sorted(order)]


def members(path, w):
    return {int(r) for r, spans in zip(path.rows, path.stable) if any(lo <= w <= hi for lo, hi in spans)}


@pytest.mark.parametrize("mode", ["early", "late", "rrf", "delta"])
def test_path_equals_brute_force_on_the_grid_and_around_each_crossing(query, mode):
    parts, cand = query
    parts = parts if mode == "delta" else parts[:3]
    cand = cand if mode == "delta" else fusion.Candidates(cand.rows, cand.scores[:3], True)
    kinds = fusion.effective_weights(parts, {"image": 0.5, "text": 0.5, "negative": 0.4})
    axis = rankpath.axis_for(parts, kinds)
    path = rankpath.path(cand, parts, axis, mode, k=8, steps=101)
    assert len(path.weights) == 101 and path.breakpoints
    for j, w in enumerate(path.weights):
        assert ranked(path, j) == brute(cand, parts, mode, w, 8), w
    # membership holds between crossings: probe the middle of every interval on both sides of
    # each one (float32 fusion cannot resolve a fixed offset of 1e-6 from every crossing)
    edges = [path.weights[0], *path.breakpoints, path.weights[-1]]
    for lo, hi in zip(edges, edges[1:]):
        if hi - lo > 1e-5:
            w = (lo + hi) / 2
            assert members(path, w) == set(brute(cand, parts, mode, w, 8)), (lo, hi)


def test_an_item_is_in_the_top_k_iff_a_stable_interval_holds_its_weight(query):
    parts, cand = query
    parts, cand = parts[:2], fusion.Candidates(cand.rows, cand.scores[:2], True)
    kinds = fusion.effective_weights(parts, {"image": 0.3, "text": 0.9, "negative": 0.0})
    axis = rankpath.axis_for(parts, kinds)
    assert axis.scale == pytest.approx(1.2) and axis.current == pytest.approx(0.75)
    path = rankpath.path(cand, parts, axis, "early", k=5, steps=21)
    for w in np.random.default_rng(1).random(300):
        assert members(path, w) == set(brute(cand, parts, "early", w, 5, total=1.2))
    # the path passes through the query as asked
    assert ranked(path, 15) == brute(cand, parts, "early", 0.75, 5, total=1.2)


def test_threshold_cuts_the_stable_intervals_where_scores_drop_below_it(query):
    parts, cand = query
    parts, cand = parts[:2], fusion.Candidates(cand.rows, cand.scores[:2], True)
    kinds = fusion.effective_weights(parts, {"image": 0.5, "text": 0.5, "negative": 0.0})
    top = fusion.fuse(cand, parts, kinds, "early", 10).scores
    threshold = float(top[5])  # bites: fewer than 10 results somewhere on the path
    path = rankpath.path(cand, parts, rankpath.axis_for(parts, kinds), "early", 10, 51, threshold)
    for j, w in enumerate(path.weights):
        assert ranked(path, j) == brute(cand, parts, "early", w, 10, threshold=threshold)
    for w in np.random.default_rng(2).random(200):
        assert members(path, w) == set(brute(cand, parts, "early", w, 10, threshold=threshold))


def test_two_terms_of_one_kind_trade_their_multipliers():
    rng = np.random.default_rng(3)
    gallery = unit(rng.normal(size=(300, 8)))
    parts = [fusion.Part("red", "text", gallery[1], multiplier=2.0), fusion.Part("star", "text", gallery[2])]
    cand = fusion.Candidates(np.arange(300), np.stack([p.vector for p in parts]) @ gallery.T, True)
    kinds = fusion.effective_weights(parts, {"image": 0.5, "text": 0.5, "negative": 0.5})
    axis = rankpath.axis_for(parts, kinds)
    assert (axis.low, axis.high) == ("red", "star") and axis.current == pytest.approx(1 / 3)
    path = rankpath.path(cand, parts, axis, "late", 6, 31)
    for j, w in enumerate(path.weights):
        moved = [fusion.Part("red", "text", gallery[1], multiplier=3 * (1 - w)),
                 fusion.Part("star", "text", gallery[2], multiplier=3 * w)]
        got = [int(r) for r in fusion.fuse(cand, moved, kinds, "late", 6).rows]
        assert ranked(path, j) == got


def test_ties_follow_the_candidate_order_and_queries_without_a_path_say_why():
    vec = unit(np.ones(4))
    parts = [fusion.Part("image", "image", vec), fusion.Part("text", "text", vec)]
    cand = fusion.Candidates(np.arange(6), np.ones((2, 6), np.float32), True)  # every line the same
    kinds = fusion.effective_weights(parts, {"image": 0.5, "text": 0.5, "negative": 0})
    path = rankpath.path(cand, parts, rankpath.axis_for(parts, kinds), "early", 3, 5)
    assert ranked(path, 2) == [0, 1, 2] and path.stable[0] == [(0.0, 1.0)] and not path.breakpoints
    alone = [fusion.Part("image", "image", vec)]
    assert "two positive parts" in rankpath.axis_for(alone, fusion.effective_weights(alone, kinds))
