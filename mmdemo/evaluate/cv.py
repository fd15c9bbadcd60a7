"""Weights chosen by evidence: k-fold cross-validation over queries.

Each configuration (fusion mode, text weight) has a per-query score (e.g. whether the target
was in the top 10). For each fold, the configuration is chosen on the training folds only and
scored on the held-out fold; the report is the held-out mean with its spread across folds.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.model_selection import KFold

Config = tuple[str, float]  # (fusion mode, text weight)


def choose(per_query: dict[Config, np.ndarray], rows: np.ndarray) -> Config:
    """The configuration with the best mean over ``rows`` (ties: the first listed)."""
    configs = list(per_query)
    return max(configs, key=lambda c: (float(per_query[c][rows].mean()), -configs.index(c)))


def cross_validate(per_query: dict[Config, np.ndarray], k: int = 5, seed: int = 0,
                   also: dict[str, dict[Config, np.ndarray]] | None = None) -> dict:
    """Choose on training folds, score on the held-out fold; never the other way round.

    ``also`` names further per-query metrics to report, on the held-out folds, for the
    configuration each fold chose (they play no part in choosing)."""
    n = len(next(iter(per_query.values())))
    if not 2 <= k <= n:
        raise ValueError(f"cross-validation needs 2 ≤ k ≤ {n} queries, got k={k}")
    folds = []
    for train, test in KFold(n_splits=k, shuffle=True, random_state=seed).split(np.arange(n)):
        mode, w = choose(per_query, train)
        folds.append({"mode": mode, "w_text": w, "train": float(per_query[mode, w][train].mean()),
                      "test": float(per_query[mode, w][test].mean()), "size": int(len(test)),
                      **{name: float(m[mode, w][test].mean()) for name, m in (also or {}).items()}})
    held_out = np.array([f["test"] for f in folds])
    (mode, w), _ = Counter((f["mode"], f["w_text"]) for f in folds).most_common(1)[0]
    extra = {name: float(np.average([f[name] for f in folds], weights=[f["size"] for f in folds]))
             for name in (also or {})}
    return {"k": k, "folds": folds, "mean": float(held_out.mean()), "std": float(held_out.std()),
            "chosen": {"mode": mode, "w_text": w}, **extra}
