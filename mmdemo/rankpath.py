"""How each result's rank depends on a weight: the path of a query from image to text.

Every fusion mode scores an item by a weighted sum of per-part scores that do not depend on the
weights (cosines for early and delta, z-scores over the candidates for late, reciprocal ranks for
rrf; early and delta then divide by the query's norm, a factor common to every item). Moving
weight from one part to the other along ``w`` (image weight ``S·(1 − w)``, text weight ``S·w``)
therefore gives each candidate a straight line ``a + w·b``, and the top-k changes only where two
lines cross. ``path`` finds those crossings exactly (a kinetic sweep over the lines that can reach
the top-k at all), so each item's *stable interval*, the weights over which it stays in the
top-k, has exact ends, and the ranks on a grid of weights come from the same lines. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmdemo import fusion

PRUNE_GRID = 11  # weights at which the top-k is taken to bound which lines can ever reach it
_EPS = 1e-12  # crossings this close behind the sweep happen now (three lines meeting at a point)


@dataclass
class Axis:
    """How the path weight enters each part's signed weight: ``base + w·slope``."""

    base: np.ndarray  # (P,)
    slope: np.ndarray  # (P,)
    current: float  # the w of the query as asked
    low: str  # what w = 0 is all about ("image"), and w = 1 ("text")
    high: str
    scale: float  # S: the two ends' weights sum to it at every w


@dataclass
class Path:
    weights: np.ndarray  # (G,) the grid
    rows: np.ndarray  # (M,) candidate rows of the items that are in the top-k somewhere
    ranks: np.ndarray  # (M, G) 1-based rank at each grid weight, 0 outside the top-k
    stable: list[list[tuple[float, float]]]  # per item: closed intervals of w in the top-k
    breakpoints: list[float] = field(default_factory=list)  # where the top-k ranking changes


def axis_for(parts: list[fusion.Part], kinds: dict[str, float], qualities: list[float] | None = None) -> Axis | str:
    """The path of this query, or why it has none. With an image and a text part the image kind
    goes to ``S·(1 − w)`` and the text kind (delta's source too) to ``S·w``, ``S`` being their
    weights' sum; with two positive terms of one kind (an expression) the first term's
    multiplier goes to ``M·(1 − w)`` and the second's to ``M·w``. Negatives keep their weight."""
    positive = [i for i, p in enumerate(parts) if p.direction > 0]
    present = {parts[i].kind for i in positive}
    q = np.asarray(qualities if qualities is not None else [1.0] * len(parts), np.float64)
    if {"image", "text"} <= present:
        total = kinds["image"] + kinds["text"]
        if total <= 0:
            return "the image and text weights are both zero"
        ends = ({**kinds, "image": total, "text": 0.0}, {**kinds, "image": 0.0, "text": total})
        w0, w1 = (fusion.part_weights(parts, k_) * q for k_ in ends)
        return Axis(w0, w1 - w0, kinds["text"] / total, "image", "text", total)
    if len(positive) == 2:
        a, b = positive
        signed = fusion.part_weights(parts, kinds) * q
        total = signed[a] + signed[b]
        if total <= 0:
            return "both terms weigh zero"
        base, slope = signed.copy(), np.zeros(len(parts))
        base[a], base[b], slope[a], slope[b] = total, 0.0, -total, total
        return Axis(base, slope, float(signed[b] / total), parts[a].name, parts[b].name, float(total))
    return "a rank path needs two positive parts: an image and a text, or two terms of an expression"


