"""The learned combiner an index uses for ``fusion=learned``: trained once, kept beside the index.

The bundled index gets one at first start (``building.ensure_index``), so every fusion mode
works on a fresh install: the built-in model's combiner ships with its weights (1.6 MB), and
any other model's is trained then; ``mmdemo train-combiner --index NAME`` makes one for any
index.
Training needs no labelled data from the user: it uses generated triplets (new shape
geometries and the bundled gallery's garments, never the evaluation rows), ~20 s on 2 cores.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

from mmdemo import combiner, paths
from mmdemo.errors import UserError

Progress = Callable[[int, int], None]
# the built-in model's combiner, trained by `mmdemo train-combiner --index bundled --ship`
SHIPPED = Path(__file__).resolve().parent.parent / "encoders" / "builtin" / "combiner"
TRAIN_COST = "about 20 s for the built-in model; a real CLIP first encodes ~17,000 images, minutes on a CPU"


def folder(name: str) -> Path:
    return paths.index_dir() / name


def has_combiner(name: str, fingerprint: str) -> bool:
    """True when index ``name`` holds a combiner trained on this model's embeddings."""
    card = folder(name) / combiner.CARD
    if not (folder(name) / combiner.FILE).is_file() or not card.is_file():
        return False
    try:
        return json.loads(card.read_text())["config"]["model_fingerprint"] == fingerprint
    except (ValueError, KeyError):
        return False


def ready(name: str) -> bool:
    """True when index ``name`` exists and holds a combiner trained on its own model."""
    from mmdemo.index import read_manifest

    try:
        return has_combiner(name, read_manifest(name).fingerprint)
    except UserError:  # no such index (a private gallery has no folder either)
        return False


def unavailable(name: str) -> str:
    """Why ``learned`` is not offered on index ``name``, and the command that changes that."""
    return (f"learned fusion needs a combiner trained for index {name!r}'s model: "
            f"`{combiner.TRAIN_COMMAND.format(name=name)}` trains one ({TRAIN_COST})")


def train_for_index(name: str, encoder, progress: Progress | None = None) -> Path:
    """Train the plain (TIRG-style) combiner on generated triplets and save it with index ``name``.

    ``progress(done, total)`` counts one step for making the triplets and one per epoch.
    """
    from mmdemo.evaluate import composed
    from mmdemo.index import read_manifest

    manifest = read_manifest(name)  # refuses a missing index with a message fit to show
    if manifest.fingerprint != encoder.fingerprint:
        raise UserError(f"index {name!r} was built with {manifest.model!r}, not {encoder.spec!r}: "
                        f"train its combiner with that model")
    cfg = combiner.CombinerConfig(dim=encoder.dim, model_fingerprint=encoder.fingerprint)
    total = cfg.epochs + 1
    if progress:
        progress(0, total)
    triplets = composed.training_triplets(encoder)
    if progress:
        progress(1, total)
    model = combiner.train(*triplets[:3], cfg, triplets[3],
                           on_epoch=(lambda e: progress(e + 2, total)) if progress else None)
    report = {"triplets": int(len(triplets[0])), "trained_by": combiner.TRAIN_COMMAND.format(name=name)}
    return combiner.save(model, cfg, folder(name), report)


def shipped_for(encoder) -> Path | None:
    """The combiner shipped beside the built-in weights, if it was trained on this model."""
    if encoder.spec != "builtin":
        return None
    try:
        card = json.loads((SHIPPED / combiner.CARD).read_text())
    except (OSError, ValueError):
        return None
    return SHIPPED if card["config"]["model_fingerprint"] == encoder.fingerprint else None


def ship(name: str) -> Path:
    """Copy index ``name``'s combiner beside the built-in weights (after retraining the model)."""
    SHIPPED.mkdir(exist_ok=True)
    for f in (combiner.FILE, combiner.CARD):
        shutil.copyfile(folder(name) / f, SHIPPED / f)
    return SHIPPED


def ensure_for_index(name: str, encoder, progress: Progress | None = None) -> bool:
    """Give index ``name`` a combiner unless it has one for this model: the shipped one when it
    fits, else, for the built-in model, one trained now (~20 s). True if one was made.

    Other models are left to ``mmdemo train-combiner``: their triplets take ~17,000 image
    encodes, minutes on a CPU for a ViT-B, too long to hide in a start."""
    if has_combiner(name, encoder.fingerprint):
        return False
    shipped = shipped_for(encoder)
    if shipped is not None:
        for f in (combiner.FILE, combiner.CARD):
            shutil.copyfile(shipped / f, folder(name) / f)
    elif encoder.spec == "builtin":
        train_for_index(name, encoder, progress)
    else:
        return False
    return True
