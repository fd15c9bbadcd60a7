"""Exact part scoring (query parts · gallery rows) on a GPU when one is present.

On CPU the index keeps its numpy matmul (already memory-bandwidth bound). With CUDA the
gallery is copied once to the device as float16 when it fits in ``resident_fraction`` of the
free memory (one fp16 matmul per query, ~1 ms per 1M × 512 on an H100) and streamed in chunks
otherwise. Embeddings are fp16-exact already (``Index.add`` rounds them), so the device copy
loses nothing; only the products are accumulated in fp16 (|error| ≲ 1e-3 on cosines).
"""

from __future__ import annotations

import sys
import threading
import weakref

import numpy as np

CHUNK_ROWS = 1 << 20  # rows per transfer when the gallery is not resident


def _torch():
    import torch

    return torch


def available() -> bool:
    """True when torch is loaded (the service's encoders load it; the index layer never imports
    it on its own: that costs seconds and ~300 MB) and sees a CUDA device."""
    torch = sys.modules.get("torch")
    return torch is not None and torch.cuda.is_available()


class Scorer:
    """Scores query parts against one gallery (rows of unit vectors) with torch on ``device``."""

    def __init__(self, gallery: np.ndarray, device: str = "cuda", resident_fraction: float = 0.5):
        torch = _torch()
        self.gallery, self.device = gallery, torch.device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32  # CPU fp16 matmul is slow
        need = gallery.shape[0] * gallery.shape[1] * 2
        free = torch.cuda.mem_get_info(self.device)[0] if self.device.type == "cuda" else need
        self.resident = self._to_device(gallery) if need <= resident_fraction * free else None

    def _to_device(self, rows: np.ndarray):
        torch = _torch()
        host = torch.from_numpy(np.ascontiguousarray(rows, np.float16))
        return host.to(self.device, non_blocking=True).to(self.dtype)

    def all(self, vectors: np.ndarray) -> np.ndarray:
        """(P, N) float32 cosines of every part with every gallery row."""
        torch = _torch()
        with torch.inference_mode():
            q = torch.from_numpy(np.ascontiguousarray(vectors, np.float32)).to(self.device, self.dtype)
            if self.resident is not None:
                return (q @ self.resident.T).float().cpu().numpy()
            out = [(q @ self._to_device(self.gallery[s:s + CHUNK_ROWS]).T).float().cpu().numpy()
                   for s in range(0, len(self.gallery), CHUNK_ROWS)]
            return np.concatenate(out, axis=1) if out else np.zeros((len(vectors), 0), np.float32)

    def rows(self, vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(P, C) float32 cosines with the given gallery rows (re-scoring ANN candidates)."""
        torch = _torch()
        with torch.inference_mode():
            q = torch.from_numpy(np.ascontiguousarray(vectors, np.float32)).to(self.device, self.dtype)
            if self.resident is not None:
                g = self.resident[torch.from_numpy(np.asarray(rows, np.int64)).to(self.device)]
            else:
                g = self._to_device(self.gallery[rows])
            return (q @ g.T).float().cpu().numpy()


_SCORERS: dict[int, tuple[weakref.ref, Scorer]] = {}
_LOCK = threading.Lock()


def scorer_for(gallery: np.ndarray) -> Scorer | None:
    """The cached GPU scorer of this gallery array, or None without a GPU (use numpy)."""
    if not available():
        return None
    with _LOCK:
        hit = _SCORERS.get(id(gallery))
        if hit is not None and hit[0]() is gallery:
            return hit[1]
        key = id(gallery)
        scorer = Scorer(gallery)
        _SCORERS[key] = (weakref.ref(gallery, lambda _: _SCORERS.pop(key, None)), scorer)
        return scorer


def score(vectors: np.ndarray, gallery: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Exact cosines of ``vectors`` with ``gallery`` (or its ``rows``): GPU when present."""
    scorer = scorer_for(gallery)
    vectors = np.ascontiguousarray(vectors, np.float32)
    if scorer is not None:
        return scorer.all(vectors) if rows is None else scorer.rows(vectors, rows)
    g = gallery if rows is None else gallery[rows]
    if g.dtype != np.float32:  # an mmap'd fp16 gallery: convert the rows touched, never the whole
        g = g.astype(np.float32)
    return vectors @ g.T
