"""Fusion maths over unit vectors in the shared space: pure numpy, no models, no UI.

A query is a list of ``Part``s (an image, a text, negative texts, …). Each part has a kind
(image, text or negative) whose slider weight it takes, a sign and a multiplier, so its
effective weight is ``sign * multiplier * w[kind]``; an *example* (an item of the index, added
by "more / less like this", a map region or an ``@ID`` term) weighs its multiplier alone. Per-part cosine scores against the
candidates are computed once; every strategy below only re-weights those cached scores, which
is why moving a slider never re-encodes or re-scans.

Strategies:
- early (feature level): ``q = normalize(Σ wᵢ eᵢ)``; score = q·g = Σ wᵢ (eᵢ·g) / ‖Σ wᵢ eᵢ‖,
  computed from the cached part scores, identical to searching with q.
- late (decision level): each part's scores are first normalised over the candidates (z-score
  or min-max) and then summed by weight. Without that normalisation a weighted sum of raw
  cosines would rank exactly like early fusion (q·g is linear in q), so late fusion would be
  nothing new; with it, each modality counts by its *spread*, not its raw cosine scale.
- rrf: weighted reciprocal-rank fusion, Σ wᵢ / (k₀ + rankᵢ); a negative part subtracts.
- delta: the image moved along a text direction, ``q = w_img·e_img + w_txt·(t_target − t_source)``;
  a linear query, so it is early fusion over three parts (the source part has sign −1).

Missing modalities: when a query has no part of kind image (or text), that kind's weight moves
to the other positive kind, so the total positive weight the user set is kept. Negative weight
is never redistributed.

Quality-aware mode scales each part's weight by a confidence in (0, 1]: for images, sharpness
and resolution; for texts, how peaked the text's similarity over the candidates is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from mmdemo import limits
from mmdemo.errors import UserError

KINDS = ("image", "text", "negative")  # the kinds a slider weighs
EXAMPLE = "example"  # the kind of steering terms: their weight is their own multiplier
MODES = ("early", "late", "rrf", "delta")
RRF_K = 60


@dataclass
class Part:
    """One term of a query: a unit vector with the kind of slider that weighs it."""

    name: str  # what the UI shows: the text, or the image's file name
    kind: str  # image | text | negative | example
    vector: np.ndarray
    multiplier: float = 1.0  # from a multi-term expression ("2:red")
    sign: float = 1.0  # -1 for delta's source term; negatives get -1 from their kind
    quality: float | None = None  # image confidence, measured when the image was read
    role: str = ""  # "example" or "region" for steering terms (``feedback``): how views draw them

    @property
    def direction(self) -> float:
        return -self.sign if self.kind == "negative" else self.sign


def validate_weights(weights: dict[str, float]) -> dict[str, float]:
    """Slider weights are magnitudes: finite, in [0, 10], not all zero (negative text takes a
    positive weight and is subtracted). Raises UserError (a ValueError)."""
    out = {kind: limits.weight(value, f"weight for {kind}") for kind, value in weights.items()}
    if not any(out.values()):
        raise UserError("all weights are zero: raise at least one weight above 0")
    return out


def effective_weights(parts: list[Part], weights: dict[str, float]) -> dict[str, float]:
    """Slider weights after moving an absent positive kind's weight to the present one."""
    w = validate_weights({k: weights.get(k, 0.0) for k in KINDS})
    present = {p.kind for p in parts}
    if not parts:
        raise UserError("the query is empty: give an image, a text, or both")
    positive = [k for k in ("image", "text") if k in present]
    if not positive and EXAMPLE not in present:
        raise UserError("a query needs an image or a text, not only negative text")
    absent = [k for k in ("image", "text") if k not in present]
    moved = sum(w[k] for k in absent)
    share = sum(w[k] for k in positive)
    for k in positive:
        w[k] += moved * (w[k] / share if share else 1 / len(positive))
    for k in absent:
        w[k] = 0.0
    if "negative" not in present:
        w["negative"] = 0.0
    if positive and not any(w[k] for k in positive) and EXAMPLE not in present:
        raise UserError("the weights of the parts you gave are all zero: raise the image or text weight")
    return w


