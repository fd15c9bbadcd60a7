"""Small labelled sets a user might upload to the Evaluate tab, zipped as they would zip them
(one top folder), each with a broken file and (for triplets) bad rows that must be listed."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from mmdemo.data import shapes
from mmdemo.data.vocab import TRAIN_SEED

CLASSES = ("circle", "star", "cross")


def png(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def classify_zip(path: Path, per_class: int = 4) -> Path:
    """``shapes/<class>/<i>.png`` for three shapes, plus ``shapes/star/broken.png`` (not an
    image) and ``shapes/README.txt``."""
    rng = np.random.default_rng(TRAIN_SEED + 99)
    with zipfile.ZipFile(path, "w") as z:
        for shape in CLASSES:
            for i in range(per_class):
                z.writestr(f"shapes/{shape}/{i}.png", png(shapes.render(shapes.sample_spec(rng, shape=shape))))
        z.writestr("shapes/star/broken.png", b"not a png")
        z.writestr("shapes/README.txt", "my shapes")
    return path


def triplets_zip(path: Path, bases: int = 3) -> Path:
    """``set/img/b<k>-<colour>-<shape>.png`` (each base geometry in 3 colours × 2 shapes) and
    ``set/triplets.csv``: per base, colour and shape changes of one reference, plus a row
    without a target and one naming a missing image."""
    rng = np.random.default_rng(TRAIN_SEED + 98)
    rows = ["reference,modifier,target"]
    with zipfile.ZipFile(path, "w") as z:
        for b in range(bases):
            base = shapes.sample_spec(rng, heldout="any")
            for colour in ("red", "blue", "green"):
                for shape in ("circle", "star"):
                    z.writestr(f"set/img/b{b}-{colour}-{shape}.png",
                               png(shapes.render(replace(base, color=colour, shape=shape))))
            rows += [f"img/b{b}-red-circle.png,make it blue,img/b{b}-blue-circle.png",
                     f"img/b{b}-red-circle.png,make it green,img/b{b}-green-circle.png",
                     f"img/b{b}-red-circle.png,as a star,img/b{b}-red-star.png",
                     f"img/b{b}-blue-star.png,make it red,img/b{b}-red-star.png"]
        rows += ["img/b0-red-circle.png,make it blue,", "img/b0-red-circle.png,in red,img/missing.png"]
        z.writestr("set/triplets.csv", "\n".join(rows) + "\n")
        z.writestr("set/img/broken.png", b"not a png")
    return path
