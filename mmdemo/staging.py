"""A build's output on its way to an index: fp16 rows in a memory-mapped file and items as JSON
lines, in a scratch folder beside the indexes.

Builds used to grow an in-memory ``Index`` batch by batch: a float32 copy of every embedding,
FAISS's second copy, and a concatenation of the whole array per batch. A build's RAM and
copying grew with the collection, so building needed the RAM that serving from disk avoids.
Here a build holds one batch whatever its size; the finished staging becomes an in-memory
``Index`` (``to_index``) or is written on disk (``ondisk.write``).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from mmdemo import paths
from mmdemo.index import Index
from mmdemo.items import Item
from mmdemo.manifest import Manifest
from mmdemo.rowfile import memmap

PREFIX = ".scratch-"  # + random: a build's folder under the index directory
IN_USE = ".in-use"  # flock'd by the build using the folder; the kernel drops it when that process dies
UNLOCKED_GRACE_S = 3600  # a folder not locked yet is a build starting (or one that died right then)


class Staging:
    """Append-only rows and items with the part of ``Index``'s interface builds use."""

    def __init__(self, manifest: Manifest, capacity: int, folder: Path):
        self.manifest, self.folder = manifest, folder
        self._rows = memmap(folder / "embeddings.npy", np.float16, (max(1, capacity), manifest.dim))
        self._items = open(folder / "items.jsonl", "w", encoding="utf-8")
        self._count = 0
        self._by_hash: dict[str, int] = {}  # nothing to skip: builds keep their items unique (admit)

    def __len__(self) -> int:
        return self._count

    def add(self, embeddings: np.ndarray, items: Sequence[Item]) -> tuple[int, list[Item]]:
        """Append rows (rounded to float16, as ``Index.add`` rounds them) and their items."""
        n = len(items)
        if self._count + n > len(self._rows) or embeddings.shape != (n, self.manifest.dim):
            raise ValueError(f"{n} rows of shape {embeddings.shape[1:]} do not fit the staging")
        self._rows[self._count:self._count + n] = embeddings
        self._items.writelines(json.dumps(asdict(it), ensure_ascii=False) + "\n" for it in items)
        self._count += n
        return n, []

    @property
    def embeddings(self) -> np.ndarray:
        """The float16 rows so far, memory-mapped (read them in slices)."""
        return self._rows[:self._count]

    @property
    def items(self) -> Iterator[Item]:
        """The items so far, read back from their file in row order (one pass each time)."""
        self._items.flush()
        with open(self.folder / "items.jsonl", encoding="utf-8") as f:
            for line in f:
                yield Item(**json.loads(line))

    def to_index(self, factory: str | None = None) -> Index:
        """An in-memory index of the rows (FAISS built once, ``factory`` or by size)."""
        m = replace(self.manifest, factory=factory or "", count=self._count)
        return Index(m, list(self.items), np.asarray(self.embeddings, np.float32))

    def close(self) -> None:
        """Release the files (their disk space goes with the scratch folder's removal)."""
        self._items.close()
        self._rows = None


@contextmanager
def scratch() -> Iterator[Path]:
    """A private folder under the index directory (same disk as the index being built; a
    build's shards and rows can be as big as the index), removed afterwards. Folders that
    builds which died left behind (crash, OOM kill) are removed first."""
    root = paths.index_dir()
    root.mkdir(parents=True, exist_ok=True)
    _sweep(root)
    with tempfile.TemporaryDirectory(dir=root, prefix=PREFIX) as tmp, open(Path(tmp) / IN_USE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield Path(tmp)


def _sweep(root: Path) -> None:
    """Remove scratch folders whose lock no process holds (any host sharing the folder, which
    a process id could not tell)."""
    for old in root.glob(PREFIX + "*"):
        try:
            with open(old / IN_USE) as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except FileNotFoundError:
            if _age_s(old) < UNLOCKED_GRACE_S:
                continue
        except OSError:
            continue  # in use (BlockingIOError), or unreadable: leave it
        shutil.rmtree(old, ignore_errors=True)


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:  # removed meanwhile
        return 0.0


@contextmanager
def staging(manifest: Manifest, capacity: int) -> Iterator[Staging]:
    """A ``Staging`` for up to ``capacity`` rows, removed with its scratch folder."""
    with scratch() as folder:
        s = Staging(manifest, capacity, folder)
        try:
            yield s
        finally:
            s.close()
