"""A 2-D map of the shared space: the index's items projected by PCA, and queries placed on it.

PCA because it is linear: a weighted sum of part vectors projects to the same weighted sum of
their map points, so early fusion's query lies on the map exactly where the weights put it
(on the segment between the image and the text, up to the normalisation's scale), and any new
query is placed without refitting. t-SNE or UMAP would draw tighter clusters but cannot place
a new point faithfully, and would move every item when refitted.

The projection is fitted once per index generation and cached beside the index as
``map-<key>.npz`` (mean, the two axes, the explained variance, the drawn rows and their
coordinates). Only sampled rows are ever read, so a memory-mapped 10M-item index gets a map
without its embeddings entering RAM. Pure numpy: no service, no UI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FIT_SAMPLE = 20_000  # rows used to fit the axes of a large index
MAX_POINTS = 4000  # items drawn on a map (a fixed sample of a larger index; top-k always)


@dataclass
class Projection:
    mean: np.ndarray  # (d,)
    axes: np.ndarray  # (2, d) principal directions
    explained: np.ndarray  # (2,) share of the variance each axis keeps
    rows: np.ndarray  # (M,) the items drawn: all of a small index, a fixed sample of a large one
    coords: np.ndarray  # (M, 2) their map points
    count: int = 0  # items in the index it was fitted on

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """Map points of any vectors of the same space (queries, labels)."""
        return ((np.atleast_2d(vectors).astype(np.float32) - self.mean) @ self.axes.T).astype(np.float32)


def fit(embeddings: np.ndarray, limit: int | None = None, seed: int = 0) -> Projection:
    """PCA to two axes (SVD of the centred rows; a fixed sample of a large index), with the
    points of ``shown_rows(len, limit)`` (all rows without a limit)."""
    n = len(embeddings)
    if n < 1:
        raise ValueError("a map needs at least one item")
    fit_rows = shown_rows(n, FIT_SAMPLE, seed)
    sample = np.asarray(embeddings[fit_rows], np.float32)
    mean = sample.mean(axis=0)
    _, s, vt = np.linalg.svd(sample - mean, full_matrices=False)
    axes = np.zeros((2, sample.shape[1]), np.float32)  # fewer than 3 items span fewer than 2 axes
    axes[:len(vt[:2])] = vt[:2]
    axes = axes * np.where(axes.sum(axis=1, keepdims=True) < 0, -1.0, 1.0)  # a stable orientation
    var = s ** 2
    explained = np.zeros(2)
    if var.sum() > 0:
        explained[:len(var[:2])] = var[:2] / var.sum()
    rows = shown_rows(n, limit or n, seed)
    proj = Projection(mean, axes.astype(np.float32), explained.astype(np.float32), rows,
                      np.zeros((0, 2), np.float32), n)
    proj.coords = proj.place(embeddings[rows])
    return proj


def cache_file(folder: Path, key: str) -> Path:
    return folder / f"map-{key}.npz"


def load_or_fit(folder: Path, key: str, embeddings: np.ndarray, limit: int | None = None) -> Projection:
    """The cached projection for this generation of the index, fitted and written if missing.

    Written to a temporary name and renamed, so readers never see half a file; maps of other
    generations are removed. A folder that cannot be written only costs a refit next time.
    """
    path = cache_file(folder, key)
    if path.is_file():
        with np.load(path, allow_pickle=False) as f:
            if "rows" in f.files and int(f["count"]) == len(embeddings):
                return Projection(f["mean"], f["axes"], f["explained"], f["rows"], f["coords"], int(f["count"]))
    proj = fit(embeddings, limit)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    try:
        np.savez(tmp, mean=proj.mean, axes=proj.axes, explained=proj.explained, rows=proj.rows,
                 coords=proj.coords, count=proj.count)
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
