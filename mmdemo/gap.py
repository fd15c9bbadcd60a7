"""The modality gap: where a model puts images, where it puts texts, and closing the distance.

CLIP-style models embed images and texts in one space but not in one region: each modality
sits in its own cone, and the means of the two lie apart (the *modality gap*, Liang et al.,
NeurIPS 2022). That is why early fusion's query lies between two clouds rather than inside
the gallery's. Estimated per index generation from a sample of items and their captions (the
label text where an item has no caption): the two means, the gap ``‖μ_img − μ_txt‖`` and the
mean cosine of each image with its own caption.

*Centering* subtracts each modality's mean, then adds the image mean back, and re-normalises:
text vectors move by the gap vector ``μ_img − μ_txt`` onto the image cloud, while gallery items
and image parts (image modality: minus the image mean, plus it again) stay exactly where they
are, so an image-only query ranks as before. Pure numpy plus a file beside the index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


@dataclass
class Gap:
    image_mean: np.ndarray  # (d,) mean of the sampled items' embeddings
    text_mean: np.ndarray  # (d,) mean of their texts' embeddings (one per item)
    pair_cos: float  # mean cosine of an item with its own text
    texts: list[str]  # the distinct texts of the sample
    text_vectors: np.ndarray  # (T, d) their unit embeddings
    text_of: np.ndarray  # (n,) per sampled row: its text's index in ``texts`` (-1: none)
    rows: np.ndarray  # (n,) the sampled rows
    source: str  # "captions" or "labels"

    @property
    def vector(self) -> np.ndarray:
        """μ_img − μ_txt: what centering adds to every text vector."""
        return self.image_mean - self.text_mean

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.vector))


def estimate(rows: np.ndarray, image_vectors: np.ndarray, texts: Sequence[str], source: str,
             encode: Callable[[list[str]], np.ndarray]) -> Gap | None:
    """The gap over the rows that have a text (``texts[i]`` is row i's, "" for none); None when
    no row has one. Each distinct text is encoded once."""
    has = np.array([bool(t) for t in texts])
    if not has.any():
        return None
    distinct = list(dict.fromkeys(t for t in texts if t))
    where = {t: i for i, t in enumerate(distinct)}
    vectors = np.asarray(encode(distinct), np.float32)
    text_of = np.array([where.get(t, -1) for t in texts], np.int64)
    img = np.asarray(image_vectors, np.float32)[has]
    txt = vectors[text_of[has]]
    return Gap(img.mean(axis=0), txt.mean(axis=0), float(np.mean(np.sum(img * txt, axis=1))), distinct,
               vectors, text_of, np.asarray(rows, np.int64), source)


def center_texts(vectors: np.ndarray, gap: Gap) -> np.ndarray:
    """Text vectors minus the text mean plus the image mean, re-normalised (see the module)."""
    moved = np.atleast_2d(vectors).astype(np.float32) + gap.vector.astype(np.float32)
    return (moved / np.maximum(np.linalg.norm(moved, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def cache_file(folder: Path, key: str) -> Path:
    return folder / f"gap-{key}.npz"


def load(path: Path) -> Gap | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as f:
        return Gap(f["image_mean"], f["text_mean"], float(f["pair_cos"]), [str(t) for t in f["texts"]],
                   f["text_vectors"].astype(np.float32), f["text_of"], f["rows"], str(f["source"]))


def save(folder: Path, key: str, gap: Gap) -> None:
    """Written under a temporary name and renamed (readers never see half a file); gaps of other
    generations go. A folder that cannot be written only costs an estimate next time."""
    path = cache_file(folder, key)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    try:
        np.savez(tmp, image_mean=gap.image_mean, text_mean=gap.text_mean, pair_cos=gap.pair_cos,
                 texts=np.array(gap.texts, dtype=str), text_vectors=gap.text_vectors,
                 text_of=gap.text_of, rows=gap.rows, source=gap.source)
        os.replace(tmp, path)
        for old in folder.glob("gap-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        tmp.unlink(missing_ok=True)
