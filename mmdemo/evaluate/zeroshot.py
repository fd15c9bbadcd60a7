"""Zero-shot accuracy of a model on held-out generated shapes and shipped Fashion-MNIST test images.

Images come from EVAL_SEED, a stream training never draws from; ``heldout_pairs`` measures
colour+shape on the pairs that were never rendered during training at all. ``robust`` adds
the held-out renderer, held-out phrasings and the gain from a text hint. ``centered`` repeats
the accuracies with the label (and hint) texts moved across the modality gap (``mmdemo.gap``).
"""

from __future__ import annotations

import itertools

import numpy as np
from PIL import Image

from mmdemo import gap as gap_mod
from mmdemo.classify import label_embeddings
from mmdemo.data import fashion, gallery, shapes
from mmdemo.data.images import open_images
from mmdemo.data.vocab import COLOR_NAMES, EVAL_SEED, GARMENTS, SHAPES
from mmdemo.evaluate import robust
from mmdemo.evaluate.robust import COLOR_TEMPLATES, SHAPE_TEMPLATES, accuracy

FASHION_EVAL_START = 400  # rows of the shipped sample below this belong to the bundled gallery


def shape_set(n: int, heldout: str, seed: int = EVAL_SEED) -> tuple[list[Image.Image], list[dict]]:
    rng = np.random.default_rng([seed, {"exclude": 0, "only": 1, "any": 2}[heldout]])
    specs = [shapes.sample_spec(rng, heldout=heldout) for _ in range(n)]
    return [shapes.render(s) for s in specs], [s.attributes for s in specs]


def garment_set(n: int, seed: int = EVAL_SEED) -> tuple[list[Image.Image], list[dict]]:
    pixels, labels = fashion.load_sample()
    rng = np.random.default_rng([seed, 3])
    rows = range(FASHION_EVAL_START, min(len(labels), FASHION_EVAL_START + n))
    specs = [fashion.sample_spec(rng, i, labels[i], heldout="any") for i in rows]
    return [fashion.render(s, pixels[s.index]) for s in specs], [s.attributes for s in specs]


def evaluate(encoder, n_seen: int = 960, n_heldout: int = 480, n_garment: int = 800, n_renderer: int = 480,
             n_hint: int = 360) -> dict:
    """The JSON of ``eval zeroshot``: top-1 accuracies as fractions, then the robustness checks."""
    seen_imgs, seen = shape_set(n_seen, "exclude")
    held_imgs, held = shape_set(n_heldout, "only")
    g_imgs, g_attrs = garment_set(n_garment)
    e_seen, e_held, e_g = (encoder.encode_images(x) for x in (seen_imgs, held_imgs, g_imgs))
    all_attrs, e_all = seen + held, np.concatenate([e_seen, e_held])
    colors = label_embeddings(encoder, COLOR_NAMES, COLOR_TEMPLATES)
    shapes_ = label_embeddings(encoder, SHAPES, SHAPE_TEMPLATES)
    pairs = list(itertools.product(COLOR_NAMES, SHAPES))
    pair_emb = label_embeddings(encoder, [f"{c} {s}" for c, s in pairs], SHAPE_TEMPLATES)
    pair_idx = {p: i for i, p in enumerate(pairs)}
    garments = label_embeddings(encoder, GARMENTS, SHAPE_TEMPLATES)
    g = bundled_gap(encoder)
    moved = lambda v: gap_mod.center_texts(v, g)  # noqa: E731  (label and hint texts, across the gap)
    return {
        "model": encoder.spec,
        "color": accuracy(e_all, colors, [COLOR_NAMES.index(a["color"]) for a in all_attrs]),
        "shape": accuracy(e_all, shapes_, [SHAPES.index(a["shape"]) for a in all_attrs]),
        "color_shape": accuracy(e_seen, pair_emb, [pair_idx[a["color"], a["shape"]] for a in seen]),
        "heldout_pairs": accuracy(e_held, pair_emb, [pair_idx[a["color"], a["shape"]] for a in held]),
        "garment": accuracy(e_g, garments, [GARMENTS.index(a["garment"]) for a in g_attrs]),
        "renderer_heldout": robust.renderer_heldout(encoder, n_renderer),
        "phrasing_heldout": robust.phrasing_heldout(encoder, np.concatenate([e_all, e_g]), all_attrs + g_attrs),
        "hint_gain": robust.hint_gain(encoder, n_hint),
        "centered": {
            "gap": {"norm": g.norm, "pair_cos": g.pair_cos, "from": "the bundled gallery and its captions"},
            "color": accuracy(e_all, moved(colors), [COLOR_NAMES.index(a["color"]) for a in all_attrs]),
            "shape": accuracy(e_all, moved(shapes_), [SHAPES.index(a["shape"]) for a in all_attrs]),
            "color_shape": accuracy(e_seen, moved(pair_emb), [pair_idx[a["color"], a["shape"]] for a in seen]),
            "heldout_pairs": accuracy(e_held, moved(pair_emb), [pair_idx[a["color"], a["shape"]] for a in held]),
            "garment": accuracy(e_g, moved(garments), [GARMENTS.index(a["garment"]) for a in g_attrs]),
            "hint_gain": robust.hint_gain(encoder, n_hint, texts=moved),
        },
    }


def bundled_gap(encoder) -> gap_mod.Gap:
    """The modality gap as the app estimates it for the bundled index: its items and captions
    (rendered from the gallery seed; no evaluation image is used)."""
    entries = gallery.bundled_entries()
    images, _, _ = open_images([e.file for e in entries])
    return gap_mod.estimate(np.arange(len(entries)), encoder.encode_images(images), [e.caption for e in entries],
                            "captions", encoder.encode_texts)
