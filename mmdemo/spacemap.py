"""A 2-D map of the shared space: the index's items projected by PCA, and queries placed on it.

PCA because it is linear: a weighted sum of part vectors projects to the same weighted sum of
their map points, so early fusion's query lies on the map exactly where the weights put it
(on the segment between the image and the text, up to the normalisation's scale), and any new
query is placed without refitting. t-SNE or UMAP would draw tighter clusters but cannot place
a new point faithfully, and would move every item when refitted.

The projection is fitted once per index generation and cached beside the index as
``map-<key>.npz`` (mean, the two axes, the explained variance and every item's coordinates).
Pure numpy: no service, no UI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FIT_SAMPLE = 20_000  # rows used to fit the axes of a large index (projection covers all)


@dataclass
class Projection:
    mean: np.ndarray  # (d,)
    axes: np.ndarray  # (2, d) principal directions
    explained: np.ndarray  # (2,) share of the variance each axis keeps
    coords: np.ndarray  # (N, 2) the items' map points

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """Map points of any vectors of the same space (queries, labels)."""
        return ((np.atleast_2d(vectors).astype(np.float32) - self.mean) @ self.axes.T).astype(np.float32)


def fit(embeddings: np.ndarray, seed: int = 0) -> Projection:
    """PCA to two axes (SVD of the centred rows; a fixed sample of a large index)."""
    x = np.asarray(embeddings, np.float32)
    if len(x) < 1:
        raise ValueError("a map needs at least one item")
    sample = x
    if len(x) > FIT_SAMPLE:
        sample = x[np.sort(np.random.default_rng(seed).choice(len(x), FIT_SAMPLE, replace=False))]
    mean = sample.mean(axis=0)
    _, s, vt = np.linalg.svd(sample - mean, full_matrices=False)
    axes = np.zeros((2, x.shape[1]), np.float32)  # fewer than 3 items span fewer than 2 axes
    axes[:len(vt[:2])] = vt[:2]
    axes = axes * np.where(axes.sum(axis=1, keepdims=True) < 0, -1.0, 1.0)  # a stable orientation
    var = s ** 2
    explained = np.zeros(2)
    if var.sum() > 0:
        explained[:len(var[:2])] = var[:2] / var.sum()
    proj = Projection(mean, axes.astype(np.float32), explained.astype(np.float32), np.zeros((0, 2), np.float32))
    proj.coords = proj.place(x)
    return proj


def cache_file(folder: Path, key: str) -> Path:
    return folder / f"map-{key}.npz"


def load_or_fit(folder: Path, key: str, embeddings: np.ndarray) -> Projection:
    """The cached projection for this generation of the index, fitted and written if missing.

    Written to a temporary name and renamed, so readers never see half a file; maps of other
    generations are removed. A folder that cannot be written only costs a refit next time.
    """
    path = cache_file(folder, key)
    if path.is_file():
        with np.load(path, allow_pickle=False) as f:
            if len(f["coords"]) == len(embeddings):
                return Projection(f["mean"], f["axes"], f["explained"], f["coords"])
    proj = fit(embeddings)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    try:
        np.savez(tmp, mean=proj.mean, axes=proj.axes, explained=proj.explained, coords=proj.coords)
        os.replace(tmp, path)
        for old in folder.glob("map-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:  # a read-only folder, or a concurrent save swept the temporary file: refit next time
        tmp.unlink(missing_ok=True)
    return proj


def shown_rows(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """Which items a map draws: all of a small index, a fixed sample of a large one."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))
