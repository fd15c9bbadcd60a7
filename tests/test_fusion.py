import math

import numpy as np
import pytest
from PIL import Image, ImageFilter

from mmdemo import fusion
from mmdemo.errors import UserError
from mmdemo.fusion import Candidates, Part


def unit(*xs):
    v = np.array(xs, np.float32)
    return v / np.linalg.norm(v)


RED, BLUE, CIRCLE, SQUARE = (unit(*row) for row in np.eye(4))
GALLERY = {"red circle": unit(1, 0, 1, 0), "blue circle": unit(0, 1, 1, 0),
           "red square": unit(1, 0, 0, 1), "blue square": unit(0, 1, 0, 1)}
NAMES = list(GALLERY)
G = np.stack(list(GALLERY.values()))


def cand(parts, gallery=G):
    return Candidates(np.arange(len(gallery)), np.stack([p.vector for p in parts]) @ gallery.T, True)


def top_names(fused):
    return [NAMES[r] for r in fused.rows]


def random_gallery(n=500, d=32, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_early_fusion_equals_search_with_the_normalised_weighted_query():
    g = random_gallery()
    rng = np.random.default_rng(1)
    parts = [Part("image", "image", g[3]), Part("text", "text", unit(*rng.normal(size=32))),
             Part("neg", "negative", unit(*rng.normal(size=32)))]
    kinds = {"image": 0.3, "text": 0.7, "negative": 0.4}
    fused = fusion.fuse(cand(parts, g), parts, kinds, "early", k=20)
    q = fusion.early_query(np.stack([p.vector for p in parts]), np.array([0.3, 0.7, -0.4]))
    exact = g @ q
    assert fused.rows.tolist() == np.argsort(-exact, kind="stable")[:20].tolist()
    np.testing.assert_allclose(fused.scores, exact[fused.rows], rtol=1e-5, atol=1e-6)
    # contributions add up to the score
    np.testing.assert_allclose(fused.contributions.sum(axis=1), fused.scores, atol=1e-6)


def test_raw_weighted_cosines_rank_like_early_fusion_so_late_fusion_normalises():
    g = random_gallery(300, 16, seed=2)
    rng = np.random.default_rng(3)
    parts = [Part("image", "image", g[0]), Part("text", "text", unit(*rng.normal(size=16)))]
    s = np.stack([p.vector for p in parts]) @ g.T
    raw = 0.4 * s[0] + 0.6 * s[1]
    early = fusion.fuse(cand(parts, g), parts, {"image": 0.4, "text": 0.6}, "early", k=300)
    assert early.rows.tolist() == np.argsort(-raw, kind="stable").tolist()
    # Shrink the text part's spread: raw sums follow the image, z-scored late fusion does not.
    parts[1] = Part("text", "text", unit(*(0.05 * rng.normal(size=16) + g[0])))
    late = fusion.fuse(cand(parts, g), parts, {"image": 0.4, "text": 0.6}, "late", k=300)
    z = fusion.normalise_scores(np.stack([p.vector for p in parts]) @ g.T)
    expected = np.argsort(-(0.4 * z[0] + 0.6 * z[1]), kind="stable")
    assert late.rows.tolist() == expected.tolist()


def test_rrf_matches_hand_computed_scores():
    scores = np.array([[0.9, 0.5, 0.1], [0.1, 0.5, 0.95]], np.float32)  # ranks [1,2,3] and [3,2,1]
    parts = [Part("image", "image", unit(1, 0)), Part("text", "text", unit(0, 1))]
    c = Candidates(np.arange(3), scores, True)
    fused = fusion.fuse(c, parts, {"image": 1.0, "text": 2.0}, "rrf", k=3)
    expected = {0: 1 / 61 + 2 / 63, 1: 1 / 62 + 2 / 62, 2: 1 / 63 + 2 / 61}
    assert fused.rows.tolist() == [2, 1, 0]
    np.testing.assert_allclose(fused.scores, [expected[r] for r in fused.rows], rtol=1e-6)


def test_negative_text_pushes_its_matches_down():
    parts = [Part("text", "text", CIRCLE)]
    plain = fusion.fuse(cand(parts), parts, {"text": 1.0}, "early", k=2)
    assert set(top_names(plain)) == {"red circle", "blue circle"}
    parts.append(Part("negative", "negative", RED))
    fused = fusion.fuse(cand(parts), parts, {"text": 1.0, "negative": 0.5}, "early", k=1)
    assert top_names(fused) == ["blue circle"]


def test_delta_moves_the_image_along_the_text_direction():
    img = Part("image", "image", GALLERY["red circle"])
    target, source = Part("text", "text", BLUE), Part("from", "text", RED, sign=-1.0)
    kinds = {"image": 0.7, "text": 0.3}
    early = fusion.fuse(cand([img, target]), [img, target], kinds, "early", k=1)
    delta = fusion.fuse(cand([img, target, source]), [img, target, source], kinds, "delta", k=1)
    assert top_names(early) == ["red circle"]  # plain fusion stays on the reference
    assert top_names(delta) == ["blue circle"]  # delta swaps red for blue, keeps the circle


def test_missing_modality_moves_its_weight_to_the_present_one():
    parts = [Part("text", "text", CIRCLE)]
    w = fusion.effective_weights(parts, {"image": 0.7, "text": 0.3, "negative": 0.5})
    assert w == {"image": 0.0, "text": 1.0, "negative": 0.0}
    parts = [Part("image", "image", RED), Part("text", "text", CIRCLE)]
    assert fusion.effective_weights(parts, {"image": 0.2, "text": 0.6})["text"] == 0.6
    fused = fusion.fuse(cand(parts[1:]), parts[1:], {"image": 0.0, "text": 1.0}, "late", k=4)
    assert np.isfinite(fused.scores).all()


@pytest.mark.parametrize("weights, message", [
    ({"image": float("nan"), "text": 1}, "finite"),
    ({"image": float("inf"), "text": 1}, "finite"),
    ({"image": -0.1, "text": 1}, "≥ 0"),
    ({"image": 0, "text": 0, "negative": 0}, "all weights are zero"),
    ({"image": "abc", "text": 1}, "number"),
])
def test_invalid_weights_get_a_clear_value_error(weights, message):
    with pytest.raises(ValueError, match=message):
        fusion.validate_weights(weights)


def test_zero_weight_on_the_only_present_part_is_an_error():
    with pytest.raises(UserError, match="all zero"):
        fusion.effective_weights([Part("text", "text", RED)], {"image": 0.0, "text": 0.0, "negative": 1.0})


def test_parts_that_cancel_out_are_an_error_not_nan():
    parts = [Part("image", "image", RED), Part("from", "text", RED, sign=-1.0)]
    with pytest.raises(UserError, match="cancel"):
        fusion.fuse(cand(parts), parts, {"image": 1.0, "text": 1.0}, "early")


def test_threshold_returns_fewer_than_k():
    parts = [Part("text", "text", CIRCLE)]
    fused = fusion.fuse(cand(parts), parts, {"text": 1.0}, "early", k=4, threshold=0.5)
    assert set(top_names(fused)) == {"red circle", "blue circle"}


def test_quality_mode_scales_weights_and_reports_them():
    sharp = Image.new("RGB", (64, 64), "white")
    sharp.paste((0, 0, 0), (16, 16, 48, 48))
    blurry = sharp.filter(ImageFilter.GaussianBlur(6))
    tiny = sharp.resize((12, 12))
    q_sharp, q_blur, q_tiny = (fusion.image_quality(i) for i in (sharp, blurry, tiny))
    assert q_sharp > q_blur and q_sharp > q_tiny and 0 < min(q_blur, q_tiny)
    peaked = np.r_[np.full(99, 0.1), 0.9]
    flat = np.random.default_rng(0).normal(0.1, 0.01, 100)
    assert fusion.text_quality(peaked) > fusion.text_quality(flat)
    parts = [Part("image", "image", RED, quality=0.25), Part("text", "text", CIRCLE)]
    fused = fusion.fuse(cand(parts), parts, {"image": 1.0, "text": 1.0}, "early", quality=True)
    assert math.isclose(fused.weights[0], 0.25)
    assert 0.05 <= fused.weights[1] <= 1.0


def test_top_k_is_deterministic_on_ties():
    scores = np.array([0.5, 0.9, 0.5, 0.9, 0.1])
    assert fusion.top_k(scores, 4).tolist() == [1, 3, 0, 2]
    assert fusion.top_k(scores, 0).tolist() == []
