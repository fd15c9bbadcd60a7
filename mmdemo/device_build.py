"""An index build's decoding on the model's device (a GPU): the CPU reads and hashes, the
device decodes, resizes and thumbnails a batch of JPEGs at once (``data.device_decode``).

``build.build`` takes this path on a GPU for models with the standard pixel transform; the Ray
build's encoder actors share ``decode_on_device``. Every file the device decoder does not take
goes through ``decode.from_bytes`` on the CPU, so a build indexes and skips the same files, with
the same reasons, whichever path it takes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from mmdemo.data import decode, device_decode, thumbs
from mmdemo.data.gallery import is_image_name
from mmdemo.data.images import read_bytes
from mmdemo.errors import UserError


@dataclass(frozen=True)
class OnDevice:
    """A file read and hashed on the CPU whose JPEG is left to the device."""

    jpeg: device_decode.Jpeg
    key: str
    name: str
    thumbnail: bool


def uses_device_decode(encoder) -> bool:
    """Whether a build decodes on the model's device: a GPU, and the standard pixel transform."""
    return encoder.device.type == "cuda" and getattr(encoder, "pixels", None) is not None


def decode_on_device(files: list[OnDevice], device: torch.device, prepare: Callable[[Any], Any], need: decode.Need,
                     thumb_root: Path | None = None, map_: Callable = map) -> list[tuple[Any, str | None, str | None]]:
    """``decode.guarded``'s outcome for each file, decoded, resized and thumbnailed on
    ``device`` in one batch; the files the device decoder refuses go through
    ``decode.from_bytes`` (with ``map_``: a thread pool's, where there is one)."""
    images = device_decode.decode_all([f.jpeg for f in files], device)
    out: list = [None] * len(files)

    def on_cpu(f: OnDevice) -> tuple:
        return decode.guarded(lambda: decode.from_bytes(f.jpeg.data, f.name, f.key, prepare, need, thumb_root,
                                                        f.thumbnail))

    refused = [j for j, im in enumerate(images) if im is None]
    for j, row in zip(refused, map_(on_cpu, [files[j] for j in refused])):
        out[j] = row
    decoded = [j for j, im in enumerate(images) if im is not None]
    for j, x in zip(decoded, device_decode.model_inputs([images[j] for j in decoded], need.short)):
        out[j] = (x, files[j].key, None)
    due = [j for j in decoded if files[j].thumbnail and thumbs.existing(files[j].key, thumb_root) is None]
    for j, jpeg in zip(due, device_decode.thumbnails([images[j] for j in due])):
        thumbs.save_bytes(files[j].key, jpeg, thumb_root)
    return out


def device_batches(data, batch_size: int, device: torch.device) -> Iterator[tuple[list, float]]:
    """``build.batches`` on the device, over a ``build.Decoded``: CPU threads read and hash the
    next batch while this one's JPEGs go through ``decode_on_device``; every other file is
    prepared by ``decode.from_bytes`` in the same threads (or skipped with ``data[i]``'s
    reason) and staged to the device."""
    staging = device_decode.Staging(device)

    def read(i: int) -> tuple[int, Any]:
        entry = data.entries[i]
        if not is_image_name(entry.file):
            return i, data[i][1:]
        try:
            raw, name = read_bytes(entry.file)
        except UserError:
            return i, data[i][1:]  # the same reason, from the same check
        key, thumbnail = decode.digest(raw, data.sha1), entry.source != "bundled"
        if (jpeg := device_decode.jpeg(raw)) is not None:
            return i, OnDevice(jpeg, key, name, thumbnail)
        return i, decode.guarded(lambda: decode.from_bytes(raw, name, key, data.prepare, data.need,
                                                           data.thumb_root, thumbnail))

    def finish(rows: list[tuple[int, Any]], pool: ThreadPoolExecutor) -> list:
        out = dict(rows)
        later = [i for i, row in rows if isinstance(row, OnDevice)]
        out.update(zip(later, decode_on_device([out[i] for i in later], device, data.prepare, data.need,
                                               data.thumb_root, pool.map)))
        staged = [i for i, _ in rows if isinstance(out[i][0], np.ndarray)]
        for i, x in zip(staged, staging.to_device([out[i][0] for i in staged])):
            out[i] = (x, *out[i][1:])
        return [(i, *out[i]) for i, _ in rows]

    def submit(start: int | None, pool: ThreadPoolExecutor) -> list:
        return [] if start is None else [pool.submit(read, i) for i in range(start, min(start + batch_size, len(data)))]

    starts = [*range(0, len(data), batch_size), None]
    with ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="mmdemo-read") as pool:
        pending = submit(starts[0], pool)
        for nxt in starts[1:]:
            rows = [f.result() for f in pending]
            pending = submit(nxt, pool)
            yield finish(rows, pool), 0.0
