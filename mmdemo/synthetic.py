"""Synthetic embeddings shaped like CLIP's: clustered on the unit sphere, clusters of uneven
size and spread (uniform noise is an ANN worst case and unlike real embeddings). For the
scale benchmark and the on-disk index tests."""

from __future__ import annotations

import numpy as np


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
    x = c[cluster] + (spread[:, None] / np.sqrt(dim)) * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