def lines(cand: fusion.Candidates, axis: Axis, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate's unscaled fused score ``a + w·b`` (float64)."""
    per_part, _ = fusion.mode_scores(cand, mode)
    s = per_part.astype(np.float64)
    return axis.base @ s, axis.slope @ s


def path(cand: fusion.Candidates, parts: list[fusion.Part], axis: Axis, mode: str, k: int, steps: int = 101,
         threshold: float | None = None) -> Path:
    """Ranks across ``steps`` weights from 0 to 1 and exact stable intervals (see module doc).
    ``threshold`` (a minimum fused score, as in ``fusion.fuse``) takes items out where it bites."""
    a, b = lines(cand, axis, mode)
    keep = reachable(a, b, k)
    a, b, pos = a[keep], b[keep], np.flatnonzero(keep)
    k = min(k, len(a))
    grid = np.linspace(0.0, 1.0, steps)
    scorer = _Scorer(parts, axis, mode, a, b)
    segments = sweep(a, b, pos, k)
    members: dict[int, list[tuple[float, float]]] = {}
    for lo, hi, top in segments:
        for i in top:
            spans = members.setdefault(int(i), [])
            if spans and spans[-1][1] == lo:
                spans[-1] = (spans[-1][0], hi)
            else:
                spans.append((lo, hi))
    if threshold is not None:
        members = {i: cut for i, spans in members.items() if (cut := scorer.above(i, spans, threshold))}
    order = sorted(members)
    at = a[None, :] + grid[:, None] * b[None, :]  # (G, M): every line at every grid weight
    top = np.argsort(-at, axis=1, kind="stable")[:, :k]  # ties by position, as fusion.top_k
    keep_rank = np.ones(top.shape, bool)
    if threshold is not None:
        keep_rank = np.stack([scorer.score(top[j], w) >= threshold for j, w in enumerate(grid)])
    rank_of = np.zeros((steps, len(a)), np.int32)
    np.put_along_axis(rank_of, top, np.where(keep_rank, np.arange(1, k + 1)[None, :], 0), axis=1)
    ranks = rank_of[:, order].T.copy() if order else np.zeros((0, steps), np.int32)
    return Path(grid, cand.rows[pos[order]], ranks, [members[i] for i in order],
                sorted({lo for lo, _, _ in segments[1:]}))


def reachable(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """Which lines can be in the top-k anywhere on [0, 1] (a superset, usually small).

    On each cell [w_g, w_g+1] of a coarse grid, the k lines on top at w_g stay at least as high
    as their lower end there, so the k-th best score never drops below λ_g on the cell; a line
    whose higher end on the cell is below λ_g can never be in the top-k there."""
    n = len(a)
    if n <= k:
        return np.ones(n, bool)
    keep = np.zeros(n, bool)
    here = a.copy()
    for w in np.linspace(0.0, 1.0, PRUNE_GRID)[1:]:
        there = a + w * b
        top = np.argpartition(-here, k - 1)[:k]
        floor = np.minimum(here[top], there[top]).min()
        keep |= np.maximum(here, there) >= floor - 1e-12 * max(1.0, abs(floor))
        here = there
    return keep


def sweep(a: np.ndarray, b: np.ndarray, pos: np.ndarray, k: int) -> list[tuple[float, float, tuple[int, ...]]]:
    """The ordered top-k on each interval of [0, 1] between crossings: a kinetic sort. The
    next event is the earliest of two kinds: adjacent lines of the top swap (kept per pair,
    updated locally), or an outside line overtakes the k-th (one pass over the outside lines).
    Ties at the start go by slope (who leads right after 0), then by candidate position, as
    ``fusion.top_k`` breaks them; identical lines never cross."""
    A, B = a.tolist(), b.tolist()
    top = [int(i) for i in np.lexsort((pos, -b, -a))[:k]]
    outside = np.ones(len(a), bool)
    outside[top] = False

    def swap_at(r: int, w: float) -> float:  # top[r + 1] overtakes top[r]
        i, j = top[r], top[r + 1]
        gain = B[j] - B[i]
        return max(w, (A[i] - A[j]) / gain) if gain > 0 and (A[i] - A[j]) / gain >= w - _EPS else np.inf

    def entry_at(w: float) -> tuple[float, int]:  # an outside line overtakes top[-1]
        rows = np.flatnonzero(outside)
        gain = b[rows] - B[top[-1]]
        rows, gain = rows[gain > 0], gain[gain > 0]
        t = (A[top[-1]] - a[rows]) / gain
        ok = t >= w - _EPS
        if not ok.any():
            return np.inf, -1
        n = int(np.argmin(np.where(ok, t, np.inf)))
        return max(w, float(t[n])), int(rows[n])

    swaps = [swap_at(r, 0.0) for r in range(len(top) - 1)]
    enter, newcomer = entry_at(0.0)
    segments, w = [], 0.0
    while True:
        r = min(range(len(swaps)), key=swaps.__getitem__) if swaps else -1
        t = min(swaps[r] if swaps else np.inf, enter)
        if t > w:
            segments.append((w, min(t, 1.0), tuple(top)))
        if t >= 1.0:
            return segments
        w = t
        if swaps and swaps[r] <= enter:
            top[r], top[r + 1] = top[r + 1], top[r]
            for q in (r - 1, r, r + 1):
                if 0 <= q < len(swaps):
                    swaps[q] = swap_at(q, w)
            if r + 1 < len(top) - 1:
                continue
        else:
            outside[top[-1]], outside[newcomer] = True, False
            top[-1] = newcomer
            if swaps:
                swaps[-1] = swap_at(len(swaps) - 1, w)
        enter, newcomer = entry_at(w)


class _Scorer:
    """The fused score as ``fusion.fuse`` reports it (early and delta: divided by the query's
    norm, itself a function of w), for the threshold."""

    def __init__(self, parts: list[fusion.Part], axis: Axis, mode: str, a: np.ndarray, b: np.ndarray):
        self.a, self.b = a, b
        if mode in ("early", "delta"):
            vectors = np.stack([p.vector for p in parts]).astype(np.float64)
            u, v = axis.base @ vectors, axis.slope @ vectors
            self.norm2 = (float(u @ u), float(u @ v), float(v @ v))  # ‖u + w·v‖² = A + 2Bw + Cw²
        else:
            self.norm2 = None

    def _norm(self, w) -> np.ndarray:
        if self.norm2 is None:
            return np.ones_like(np.asarray(w, np.float64))
        A, B, C = self.norm2
        return np.sqrt(np.maximum(A + 2 * B * np.asarray(w) + C * np.asarray(w) ** 2, 1e-16))

    def score(self, i, w: float) -> np.ndarray:
        return (self.a[i] + w * self.b[i]) / self._norm(w)

    def above(self, i: int, spans: list[tuple[float, float]], threshold: float) -> list[tuple[float, float]]:
        """The parts of ``spans`` where the item's score is ≥ threshold: the score minus the
        threshold changes sign only at roots of ``(a + w·b)² = t²·‖u + w·v‖²`` (or of a line)."""
        a, b, t = self.a[i], self.b[i], threshold
        if self.norm2 is None:
            roots = [(t - a) / b] if b else []
        else:
            A, B, C = self.norm2
            roots = [r.real for r in np.roots([b * b - t * t * C, 2 * (a * b - t * t * B), a * a - t * t * A])
                     if abs(r.imag) < 1e-12]
        out = []
        for lo, hi in spans:
            cuts = sorted({lo, hi, *[r for r in roots if lo < r < hi]})
            for x, y in zip(cuts, cuts[1:]):
                if self.score(i, (x + y) / 2) >= t:
                    if out and out[-1][1] == x:
                        out[-1] = (out[-1][0], y)
                    else:
                        out.append((x, y))
        return out
