"""Does an image query keep its shape class? "make it COLOUR" on the bundled gallery's shapes.

    python bench/class_precision.py [MODEL ...]   (default: builtin)

Composed retrieval's benchmark has a twin of every reference (same geometry, other colour), so a
model that ranks place over class can still score well there. The bundled gallery has no
twins: a reference shape plus "make it COLOUR" (early fusion, text weight 0.6, the app's first
example) should return that shape in that colour. Prints per model: the top six of "pink
hexagon + make it blue" and, over 60 random bundled shapes, the precision of the top k
(k = min(5, how many such items exist)) for the named colour and the reference's shape.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import json

import numpy as np
from PIL import Image

from mmdemo import encoders
from mmdemo.data import gallery
from mmdemo.data.vocab import COLOR_NAMES


def measure(spec: str, images: list, labels: list[str], w_text: float = 0.6) -> dict:
    enc = encoders.load(spec)
    emb = enc.encode_images(images)

    def top(ref: int, text: str, k: int) -> np.ndarray:
        q = (1 - w_text) * emb[ref] + w_text * enc.encode_texts([text])[0]
        return np.argsort(-(emb @ q), kind="stable")[:k]

    rng = np.random.default_rng(0)
    precision = []
    for ref in rng.choice(len(labels), 60, replace=False):
        colour, shape = labels[ref].split(" ", 1)
        new = str(rng.choice([c for c in COLOR_NAMES if c != colour]))
        want = f"{new} {shape}"
        k = min(5, labels.count(want))
        precision.append(float(np.mean([labels[i] == want for i in top(int(ref), f"make it {new}", k)])))
    return {"model": spec, "pink_hexagon_make_it_blue_top6": [labels[i] for i in top(1, "make it blue", 6)],
            "class_precision": round(float(np.mean(precision)), 3), "queries": len(precision)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["builtin"])
    a = ap.parse_args()
    entries = gallery.bundled_entries()[:gallery.BUNDLED_SHAPES]
    images = [Image.open(e.file).convert("RGB") for e in entries]
    labels = [e.label for e in entries]
    for spec in a.models:
        print(json.dumps(measure(spec, images, labels)), flush=True)


if __name__ == "__main__":
    main()
