"""Zero-shot classification on labelled data: held-out generated shapes by default, or a user
folder laid out ImageFolder-style (``class_name/image.jpg``). Unreadable files are reported
in ``skipped``, never fatal."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from mmdemo import limits
from mmdemo.classify import label_embeddings, templates_for
from mmdemo.data.gallery import is_image_name
from mmdemo.data.images import open_images
from mmdemo.data.vocab import SHAPES
from mmdemo.errors import UserError
from mmdemo.evaluate import metrics
from mmdemo.evaluate.zeroshot import shape_set


def image_folder(root: str | Path) -> tuple[list, list[int], list[str], list[dict]]:
    """(images, label indices, class names, skipped) from ``root/class_name/*``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise UserError(f"{root} needs at least two class folders (class_name/image.jpg)")
    limits.labels(classes)  # folder names become prompts: as bounded as typed labels
    images, labels, skipped = [], [], []
    for i, name in enumerate(classes):
        files = [f for f in sorted((root / name).rglob("*")) if f.is_file() and not f.name.startswith(".")]
        skipped += [{"file": str(f), "reason": f"not an image file type ({f.suffix or 'none'})"}
                    for f in files if not is_image_name(f)]
        decoded, _, unreadable = open_images([f for f in files if is_image_name(f)])
        images += decoded
        labels += [i] * len(decoded)
        skipped += unreadable
    if not images:
        raise UserError(f"no readable images under {root}")
    return images, labels, classes, skipped


def evaluate(encoder, data: str | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """Top-1/top-5 accuracy, macro P/R/F1, per-class recall and the confusion matrix of
    zero-shot labels (the model family's prompt templates); ``progress(done, total)`` per batch."""
    if data:
        images, labels, classes, skipped = image_folder(data)
    else:
        images, attrs = shape_set(600, "any")
        classes, skipped = list(SHAPES), []
        labels = [SHAPES.index(a["shape"]) for a in attrs]
    embedded = encoder.encode_images(images, progress=(lambda n: progress(n, len(images))) if progress else None)
    scores = embedded @ label_embeddings(encoder, classes, templates_for(encoder.spec)).T
    return {"model": encoder.spec, "data": data or "generated shapes (held-out seed)", "n": len(labels),
            **metrics.classification(labels, np.asarray(scores), classes), "skipped": skipped}
