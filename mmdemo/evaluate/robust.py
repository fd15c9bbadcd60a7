"""Does the model hold up outside its own generator? Three checks for ``eval zeroshot``.

- ``renderer_heldout``: shapes drawn by the renderer training never used (matplotlib), on
  random canvases, sizes, backgrounds and damage: shape, colour and colour+shape accuracy.
- ``phrasing_heldout``: text→image R@10 with phrasings training never used, beside the same
  measure with the training phrasings.
- ``hint_gain``: on ambiguous images (tiny, blurred or grey shapes), zero-shot shape accuracy
  from the image alone and fused with a correct text hint, as the Classify tab fuses them.
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from mmdemo import fusion
from mmdemo.classify import label_embeddings
from mmdemo.data import captions, phrasings, scenes
from mmdemo.data.rasterizers import HELDOUT_RENDERER
from mmdemo.data.vocab import COLOR_NAMES, EVAL_SEED, GARMENTS, SHAPES

COLOR_TEMPLATES = ("a {} one", "{}", "something {}")
SHAPE_TEMPLATES = ("a {}", "a photo of a {}")
HINT = "it is a {}"
HINT_WEIGHTS = np.array([1.0, 0.5], np.float32)  # image, text: the Classify tab's defaults
EXTENT = (0.15, 0.9)  # shape size / short side in the renderer_heldout set


def accuracy(emb: np.ndarray, label_emb: np.ndarray, truth: list[int]) -> float:
    return float(np.mean(np.argmax(emb @ label_emb.T, axis=1) == np.asarray(truth)))


def renderer_set(n: int, seed: int = EVAL_SEED, **kwargs) -> list[scenes.Scene]:
    """``n`` scenes by the held-out renderer, shapes in turn, colours (all 48 pairs) at random."""
    rng = np.random.default_rng([seed, 30, len(kwargs)])
    return [scenes.wild_shape(rng, HELDOUT_RENDERER, shape=SHAPES[i % len(SHAPES)], heldout="any",
                              **kwargs) for i in range(n)]


def renderer_heldout(encoder, n: int = 480) -> dict:
    data = renderer_set(n, extent=EXTENT)
    emb = encoder.encode_images([s.image for s in data])
    attrs = [s.attributes for s in data]
    pairs = list(itertools.product(COLOR_NAMES, SHAPES))
    pair_emb = label_embeddings(encoder, [f"{c} {s}" for c, s in pairs], SHAPE_TEMPLATES)
    return {
        "shape": accuracy(emb, label_embeddings(encoder, SHAPES, SHAPE_TEMPLATES),
                           [SHAPES.index(a["shape"]) for a in attrs]),
        "color": accuracy(emb, label_embeddings(encoder, COLOR_NAMES, COLOR_TEMPLATES),
                           [COLOR_NAMES.index(a["color"]) for a in attrs]),
        "color_shape": accuracy(emb, pair_emb, [pairs.index((a["color"], a["shape"])) for a in attrs]),
        "n": n,
    }


def recall_at_10(encoder, queries: list[tuple[str, dict]], gallery: np.ndarray, attrs: list[dict]) -> float:
    """Mean over queries of |fitting items in the top 10| / min(10, |fitting items|); queries
    that no gallery item fits are left out."""
    columns = {k: np.array([a.get(k, "") for a in attrs]) for k in {k for a in attrs for k in a}}
    emb = encoder.encode_texts([q for q, _ in queries])
    top = np.argsort(-(emb @ gallery.T), axis=1, kind="stable")[:, :10]
    scores = []
    for (_, named), row in zip(queries, top):
        fit = np.logical_and.reduce([columns[k] == v for k, v in named.items()])
        if fit.any():
            scores.append(fit[row].sum() / min(10, int(fit.sum())))
    return float(np.mean(scores))


def phrasing_heldout(encoder, gallery: np.ndarray, attrs: list[dict]) -> dict:
    """R@10 of every seen and every held-out phrasing, filled with every colour/shape/garment."""
    values = {"color": COLOR_NAMES, "shape": SHAPES, "garment": GARMENTS}
    seen = captions.phrasing_queries({k: phrasings.SEEN[k] for k in phrasings.HELDOUT}, values)
    held = captions.phrasing_queries(phrasings.HELDOUT, values)
    r_seen, r_held = (recall_at_10(encoder, q, gallery, attrs) for q in (seen, held))
    return {"seen": r_seen, "heldout": r_held, "gap": r_seen - r_held,
            "queries": {"seen": len(seen), "heldout": len(held)}}


def ambiguous_set(n: int, seed: int = EVAL_SEED) -> list[scenes.Scene]:
    """Tiny, blurred and grey shapes by the held-out renderer, a third each."""
    kinds = ({"extent": (0.07, 0.13)}, {"extent": (0.2, 0.6), "blur": 0.06}, {"extent": (0.15, 0.5), "grey": True})
    per = [renderer_set(n // 3 + 1, seed + 1 + i, **k) for i, k in enumerate(kinds)]
    return [s for group in zip(*per) for s in group][:n]


def hint_gain(encoder, n: int = 360, texts: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
    """``texts`` maps the label and hint embeddings first (centering across the modality gap)."""
    data = ambiguous_set(n)
    emb = encoder.encode_images([s.image for s in data])
    truth = [SHAPES.index(s.attributes["shape"]) for s in data]
    labels = label_embeddings(encoder, SHAPES, SHAPE_TEMPLATES)
    hints = encoder.encode_texts([HINT.format(s.attributes["shape"]) for s in data])
    if texts is not None:
        labels, hints = texts(labels), texts(hints)
    fused = np.stack([fusion.early_query(np.stack([e, h]), HINT_WEIGHTS) for e, h in zip(emb, hints)])
    image_only, with_hint = accuracy(emb, labels, truth), accuracy(fused, labels, truth)
    return {"image_only": image_only, "with_hint": with_hint, "gain": with_hint - image_only, "n": n,
            "hint": HINT, "w_image": float(HINT_WEIGHTS[0]), "w_text": float(HINT_WEIGHTS[1])}
