"""Encode a gallery into an index: decoding (``data.decode``) overlaps the model's forward, in
DataLoader worker processes on larger machines and in one thread on two cores.

One bad file never aborts a build: unreadable, non-image and duplicate files are skipped and
listed with their reason in the report.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Iterator

import torch

from mmdemo.data import decode
from mmdemo.data.gallery import Entry, is_image_name
from mmdemo.device_build import device_batches, uses_device_decode
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


def decode_entry(file: Path, thumbnail: bool, prepare: Callable[[Any], Any], need: decode.Need,
                 sha1: bool = False, thumb_root: Path | None = None) -> tuple[Any, str | None, str | None]:
    """(prepared input, content hash, None), or (None, None, why it is skipped): one bad file
    is a reason in the report, never an exception. The in-process and Ray builds share it."""
    if not is_image_name(file):
        return None, None, f"not an image file type ({file.suffix or 'no extension'})"
    return decode.guarded(lambda: decode.load(file, prepare, need, sha1, thumb_root, thumbnail))


@dataclass
class Decoded(torch.utils.data.Dataset):
    """Item i -> (i, prepared input or None, content hash or None, skip reason or None).

    Images that are not bundled get their thumbnail written here, from the pixels already
    decoded (results show thumbnails, never the source files)."""

    entries: list[Entry]
    prepare: Callable[[Any], Any]
    need: decode.Need
    sha1: bool = False
    thumb_root: Path | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int):
        e = self.entries[i]
        return (i, *decode_entry(e.file, e.source != "bundled", self.prepare, self.need, self.sha1, self.thumb_root))


def _as_list(batch):
    return batch


def default_workers(n_items: int, batch_size: int) -> int:
    """Decoding worker processes: none for tiny galleries (a worker costs more to start than it
    saves) or on ≤ 2 cores (there decoding threads overlap the forward instead, see ``Overlap``:
    simplejpeg, Pillow's resize and torch all release the GIL); otherwise up to 4, leaving a core
    to the model."""
    cores = os.cpu_count() or 2
    if n_items < 2 * batch_size or cores <= 2:
        return 0
    return min(4, cores - 1)


class Overlap:
    """How decoding in threads shares few cores with a CPU forward, settled on the first batches.

    ``tick(decode_cpu_s)`` once per batch. The first batch warms the model up and the second
    runs with every core for the forward. When decoding cost over a quarter of that batch's
    time, the third runs with one forward thread fewer; if it is faster, decoding is what holds
    the build back, and it gets as many threads as the forward had (niced, so the forward goes
    first); if not, the forward gets its cores back. Sharing every core, the forward's threads
    stall whenever a decoder is scheduled. When decoding costs less than that quarter, the rest
    of the build decodes in one worker process instead (``to_process``): a decoding thread
    holds the GIL between its C calls, and a large forward, which dispatches thousands of ops a
    batch, then waits for it at every switch. In ``bench/build_throughput.py`` the built-in
    model on photos settles on one forward thread and two decoders; a ViT-B-32 moves to a
    process (0.97 of the bare forward, against 0.93 with threads; docs/speed.md).

    The thread count is the process's: one build at a time tunes it (``_TUNING``), and the
    others leave it as they find it, so concurrent builds cannot leave it lowered."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and _TUNING.acquire(blocking=False)
        self.threads = torch.get_num_threads()
        if self.enabled and self.threads < 2:
            self.enabled = False
            _TUNING.release()
        self.decoders = 1
        self.to_process = False
        self._times: list[float] = []

    def tick(self, decode_s: float) -> None:
        if not self.enabled:
            return
        t = self._times
        t.append(time.perf_counter())
        if len(t) == 3 and decode_s > (t[2] - t[1]) / 4:  # batch 2 done with every thread: try one fewer
            torch.set_num_threads(self.threads - 1)
        elif len(t) == 3:  # light decoding: in a process, off the forward's GIL
            self.to_process = True
        elif len(t) == 4 and torch.get_num_threads() < self.threads:
            if t[3] - t[2] < t[2] - t[1]:
                self.decoders = self.threads
            else:
                torch.set_num_threads(self.threads)

    def close(self) -> None:
        if self.enabled:
            torch.set_num_threads(self.threads)
            _TUNING.release()


_TUNING = threading.Lock()  # held by the build that may change torch's (process-wide) threads


def batches(data: Decoded, batch_size: int, workers: int, overlap: Overlap) -> Iterator[tuple[list, float]]:
    """(decoded batch, CPU seconds its decoding took: 0 when not known), the next batch decoding
    while the caller encodes this one: in ``workers`` processes, or in ``overlap.decoders``
    low-priority threads (simplejpeg, Pillow and torch release the GIL) until ``overlap``
    moves the rest to one process."""
    if workers:
        yield from _in_processes(data, range(len(data)), batch_size, workers)
        return

    def decode(rows: range) -> tuple[list, float]:
        began = time.thread_time()
        return [data[i] for i in rows], time.thread_time() - began

    def submit(start: int, decoders: int | None = None) -> list:
        rows = range(start, min(start + batch_size, len(data)))
        step = -(-len(rows) // (decoders or overlap.decoders))
        return [pool.submit(decode, rows[i:i + step]) for i in range(0, len(rows), step)]

    starts = range(0, len(data), batch_size)
    with ThreadPoolExecutor(overlap.threads, thread_name_prefix="mmdemo-decode", initializer=_background) as pool:
        pending = submit(starts[0], overlap.threads) if starts else []  # no forward to share with yet
        for nxt in [*starts[1:], None]:
            parts = [f.result() for f in pending]
            batch = [item for part, _ in parts for item in part], sum(s for _, s in parts)
            if nxt is not None and overlap.to_process:
                rest = _in_processes(data, range(nxt, len(data)), batch_size, 1)  # starts decoding now
                yield batch
                yield from rest
                return
            pending = submit(nxt) if nxt is not None else []
            yield batch


def _in_processes(data: Decoded, rows: range, batch_size: int, workers: int) -> Iterator[tuple[list, float]]:
    """The rows' batches decoded in ``workers`` processes, which start (and prefetch) at once,
    at a lower priority than the forward (whose threads each parallel step waits for)."""
    loader = iter(torch.utils.data.DataLoader(torch.utils.data.Subset(data, rows), batch_size=batch_size,
                                              num_workers=workers, collate_fn=_as_list, prefetch_factor=4,
                                              worker_init_fn=_background_worker))
    return ((batch, 0.0) for batch in loader)


def _background_worker(_: int) -> None:
    _background()


def _background() -> None:
    """Lower this thread's priority (Linux schedules threads apart; elsewhere a no-op)."""
    with suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


BACKGROUND_NICE = 10


DUPLICATE = "duplicate of an image already in the index"


def admit(report: BuildReport, entry: Entry, key: str, reason: str | None, seen: set[str],
          *held: Collection[str]) -> Item | None:
    """The item a decoded entry becomes, or None when it is skipped (unreadable, or its content
    is already in ``seen`` (this build) or ``held`` (the index)), recorded in the report."""
    if reason is None and (key in seen or any(key in h for h in held)):
        reason = DUPLICATE
    if reason is not None:
        report.skipped.append((entry.path, reason))
        return None
    seen.add(key)
    return Item(key[:16], entry.path, key, entry.caption, entry.label, entry.source)


def need_of(encoder) -> decode.Need:
    """How large a build decodes images for this model: its input side, and the thumbnail."""
    return decode.Need(short=encoder.image_size)


def sha1_for(index: Index, known: Collection[str]) -> bool:
    """Whether a build hashes with sha1: the index it joins was built before XXH3 (``decode``)."""
    return decode.uses_sha1(known) or decode.uses_sha1(index._by_hash)


def build(index: Index, entries: list[Entry], encoder, batch_size: int = 64, workers: int | None = None,
          progress: Callable[[int, int], None] | None = None, known: Collection[str] = (),
          thumb_root: Path | None = None, on_device: bool | None = None) -> BuildReport:
    """Add ``entries`` to ``index`` (not saved here); ``progress(done, total)`` after each batch.
    Images whose hash is in ``known`` (already in the index this batch will join) are skipped,
    hashed with sha1 when ``known`` holds an older index's sha1s; thumbnails go to the shared
    folder, or to ``thumb_root`` (a private gallery's). ``on_device`` decodes JPEGs on the
    model's device (default: on a GPU, ``uses_device_decode``; the tests force it on a CPU)."""
    if encoder.fingerprint != index.manifest.fingerprint:
        raise UserError(f"index {index.manifest.name!r} belongs to model {index.manifest.model!r}, "
                        f"not {encoder.spec!r}")
    report = BuildReport(index.manifest.name, total=len(entries))
    start = time.perf_counter()
    workers = default_workers(len(entries), batch_size) if workers is None else workers
    data = Decoded(entries, encoder.prepare_image, need_of(encoder), sha1_for(index, known), thumb_root)
    done = 0
    seen = set()
    overlap = Overlap(workers == 0 and encoder.device.type == "cpu")
    try:
        on_device = uses_device_decode(encoder) if on_device is None else on_device
        stream = (device_batches(data, batch_size, encoder.device) if on_device
                  else batches(data, batch_size, workers, overlap))
        for batch, decode_s in stream:
            overlap.tick(decode_s)
            ready, items = [], []
            for i, prepared, key, reason in batch:
                item = admit(report, entries[i], key, reason, seen, index._by_hash, known)
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
    finally:
        overlap.close()
    report.seconds = time.perf_counter() - start
    return report
