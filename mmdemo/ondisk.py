"""Out-of-core indexes: IVF-PQ inverted lists and float16 embeddings memory-mapped from disk.

An in-memory index costs ~2 × 4 bytes × dim per item (float32 embeddings + FAISS's copy):
~4 GB per 1M × 512. Above the memory budget (``--max-memory``) the index is written here as

    vectors-<data>.faiss    trained IVF-PQ (optionally OPQ) whose lists live in ↓
    ivfdata-<data>.ivfdata  inverted lists (``faiss.contrib.ondisk.merge_ondisk`` of shards)
    embeddings-<data>.npy   float16, opened with ``mmap_mode="r"``: ANN candidates are
                            re-scored exactly from the rows they touch, never a float32 copy
    items-<data>.jsonl      + offsets-<data>.npy (byte offset of each line): items read on demand
    ids-<data>.npy          the item ids sorted, with their rows: an id is found by binary search

Loading maps the files and reads the small trained parts (centroids, PQ tables): seconds and
tens of MB whatever the size. Serving RAM is then the pages queries touch.
"""

from __future__ import annotations

import ctypes
import json
import math
import mmap
import os
import re
import sys
import tempfile
import threading
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import faiss
import numpy as np
from faiss.contrib.ondisk import merge_ondisk

from mmdemo import gpu, limits, locks, rowfile
from mmdemo import manifest as manifest_mod
from mmdemo.errors import UserError
from mmdemo.fusion import Candidates
from mmdemo.items import Item
from mmdemo.manifest import ONDISK, Manifest, read_only

SHARD_ROWS = 250_000  # rows added per shard index before the on-disk merge
POOL = 1000  # ANN candidates per positive query part, re-scored exactly
MIN_ONDISK = 10_000  # PQ codebooks train on ≥ 39 × 256 points; smaller collections stay Flat
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_bytes(text: str | int | None) -> int | None:
    """'1.5G', '800M', '2048' (bytes) -> bytes; None stays None."""
    if text is None or isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise UserError(f"invalid memory size {text!r}: write e.g. 1.5G or 800M")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def in_memory_bytes(count: int, dim: int) -> int:
    """What an in-memory Flat index holds: float32 embeddings, FAISS's copy, item objects."""
    return count * (8 * dim + 256)


def ondisk_ram_bytes(count: int, dim: int, nlist: int) -> int:
    """What an on-disk index keeps in RAM: centroids, PQ/OPQ tables, the offsets array (the
    lists and embeddings are mapped, and pages come and go with the queries)."""
    return nlist * dim * 4 + dim * dim * 4 + 256 * dim * 4 + 8 * count


