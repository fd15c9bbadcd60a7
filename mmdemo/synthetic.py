"""Synthetic embeddings shaped like CLIP's: clustered on the unit sphere, clusters of uneven
size and spread, each cluster varying along a few directions of its own (real embeddings have
a low intrinsic dimension; isotropic noise in 512 dimensions is an ANN worst case, unlike
them). For the scale benchmark and the on-disk index tests."""

from __future__ import annotations

import numpy as np

INTRINSIC = 16  # directions of variation per cluster


def centres(n_clusters: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def clustered(n: int, dim: int, n_clusters: int = 1000, seed: int = 0, start: int = 0) -> np.ndarray:
    """Rows ``start … start+n`` of a deterministic clustered set: each row's cluster and noise
    come from its own row number, so the set can be generated in shards."""
    c = centres(n_clusters, dim, seed)
    rows = np.arange(start, start + n)
    rng = np.random.default_rng([seed, start])
    weights = np.random.default_rng(seed + 1).zipf(1.3, n_clusters).astype(np.float64)
    cluster = np.searchsorted(np.cumsum(weights / weights.sum()), (rows * 0.6180339887) % 1.0)
    cluster = np.minimum(cluster, n_clusters - 1)
    spread = 0.6 + 0.6 * (cluster % 7) / 6  # clusters tight and loose
    basis = np.random.default_rng(seed + 2).standard_normal((n_clusters, INTRINSIC, dim)).astype(np.float32)
    z = rng.standard_normal((n, INTRINSIC)).astype(np.float32)
    within = np.empty((n, dim), np.float32)
    for k in np.unique(cluster):  # per cluster: no (n, INTRINSIC, dim) gather
        at = cluster == k
        within[at] = z[at] @ basis[k]
    within /= np.sqrt(INTRINSIC * dim)
    x = c[cluster] + spread[:, None] * within + (0.1 / np.sqrt(dim)) * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
