"""Strategies side by side: each column is what fusion gives alone; agreement maths by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mmdemo import compare, fusion


def test_overlap_and_rbo_by_hand():
    assert compare.overlap([1, 2, 3, 4], [4, 3, 9, 8]) == 0.5
    assert compare.rbo([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert compare.rbo([1, 2, 3], [4, 5, 6]) == 0.0
    # A_1 = 0, A_2 = 1 (both hold 1 and 2): (1 - p)(0 + 1·p) + 1·p²
    assert compare.rbo([1, 2], [2, 1], p=0.9) == pytest.approx(0.1 * 0.9 + 0.81)
    # A_1 = 1, A_2 = 1/2, A_3 = 2/3: (1-p)(1 + p/2 + 2p²/3) + (2/3)p³
    p = 0.9
    assert compare.rbo([1, 2, 3], [1, 3, 4], p) == pytest.approx((1 - p) * (1 + p / 2 + 2 * p * p / 3) + 2 / 3 * p ** 3)
    # agreement at the top weighs more: a swap at ranks 1-2 costs more than one at 9-10
    base = list(range(10))
    late_swap, early_swap = base[:8] + [9, 8], [1, 0] + base[2:]
    assert compare.rbo(base, late_swap) > compare.rbo(base, early_swap)


def test_agreement_matrix_and_items_only_one_strategy_finds():
    tops = {"early": [1, 2, 3], "late": [1, 2, 4], "rrf": [5, 2, 1]}
    agree = compare.agreement(tops)
    assert agree["overlap"]["early"]["late"] == agree["overlap"]["late"]["early"] == pytest.approx(2 / 3, abs=1e-4)
    assert agree["rbo"]["rrf"]["rrf"] == 1.0
    assert compare.only_in(tops) == {"early": {3}, "late": {4}, "rrf": {5}}
    assert compare.only_in({"early": [1]}) == {"early": set()}


def test_each_column_equals_fusing_that_strategy_alone():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(400, 16)).astype(np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    parts = [fusion.Part("image", "image", g[0]), fusion.Part("make it blue", "text", g[9]),
             fusion.Part("striped", "negative", g[20]), fusion.Part("from: red", "text", g[30], sign=-1.0)]
    cand = fusion.Candidates(np.arange(400), np.stack([p.vector for p in parts]) @ g.T, exact=True)
    kinds = fusion.effective_weights(parts, {"image": 0.4, "text": 0.6, "negative": 0.3})
    out = compare.run(cand, parts, kinds, ["early", "late", "rrf", "delta"], k=10)
    plain = fusion.Candidates(cand.rows, cand.scores[:3], True)
    for mode in ("early", "late", "rrf"):
        alone = fusion.fuse(plain, parts[:3], kinds, mode, 10)
        col = out.columns[mode].fused
        assert col.rows.tolist() == alone.rows.tolist() and np.allclose(col.scores, alone.scores, rtol=0, atol=1e-6)
        assert np.allclose(col.contributions, alone.contributions) and len(out.columns[mode].parts) == 3
    delta = fusion.fuse(cand, parts, kinds, "delta", 10)
    assert out.columns["delta"].fused.rows.tolist() == delta.rows.tolist()
    no_text = compare.run(fusion.Candidates(cand.rows, cand.scores[:1], True), parts[:1],
                          fusion.effective_weights(parts[:1], kinds), ["early", "delta"], 5)
    assert "delta" not in no_text.columns and "image and a text" in no_text.unavailable["delta"]
