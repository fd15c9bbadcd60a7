"""Metrics for classification and retrieval, from scikit-learn where it has them.

Retrieval inputs are score matrices (queries × gallery) and, per query, the relevant gallery
rows. With one relevant item per query, Recall@k is scikit-learn's top-k accuracy over the
gallery "labels" and MRR is its label-ranking average precision; mAP@k (several relevant
items, cut at k) has no scikit-learn version and is computed here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import (accuracy_score, confusion_matrix, label_ranking_average_precision_score,
                             precision_recall_fscore_support, top_k_accuracy_score)


def classification(y_true: Sequence[int], scores: np.ndarray, labels: Sequence[str]) -> dict:
    """Top-1/top-5 accuracy, macro precision/recall/F1, each class's recall (None for a class
    with no example) and the confusion matrix."""
    y_true = np.asarray(y_true)
    n = len(labels)
    y_pred = np.argmax(scores, axis=1)
    p, r, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=range(n), average="macro",
                                                  zero_division=0)
    _, recalls, _, support = precision_recall_fscore_support(y_true, y_pred, labels=range(n), average=None,
                                                             zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "top5": float(top_k_accuracy_score(y_true, scores, k=5, labels=range(n))) if n > 5 else None,
        "precision": float(p), "recall": float(r), "f1": float(f1),
        "labels": list(labels),
        "per_class_recall": {name: float(rc) if support[i] else None
                             for i, (name, rc) in enumerate(zip(labels, recalls))},
        "confusion": confusion_matrix(y_true, y_pred, labels=range(n)).tolist(),
    }


def recall_at_k(scores: np.ndarray, targets: Sequence[int], k: int) -> float:
    """Fraction of queries whose single target is among the top k."""
    n = scores.shape[1]
    if k >= n:
        return 1.0
    return float(top_k_accuracy_score(np.asarray(targets), scores, k=k, labels=range(n)))


def mrr(scores: np.ndarray, targets: Sequence[int]) -> float:
    """Mean reciprocal rank of the single target."""
    truth = np.zeros_like(scores, dtype=int)
    truth[np.arange(len(targets)), np.asarray(targets)] = 1
    return float(label_ranking_average_precision_score(truth, scores))


def ap_at_k(ranking: Sequence[int], relevant: set[int], k: int) -> float:
    """AP@k of one ranked list: Σ_{i≤k} P@i·rel_i / min(k, |relevant|)."""
    hits, total = 0, 0.0
    for i, item in enumerate(list(ranking)[:k], 1):
        if int(item) in relevant:
            hits += 1
            total += hits / i
    return total / min(k, len(relevant)) if relevant else 0.0


def map_at_k(scores: np.ndarray, relevant: Sequence[Sequence[int]], k: int) -> float:
    """Mean AP@k over queries (rows of ``scores``) with at least one relevant item."""
    aps = [ap_at_k(np.argsort(-row, kind="stable")[:k], {int(r) for r in rel}, k)
           for row, rel in zip(scores, relevant) if len(rel)]
    return float(np.mean(aps)) if aps else 0.0


def retrieval(scores: np.ndarray, targets: Sequence[int], relevant: Sequence[Sequence[int]] | None = None,
              ks: Sequence[int] = (1, 10)) -> dict:
    out = {f"R@{k}": recall_at_k(scores, targets, k) for k in ks}
    out["MRR"] = mrr(scores, targets)
    out["mAP@10"] = map_at_k(scores, relevant if relevant is not None else [[t] for t in targets], 10)
    return out
