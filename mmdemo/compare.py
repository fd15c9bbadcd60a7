"""Fusion strategies side by side on one query, and how much their rankings agree.

Every linear strategy (early, late, rrf, delta) re-weights the same cached per-part scores
(``fusion.Candidates``), so comparing them costs one weighted sum each, never a scan. Model-level
(learned) fusion composes its own query; the service scores it and adds its column. Pure numpy:
no models, no UI.

Agreement between two top-k lists:
- overlap@k: |A ∩ B| / k, order ignored;
- rank-biased overlap (Webber, Moffat & Zobel 2010, extrapolated form ``RBO_ext``): the overlap at
  every depth d, weighted by p^(d-1), so agreement near the top counts most; 1 for identical
  lists, 0 for disjoint ones. p = 0.9 puts ~86 % of the weight on the first 10 ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from mmdemo import fusion

RBO_P = 0.9


@dataclass
class Column:
    """One strategy's answer: its top rows with their fused scores and per-part contributions."""

    strategy: str
    fused: fusion.Fused
    parts: list[fusion.Part]


@dataclass
class Comparison:
    columns: dict[str, Column]
    unavailable: dict[str, str] = field(default_factory=dict)  # strategy -> why it does not apply


def run(cand: fusion.Candidates, parts: list[fusion.Part], kinds: dict[str, float], strategies: list[str],
        k: int, threshold: float | None = None, quality: bool = False) -> Comparison:
    """The linear strategies of ``strategies`` over one set of cached scores (one row per part).

    ``parts`` are the query's parts in delta form (with delta's source part, a text of sign −1,
    when one was found). The other strategies give that part a zero multiplier: adding zero is
    exact, so their scores equal, bit for bit, scoring without it (what ``/retrieve`` does), and
    every strategy shares the one candidate object and its cached z-scores and ranks."""
    source = {i for i, p in enumerate(parts) if p.kind == "text" and p.sign < 0}
    kinds_present = {p.kind for p in parts}
    out = Comparison({})
    for strategy in strategies:
        if strategy == "delta" and not {"image", "text"} <= kinds_present:
            out.unavailable[strategy] = "delta needs both an image and a text saying what to change"
            continue
        drop = set() if strategy == "delta" else source
        use = [replace(p, multiplier=0.0) if i in drop else p for i, p in enumerate(parts)]
        fused = fusion.fuse(cand, use, kinds, strategy, k, threshold, quality)
        keep = [i for i in range(len(parts)) if i not in drop]
        fused.contributions, fused.weights = fused.contributions[:, keep], fused.weights[keep]
        out.columns[strategy] = Column(strategy, fused, [parts[i] for i in keep])
    return out


def overlap(a: list, b: list, k: int | None = None) -> float:
    """|A ∩ B| / k over the first ``k`` of each list (k: the longer list's length)."""
    k = k or max(len(a), len(b))
    return len(set(a[:k]) & set(b[:k])) / k if k else 1.0


def rbo(a: list, b: list, p: float = RBO_P) -> float:
    """Extrapolated rank-biased overlap of two rankings (Webber et al. 2010, eq. 32) for lists
    of equal depth k: ``A_k p^k + (1 - p) Σ_{d=1..k} A_d p^(d-1)``, where ``A_d`` is the
    overlap of the first d items over d. Lists of unequal length are cut to the shorter."""
    k = min(len(a), len(b))
    if k == 0:
        return 1.0 if len(a) == len(b) else 0.0
    seen_a, seen_b, common, total = set(), set(), 0, 0.0
    for d in range(1, k + 1):
        x, y = a[d - 1], b[d - 1]
        if x == y:
            common += 1
        else:
            common += (x in seen_b) + (y in seen_a)
        seen_a.add(x)
        seen_b.add(y)
        total += common / d * p ** (d - 1)
    return float(common / k * p ** k + (1 - p) * total)


def agreement(tops: dict[str, list]) -> dict[str, dict[str, dict[str, float]]]:
    """overlap@k and RBO for every ordered pair of strategies (a symmetric matrix)."""
    names = list(tops)
    k = max((len(t) for t in tops.values()), default=0)
    return {"overlap": {a: {b: round(overlap(tops[a], tops[b], k), 4) for b in names} for a in names},
            "rbo": {a: {b: round(rbo(tops[a], tops[b]), 4) for b in names} for a in names}}


def only_in(tops: dict[str, list]) -> dict[str, set]:
    """Items that exactly one strategy retrieves, per strategy (none when only one strategy)."""
    if len(tops) < 2:
        return {name: set() for name in tops}
    counts: dict = {}
    for top in tops.values():
        for item in set(top):
            counts[item] = counts.get(item, 0) + 1
    return {name: {item for item in top if counts[item] == 1} for name, top in tops.items()}


def mean_offdiagonal(matrix: dict[str, dict[str, float]]) -> float:
    """The average agreement over distinct pairs (a one-number summary for the UI)."""
    values = [v for a, row in matrix.items() for b, v in row.items() if a < b]
    return float(np.mean(values)) if values else 1.0