def nprobe_for(nlist: int) -> int:
    """Lists scanned per probe: a quarter. A fused query's results lie between its parts'
    clusters; fewer probes lost them on clustered data (test_ondisk, bench/scale.py)."""
    return min(nlist, max(64, nlist // 4))


@dataclass
class Plan:
    factory: str
    nlist: int
    nprobe: int


def plan(count: int, dim: int, max_memory: int | None, opq: bool = False) -> Plan | None:
    """None when the in-memory index fits the budget (or there is none); else the IVF-PQ to
    build: ~sqrt(N) lists (autofaiss's rule of thumb), codes of dim/8 bytes."""
    if max_memory is None or in_memory_bytes(count, dim) <= max_memory or count < MIN_ONDISK:
        return None
    nlist = int(2 ** round(math.log2(max(64.0, math.sqrt(count)))))
    nlist = max(16, min(nlist, 65536, count // 39))
    m = max(d for d in (64, 48, 32, 16, 8, 4) if dim % d == 0 and d <= max(16, dim // 8))
    if ondisk_ram_bytes(count, dim, nlist) > max_memory:
        raise UserError(f"even an on-disk index of {count} items needs ~{ondisk_ram_bytes(count, dim, nlist) >> 20}"
                        f" MB of RAM, over the budget of {max_memory >> 20} MB")
    factory = f"{'OPQ%d,' % m if opq else ''}IVF{nlist},PQ{m}"
    return Plan(factory, nlist, nprobe=nprobe_for(nlist))


def _train(factory: str, dim: int, embeddings: np.ndarray, nlist: int, seed: int = 0) -> faiss.Index:
    """An empty trained index; k-means on a sample of ~64 points per list (FAISS GPU when the
    faiss-gpu build sees a device)."""
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    n = min(len(embeddings), max(64 * nlist, 256 * 40))  # PQ codebooks want ≥ 39 points per code
    rows = np.sort(np.random.default_rng(seed).choice(len(embeddings), n, replace=False))
    sample = np.ascontiguousarray(embeddings[rows], np.float32)
    ivf = faiss.extract_index_ivf(index)
    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        ivf.clustering_index = faiss.index_cpu_to_all_gpus(faiss.IndexFlatIP(ivf.d))
    ivf.cp.niter = 10
    pq = faiss.downcast_index(ivf)
    if hasattr(pq, "do_polysemous_training"):
        pq.do_polysemous_training = False  # minutes of training for Hamming filtering we do not use
    index.train(sample)
    return index


def write(folder: Path, manifest: Manifest, embeddings: np.ndarray, items: Iterable[dict], plan_: Plan,
          progress: Callable[[int, int], None] | None = None) -> Manifest:
    """Write ``embeddings`` (any array-like, e.g. a memmap; read in shards) and ``items`` (dicts
    in row order) as the next generation of ``folder``, under its writer lock."""
    count, dim = embeddings.shape
    with locks.writer(folder):
        folder.mkdir(parents=True, exist_ok=True)
        current = manifest_mod.read(folder)
        manifest_mod.prune(folder, current)
        gen = max(manifest.generation, current.generation if current else 0) + 1
        token = uuid.uuid4().hex
        data = f"{gen}-{token[:12]}"
        names = files(data)

        def copy_embeddings(p: Path) -> None:
            out = rowfile.memmap(p, np.float16, (count, dim))
            for s in range(0, count, SHARD_ROWS):
                out[s:s + SHARD_ROWS] = embeddings[s:s + SHARD_ROWS]
            out.flush()

        locks.atomic_write(folder / names["embeddings"], copy_embeddings)
        emb = np.load(folder / names["embeddings"], mmap_mode="r")
        _write_items(folder, names, items, count)
        trained = _train(plan_.factory, dim, emb, plan_.nlist)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".shards-") as tmp:
            shard_files = []
            for s in range(0, count, SHARD_ROWS):  # each shard added on its own, then merged on disk
                shard = faiss.clone_index(trained)
                block = np.ascontiguousarray(emb[s:s + SHARD_ROWS], np.float32)
                shard.add_with_ids(block, np.arange(s, s + len(block), dtype=np.int64))
                shard_files.append(f"{tmp}/{len(shard_files)}.index")
                faiss.write_index(shard, shard_files[-1])
                del shard, block
                if progress:
                    progress(min(count, s + SHARD_ROWS), count)
            with _c_stdout_to_stderr():
                merge_ondisk(trained, shard_files, str(folder / names["ivfdata"]))
        locks.atomic_write(folder / names["vectors"], lambda p: faiss.write_index(trained, str(p)))
        new = Manifest(**{**asdict(manifest), "factory": plan_.factory, "count": count, "generation": gen,
                          "token": token, "data": data, "storage": ONDISK, "updated": manifest_mod.now(),
                          "format_version": manifest_mod.FORMAT_VERSION})
        manifest_mod.write(folder, new)
    return new


_STDOUT = threading.Lock()


@contextmanager
def _c_stdout_to_stderr() -> Iterator[None]:
    """FAISS's on-disk lists ``printf`` each resize to stdout, which would corrupt a
    ``build-index --json`` answer: C-level stdout goes to stderr meanwhile."""
    with _STDOUT:
        try:
            saved = os.dup(1)
        except OSError:  # no stdout at all: nothing to keep clean
            yield
            return
        libc = ctypes.CDLL(None)
        if sys.stdout is not None:
            sys.stdout.flush()
        libc.fflush(None)
        os.dup2(2, 1)
        try:
            yield
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)


def files(data: str) -> dict[str, str]:
    return {**manifest_mod.files(data), "ivfdata": f"ivfdata-{data}.ivfdata", "offsets": f"offsets-{data}.npy",
            "ids": f"ids-{data}.npy"}


ID_BYTES = 16  # item ids are 16 hex digits; an index with longer ids is looked up by a scan


def _write_items(folder: Path, names: dict[str, str], items: Iterable[dict], count: int) -> None:
    offsets = np.zeros(count + 1, np.int64)
    ids = np.zeros(count, [("id", f"S{ID_BYTES}"), ("row", np.int64)])
    fits = [True]

    def write_lines(p: Path) -> None:
        n = 0
        with open(p, "wb") as f:
            for n, item in enumerate(items, 1):
                f.write(json.dumps(item, ensure_ascii=False).encode() + b"\n")
                offsets[n] = f.tell()
                key = str(item["id"]).encode()
                fits[0] = fits[0] and len(key) <= ID_BYTES and n <= count
                if fits[0]:
                    ids[n - 1] = (key, n - 1)
        if n != count:
            raise UserError(f"{n} items for {count} embeddings")

    locks.atomic_write(folder / names["items"], write_lines)
    locks.atomic_write(folder / names["offsets"], lambda p: _save_npy(p, offsets))
    if fits[0]:
        ids.sort(order="id", kind="stable")
        locks.atomic_write(folder / names["ids"], lambda p: _save_npy(p, ids))


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a path
        np.save(f, array, allow_pickle=False)


class LazyItems(Sequence):
    """Items read from the jsonl by byte offset when asked for: no million objects in RAM."""

    def __init__(self, path: Path, offsets: np.ndarray):
        self.path, self.offsets = path, offsets
        self._file = open(path, "rb")  # held open: the generation stays readable while served
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]
        with self._lock:
            self._file.seek(int(self.offsets[i]))
            line = self._file.read(int(self.offsets[i + 1] - self.offsets[i]))
        return Item(**json.loads(line))

    def __iter__(self) -> Iterator:
        with open(self.path, "rb") as f:
            for line in f:
                yield Item(**json.loads(line))


class OnDiskIndex:
    """Read-only index with ``Index``'s serving interface; rebuild to change it."""

    exact = False

    def __init__(self, folder: Path, manifest: Manifest):
        names = files(manifest.data)
        self.manifest = manifest
        self.embeddings = np.load(folder / names["embeddings"], mmap_mode="r")
        if hasattr(mmap, "MADV_RANDOM"):  # rows are read scattered: no readahead into RSS
            self.embeddings._mmap.madvise(mmap.MADV_RANDOM)
        self._rows_file = open(folder / names["embeddings"], "rb")  # candidates' rows: pread
        self.items = LazyItems(folder / names["items"], np.load(folder / names["offsets"], mmap_mode="r"))
        ids = folder / names["ids"]
        self._ids = np.load(ids, mmap_mode="r") if ids.is_file() and manifest.count else None
        self.vectors = faiss.read_index(str(folder / names["vectors"]), faiss.IO_FLAG_ONDISK_SAME_DIR)
        self.nprobe = nprobe_for(faiss.extract_index_ivf(self.vectors).nlist)
        faiss.extract_index_ivf(self.vectors).nprobe = self.nprobe
        self.lock = threading.RLock()
        if not (len(self.items) == len(self.embeddings) == self.vectors.ntotal == manifest.count):
            raise UserError(f"index {manifest.name!r} is inconsistent on disk: rebuild it")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def _by_hash(self) -> dict[str, int]:  # appending checks it: built once, on demand
        return {it.sha1: i for i, it in enumerate(self.items)}

    @property
    def nbytes(self) -> int:
        return 8 * len(self.items) + 1_000_000

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(int(k), len(self))
        scores, rows = self.vectors.search(np.ascontiguousarray(query[None], np.float32), k)
        ok = rows[0] >= 0
        return rows[0][ok], scores[0][ok]

    def candidates(self, vectors: np.ndarray, directions: np.ndarray, pool: int = POOL) -> Candidates:
        """Union of the ANN neighbours of each positive part and of their sum, re-scored exactly
        from the fp16 rows (``directions`` as in ``Index.candidates``)."""
        vectors = np.ascontiguousarray(vectors, np.float32)
        positive = vectors[np.asarray(directions) > 0]
        if not len(positive):
            return Candidates(np.zeros(0, np.int64), np.zeros((len(vectors), 0), np.float32), exact=False)
        if len(positive) > 1:  # results of a fused query lie between its parts: probe there too
            mix = positive.sum(axis=0)
            positive = np.vstack([positive, mix / max(float(np.linalg.norm(mix)), 1e-8)])
        _, rows = self.vectors.search(positive, min(pool, len(self)))
        union = np.unique(rows[rows >= 0])
        return Candidates(union, gpu.score(vectors, self.read_rows(union)), exact=False)

    def rows_of(self, ids: list[str]) -> np.ndarray:
        """Row of each item id, -1 for unknown ones: a binary search in the sorted id file
        (an index written before it existed is scanned once, if small enough)."""
        if self._ids is None:
            if len(self) > limits.MAX_TERM_SCAN:
                raise UserError(f"index {self.manifest.name!r} predates item lookup on disk: rebuild it to "
                                "name its items by id")
            by_id = {it.id: i for i, it in enumerate(self.items)}
            return np.array([by_id.get(i, -1) for i in ids], np.int64)
        keys = np.array([str(i).encode() for i in ids], f"S{ID_BYTES + 1}")  # a longer id matches none
        at = np.minimum(np.searchsorted(self._ids["id"], keys), len(self._ids) - 1)
        found = self._ids[at]
        return np.where(found["id"] == keys, found["row"], -1).astype(np.int64)

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """fp16 rows by ``pread``. Touching them through the map would map whole page-cache
        folios around each row into this process: at 10M items, 9.7 GB of RSS after 20
        queries (``bench/scale.py``), where reads keep it to the rows asked for."""
        width = self.embeddings.shape[1] * self.embeddings.dtype.itemsize
        out = np.empty((len(rows), self.embeddings.shape[1]), self.embeddings.dtype)
        raw = out.view(np.uint8).reshape(len(rows), width)
        fd, start = self._rows_file.fileno(), self.embeddings.offset
        for j, r in enumerate(np.asarray(rows, np.int64).tolist()):
            if os.preadv(fd, [raw[j]], start + r * width) != width:
                raise UserError(f"index {self.manifest.name!r} is truncated on disk: rebuild it")
        return out

    def add(self, *_):
        raise read_only(self.manifest.name)

    remove = add
    save = add
