"""Encode a gallery into an index: decoding in DataLoader workers overlaps the model's forward.

One bad file never aborts a build: unreadable, non-image and duplicate files are skipped and
listed with their reason in the report.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection

import torch

from mmdemo.data import thumbs
from mmdemo.data.gallery import Entry, is_image_name
from mmdemo.data.images import open_with_hash
from mmdemo.errors import UserError
from mmdemo.index import Index, Item
from mmdemo.locks import fault_point


@dataclass
class BuildReport:
    name: str
    total: int = 0
    added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.added / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {"name": self.name, "total": self.total, "added": self.added,
                "skipped": [{"file": p, "reason": r} for p, r in self.skipped],
                "seconds": round(self.seconds, 2), "images_per_s": round(self.images_per_s, 1)}


DECODE_SIDE = 448  # ≥ every CLIP input size we serve (≤ 336), far below camera resolutions


class Decoded(torch.utils.data.Dataset):
    """Item i -> (i, prepared input or None, sha1 or None, skip reason or None).

    Images that are not bundled get their thumbnail written here, from the pixels already
    decoded (results show thumbnails, never the source files)."""

    def __init__(self, entries: list[Entry], prepare: Callable[[Any], Any], thumb_root: Path | None = None):
        self.entries, self.prepare, self.thumb_root = entries, prepare, thumb_root

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int):
        entry = self.entries[i]
        if not is_image_name(entry.file):
            return i, None, None, f"not an image file type ({entry.file.suffix or 'no extension'})"
        try:
            image, sha1 = open_with_hash(entry.file, DECODE_SIDE)
            if entry.source != "bundled":
                thumbs.save(sha1, image, self.thumb_root)
            return i, self.prepare(image), sha1, None
        except UserError as exc:
            return i, None, None, str(exc)
        except Exception as exc:  # a preprocessing bug on one odd file must not end the build
            return i, None, None, f"could not prepare image: {type(exc).__name__}: {exc}"


def _as_list(batch):
    return batch


def default_workers(n_items: int, batch_size: int) -> int:
    """Decoding workers: none for tiny galleries (a worker costs more to start than it saves)
    or on ≤ 2 cores (measured: the worker only competes with the model's threads there);
    otherwise up to 4, leaving a core to the model."""
    cores = os.cpu_count() or 2
    if n_items < 2 * batch_size or cores <= 2:
        return 0
    return min(4, cores - 1)


DUPLICATE = "duplicate of an image already in the index"


def admit(report: BuildReport, entry: Entry, sha1: str, reason: str | None, seen: set[str],
          *held: Collection[str]) -> Item | None:
    """The item a decoded entry becomes, or None when it is skipped (unreadable, or its content
    is already in ``seen`` (this build) or ``held`` (the index)), recorded in the report."""
    if reason is None and (sha1 in seen or any(sha1 in h for h in held)):
        reason = DUPLICATE
    if reason is not None:
        report.skipped.append((entry.path, reason))
        return None
    seen.add(sha1)
    return Item(sha1[:16], entry.path, sha1, entry.caption, entry.label, entry.source)


def build(index: Index, entries: list[Entry], encoder, batch_size: int = 64, workers: int | None = None,
          progress: Callable[[int, int], None] | None = None, known: Collection[str] = (),
          thumb_root: Path | None = None) -> BuildReport:
    """Add ``entries`` to ``index`` (not saved here); ``progress(done, total)`` after each batch.
    Images whose sha1 is in ``known`` (already in the index this batch will join) are skipped;
    thumbnails go to the shared folder, or to ``thumb_root`` (a private gallery's)."""
    if encoder.fingerprint != index.manifest.fingerprint:
        raise UserError(f"index {index.manifest.name!r} belongs to model {index.manifest.model!r}, "
                        f"not {encoder.spec!r}")
    report = BuildReport(index.manifest.name, total=len(entries))
    start = time.perf_counter()
    workers = default_workers(len(entries), batch_size) if workers is None else workers
    loader = torch.utils.data.DataLoader(
        Decoded(entries, encoder.prepare_image, thumb_root), batch_size=batch_size, num_workers=workers,
        collate_fn=_as_list, prefetch_factor=4 if workers else None)
    done = 0
    seen = set()
    for batch in loader:
        ready, items = [], []
        for i, prepared, sha1, reason in batch:
            item = admit(report, entries[i], sha1, reason, seen, index._by_hash, known)
            if item is not None:
                ready.append(prepared)
                items.append(item)
        if ready:
            added, _ = index.add(encoder.encode_prepared(ready), items)
            report.added += added
        done += len(batch)
        fault_point("encode")
        if progress:
            progress(done, len(entries))
    report.seconds = time.perf_counter() - start
    return report