def part_weights(parts: list[Part], kind_weights: dict[str, float],
                 qualities: list[float] | None = None) -> np.ndarray:
    """Signed effective weight of each part (times its confidence in quality mode)."""
    w = np.array([p.direction * p.multiplier * (1.0 if p.kind == EXAMPLE else kind_weights[p.kind]) for p in parts],
                 np.float64)
    return w * np.asarray(qualities) if qualities is not None else w


def early_query(vectors: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Feature-level fusion: the normalised weighted sum of part vectors."""
    q = (w[:, None] * vectors).sum(axis=0)
    norm = float(np.linalg.norm(q))
    if norm < 1e-8:
        raise UserError("the weighted parts cancel out (the fused query is zero): change a weight")
    return (q / norm).astype(np.float32)


def normalise_scores(scores: np.ndarray, method: str = "zscore") -> np.ndarray:
    """Per-part normalisation over the candidates (rows are parts)."""
    s = scores.astype(np.float64)
    if method == "minmax":
        lo, hi = s.min(axis=1, keepdims=True), s.max(axis=1, keepdims=True)
        return (s - lo) / np.maximum(hi - lo, 1e-12)
    mu, sd = s.mean(axis=1, keepdims=True), s.std(axis=1, keepdims=True)
    return (s - mu) / np.maximum(sd, 1e-12)


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each candidate within each part (rows are parts), best = 1."""
    order = np.argsort(-scores, axis=1, kind="stable")
    r = np.empty_like(order)
    rows = np.arange(scores.shape[0])[:, None]
    r[rows, order] = np.arange(1, scores.shape[1] + 1)
    return r


def image_quality(image: Image.Image, native: int = 64) -> float:
    """Confidence in an image, in (0, 1]: sharpness × resolution.

    Sharpness is the mean absolute Laplacian over the contrast (std), measured at the model's
    input size, so a blurred or flat image scores low; resolution is the short side over that
    size, so a thumbnail upscaled by the model scores low.
    """
    grey = image.convert("L")
    if min(grey.size) > native:
        grey = grey.resize((native, native), Image.Resampling.BILINEAR)
    a = np.asarray(grey, np.float32) / 255.0
    if min(a.shape) < 3:
        return 0.05
    lap = 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
    sharp = min(1.0, float(np.abs(lap).mean()) / max(float(a.std()), 1e-6) / 0.15)
    resolution = min(1.0, min(image.size) / native)
    return max(0.05, sharp * resolution)


def text_quality(scores: np.ndarray) -> float:
    """Confidence in a text, in (0, 1]: how far its best 1 % of matches stand above the rest
    (z-score); a text that matches nothing in particular has a flat, Gaussian-like profile."""
    s = np.asarray(scores, np.float64)
    if s.size < 2 or s.std() < 1e-9:
        return 0.05
    top = np.sort(s)[-max(1, s.size // 100):].mean()
    z = (top - s.mean()) / s.std()
    return float(np.clip((z - 1.5) / 3.0, 0.05, 1.0))


@dataclass
class Candidates:
    """Raw per-part cosine scores for a set of candidate rows: all that re-ranking needs."""

    rows: np.ndarray  # (C,) row numbers in the index
    scores: np.ndarray  # (P, C) float32
    exact: bool  # True when the candidates are every item (flat index)
    _cache: dict = field(default_factory=dict, repr=False)
    part_memos: list[dict] | None = field(default=None, repr=False)  # per part, shared across queries

    @property
    def nbytes(self) -> int:
        """Memory for caching: the scores plus the up to three derived copies made later."""
        return self.rows.nbytes + 4 * self.scores.nbytes

    @classmethod
    def of_parts(cls, rows: np.ndarray, parts: list[PartScores]) -> Candidates:
        """Every item scored by parts cached one by one: their derived scores are memoised with
        them, so a query that gains a part computes that part's alone."""
        return cls(rows, np.stack([p.scores for p in parts]), True, part_memos=[p.memo for p in parts])

    def derived(self, what: str) -> np.ndarray:
        """Per-part z-scores, min-max or reciprocal ranks (float32), computed once per query
        (per part, when the parts are cached on their own) and reused by every re-weighting.
        Each part's row depends on that part's scores only."""
        if what not in self._cache:
            if self.part_memos is None:
                value = _derive(self.scores, what)
            else:
                for i, memo in enumerate(self.part_memos):
                    if what not in memo:
                        memo[what] = _derive(self.scores[i:i + 1], what)[0]
                value = np.stack([memo[what] for memo in self.part_memos])
            self._cache[what] = value
        return self._cache[what]


def _derive(scores: np.ndarray, what: str) -> np.ndarray:
    value = 1.0 / (RRF_K + ranks(scores)) if what == "rrf" else normalise_scores(scores, what)
    return np.ascontiguousarray(value, np.float32)


@dataclass
class PartScores:
    """One part's exact scores over every item of an index, with its derived rows memoised."""

    scores: np.ndarray  # (N,) float32
    memo: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return 4 * self.scores.nbytes  # the scores and up to three derived rows


@dataclass
class Fused:
    rows: np.ndarray  # top rows, best first
    scores: np.ndarray  # fused score of each
    contributions: np.ndarray  # (k, P): each part's share of the fused score
    weights: np.ndarray  # (P,) signed weights applied
    formula: str


def part_qualities(cand: Candidates, parts: list[Part]) -> list[float]:
    """Quality-aware mode's confidence per part: measured for images when read, from the score
    profile over the candidates for texts."""
    return [p.quality if p.quality is not None else
            (text_quality(cand.scores[i]) if p.kind in ("text", "negative") else 1.0) for i, p in enumerate(parts)]


def mode_scores(cand: Candidates, mode: str, late_norm: str = "zscore") -> tuple[np.ndarray, str]:
    """The per-part scores a mode sums by weight, (P, C), and its formula. They never depend on
    the weights, so every mode's fused score is linear in them (``rankpath`` relies on it)."""
    if mode == "early":
        return cand.scores, "score = cos(normalize(Σ wᵢ·eᵢ), g)  (early fusion, normalised query)"
    if mode == "delta":
        return cand.scores, "score = cos(normalize(w_img·e_img + w_txt·(t_target − t_source)), g)  (delta)"
    if mode == "late":
        return cand.derived(late_norm), f"score = Σ wᵢ·{late_norm}(cos(eᵢ, g))  (late fusion over candidates)"
    return cand.derived("rrf"), f"score = Σ wᵢ / ({RRF_K} + rankᵢ(g))  (reciprocal-rank fusion)"


def query_norm(parts: list[Part], w: np.ndarray) -> float:
    """‖Σ wᵢ eᵢ‖: early and delta divide by it, so their score is a cosine with the query."""
    norm = float(np.linalg.norm((w[:, None] * np.stack([p.vector for p in parts])).sum(axis=0)))
    if norm < 1e-8:
        raise UserError("the weighted parts cancel out (the fused query is zero): change a weight")
    return norm


def fuse(cand: Candidates, parts: list[Part], kind_weights: dict[str, float], mode: str = "early",
         k: int = 10, threshold: float | None = None, quality: bool = False,
         late_norm: str = "zscore") -> Fused:
    """Combine cached part scores by ``mode`` and return the top ``k`` above ``threshold``."""
    if mode not in MODES:
        raise UserError(f"unknown fusion mode {mode!r}: choose one of {', '.join(MODES)}")
    w = part_weights(parts, kind_weights, part_qualities(cand, parts) if quality else None)
    per_part, formula = mode_scores(cand, mode, late_norm)
    scale = 1.0 / query_norm(parts, w) if mode in ("early", "delta") else 1.0
    applied = w * scale
    total = applied.astype(np.float32) @ per_part  # one pass over the cached scores
    top = top_k(total, k, threshold)
    contributions = (applied[:, None] * per_part[:, top]).T.astype(np.float32)
    return Fused(cand.rows[top], total[top].astype(np.float32), contributions, w, formula)


def top_k(scores: np.ndarray, k: int, threshold: float | None = None) -> np.ndarray:
    """Indices of the best ``k`` scores, best first, dropping those below ``threshold``."""
    k = max(0, min(int(k), scores.size))
    if k == 0:
        return np.zeros(0, np.int64)
    idx = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
    idx = idx[np.lexsort((idx, -scores[idx]))]  # by score, ties by row: deterministic
    if threshold is not None and math.isfinite(threshold):
        idx = idx[scores[idx] >= threshold]
    return idx
