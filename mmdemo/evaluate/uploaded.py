"""Evaluation on a visitor's own data: a zip in ImageFolder layout (``class/image.jpg``) for
classification, or images plus ``triplets.csv`` (``reference,modifier,target``) for composed
retrieval, kept in their session's space (``sessions.EvalSet``) until the session goes.

The upload is read the safe way (``data.uploads``: bytes counted as they are read, images
sniffed, member paths made safe), written out in its own layout, and evaluated by exactly the
code of ``eval … --data DIR``; the answer names files as the visitor knows them (paths inside
their upload), never a server path. Unreadable files and bad rows are listed, not fatal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from mmdemo import sessions
from mmdemo.data import uploads
from mmdemo.errors import UserError
from mmdemo.evaluate import run

KEEP = ("triplets.csv",)  # the one non-image file an evaluation set may bring
FOLDS = 5


def hold(galleries: sessions.Galleries, session: str, files: list[Path], max_images: int,
         max_bytes: int) -> sessions.EvalSet:
    """Read the uploaded files (zips or images, and a triplets.csv) into the session's space."""
    got = uploads.collect(files, max_images, max_bytes, keep=KEEP)
    name = files[0].name if len(files) == 1 else f"{len(files)} files"
    images = sum(1 for u in got.uploads if u.name not in KEEP)
    return galleries.hold(session, lambda folder: uploads.write_tree(got.uploads, folder), name, images,
                          [{"file": f, "reason": r} for f, r in got.skipped])


def data_root(folder: Path) -> Path:
    """The folder holding the classes (or triplets.csv): below any single top folder a zip of
    a folder has (``pets/cat/1.jpg`` reads as ``cat/1.jpg``)."""
    while True:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        if len(entries) != 1 or not entries[0].is_dir():
            return folder
        folder = entries[0]


def evaluate(what: str, encoder, held: sessions.EvalSet,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """``eval classify|composed --data`` on the held set (composed with 5-fold CV), reported
    with paths relative to the upload."""
    if what not in ("classify", "composed"):
        raise UserError(f"your own data is evaluated as classify or composed, not {str(what)[:40]!r}")
    root = data_root(held.folder)

    def shown(text: str) -> str:  # server paths as the visitor's own
        return text.replace(str(root) + os.sep, "").replace(str(root), held.name)

    try:
        result = run(what, encoder, str(root), folds=FOLDS if what == "composed" else 0, progress=progress)
    except UserError as exc:
        raise UserError(shown(str(exc))) from None
    if what == "classify":
        result["data"] = held.name
    result["skipped"] = [*held.skipped, *({k: shown(v) if isinstance(v, str) else v for k, v in s.items()}
                                          for s in result["skipped"])]
    return result
