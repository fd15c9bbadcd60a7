"""A picture of the built-in model on drawings by the renderer training never used (matplotlib).

    python bench/heldout_grid.py [--out docs/heldout-grid.png] [--model builtin]

Top rows: random scenes from ``eval zeroshot``'s ``renderer_heldout`` set (seed EVAL_SEED), each
captioned with the model's zero-shot colour+shape answer (48 labels), green when right, red
when wrong. Bottom row: ambiguous images (tiny, blurred, grey) with the image-only shape answer
and the answer fused with the correct hint "it is a …". Prints the accuracies of what it shows
and, on 120 held-out-renderer images per bin, shape accuracy by shape size (extent as a
fraction of the canvas's short side): where the model's 64-pixel input runs out.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import itertools
import json

import numpy as np

from mmdemo import encoders, fusion
from mmdemo.classify import label_embeddings
from mmdemo.data.vocab import COLOR_NAMES, SHAPES
from mmdemo.evaluate import robust


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/heldout-grid.png")
    ap.add_argument("--model", default="builtin")
    ap.add_argument("--cols", type=int, default=8)
    a = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    enc = encoders.load(a.model)
    scenes = robust.renderer_set(3 * a.cols, extent=robust.EXTENT)
    ambiguous = robust.ambiguous_set(a.cols)
    pairs = list(itertools.product(COLOR_NAMES, SHAPES))
    pair_emb = label_embeddings(enc, [f"{c} {s}" for c, s in pairs], robust.SHAPE_TEMPLATES)
    shape_emb = label_embeddings(enc, SHAPES, robust.SHAPE_TEMPLATES)
    answers = [pairs[i] for i in np.argmax(enc.encode_images([s.image for s in scenes]) @ pair_emb.T, 1)]
    e_amb = enc.encode_images([s.image for s in ambiguous])
    hints = enc.encode_texts([robust.HINT.format(s.attributes["shape"]) for s in ambiguous])
    fused = np.stack([fusion.early_query(np.stack([e, h]), robust.HINT_WEIGHTS) for e, h in zip(e_amb, hints)])
    alone, hinted = (np.argmax(x @ shape_emb.T, 1) for x in (e_amb, fused))

    fig, axes = plt.subplots(4, a.cols, figsize=(1.6 * a.cols, 7.4))
    right = []
    for ax, scene, (c, s) in zip(axes[:3].ravel(), scenes, answers):
        ok = (c, s) == (scene.attributes["color"], scene.attributes["shape"])
        right.append(ok)
        ax.imshow(scene.image)
        ax.set_title(f"{c} {s}", fontsize=8, color="green" if ok else "red")
    for ax, scene, i, j in zip(axes[3], ambiguous, alone, hinted):
        ax.imshow(scene.image)
        ax.set_title(f"{SHAPES[i]} → {SHAPES[j]}", fontsize=8,
                     color="green" if SHAPES[j] == scene.attributes["shape"] else "red")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[3][0].set_ylabel("ambiguous:\nimage → +hint", fontsize=8)
    fig.suptitle("Held-out renderer (matplotlib, never in training): the built-in model's answers", fontsize=10)
    fig.tight_layout()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=80)
    truth = [SHAPES.index(s.attributes["shape"]) for s in ambiguous]
    by_size = {}
    for lo, hi in ((0.05, 0.1), (0.1, 0.15), (0.15, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 0.9)):
        group = robust.renderer_set(120, seed=int(lo * 1000), extent=(lo, hi))
        by_size[f"{lo:.2f}-{hi:.2f}"] = round(robust.accuracy(
            enc.encode_images([s.image for s in group]), shape_emb,
            [SHAPES.index(s.attributes["shape"]) for s in group]), 3)
    print(json.dumps({"shape_accuracy_by_extent": by_size}))
    print(json.dumps({"out": a.out, "shown": len(scenes), "color_shape_right": int(sum(right)),
                      "ambiguous_image_only_right": int(np.sum(alone == truth)),
                      "ambiguous_with_hint_right": int(np.sum(hinted == truth)), "ambiguous": len(ambiguous)}))


if __name__ == "__main__":
    main()
