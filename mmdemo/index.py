"""A persisted FAISS index: vectors, stored embeddings, items and a manifest, saved atomically.

Layout of ``indexes/NAME/``::

    manifest.json               format, model spec + fingerprint, dim, count, factory, times,
                                generation, token, data id, fusion defaults
    vectors-<data>.faiss        the FAISS index (inner product on unit vectors)
    embeddings-<data>.npy       float16 copy for exact re-ranking and late fusion
    items-<data>.jsonl          one item per line: id, path, sha1, caption, label, source

``<data>`` is ``<generation>-<random>``: never reused, even when an index is deleted and
rebuilt. Every manifest write gets a new random ``token``; caches key on it (or on ``data``
when only the vectors matter), so no process serves scores of a generation that is gone.

Writers (save, append, remove, defaults, combiner, delete) hold the folder's cross-process
lock (``locks.writer``) for the whole read-modify-write. A save first deletes every
generation but the current one, then writes the next generation's files, fsyncs them, and
only then replaces manifest.json (``os.replace`` is atomic). A crash at any point leaves a
manifest that names complete files, and at most one other generation on disk.
Embeddings are rounded to float16 when added, so a reloaded index scores bit-identically.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import faiss
import numpy as np

from mmdemo import gpu, locks, paths
from mmdemo import manifest as manifest_mod
from mmdemo.errors import UserError
from mmdemo.fusion import Candidates
from mmdemo.items import Item
from mmdemo.manifest import Manifest, delete_index, edit, list_indexes, read_manifest, set_defaults, validate_name

__all__ = ["Index", "Item", "Manifest", "update", "remove_items", "delete_index", "edit", "list_indexes",
           "read_manifest", "set_defaults", "validate_name"]  # the manifest's part lives in manifest.py
EXACT_LIMIT = 50_000  # below this the default index is exact (Flat)
_LOAD_ATTEMPTS = 20


def default_factory(count: int) -> str:
    return "Flat" if count < EXACT_LIMIT else "HNSW32"


def _use_gpu(factory: str) -> bool:
    return factory == "Flat" and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


class Index:
    """Items + float32 embeddings (fp16-exact) + a FAISS index over them."""

    def __init__(self, manifest: Manifest, items: list[Item], embeddings: np.ndarray,
                 vectors: faiss.Index | None = None):
        self.manifest = manifest
        self.items = items
        self.embeddings = np.ascontiguousarray(embeddings, np.float32)
        self._by_hash = {it.sha1: i for i, it in enumerate(items)}
        self._by_id: dict[str, int] | None = None
        self.vectors = vectors if vectors is not None else self._build_faiss()
        self.lock = threading.RLock()
        self._loaded_defaults = copy.deepcopy(manifest.defaults)  # to tell the caller's changes apart

    # --- construction --------------------------------------------------------------------
    @classmethod
    def create(cls, name: str, model: str, fingerprint: str, dim: int, factory: str | None = None) -> Index:
        return cls(manifest_mod.new_manifest(name, model, fingerprint, dim, factory), [],
                   np.zeros((0, dim), np.float32))

    def _build_faiss(self) -> faiss.Index:
        factory = self.manifest.factory or default_factory(len(self.items))
        self.manifest.factory = factory
        try:
            index = faiss.index_factory(self.manifest.dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise UserError(f"invalid FAISS factory string {factory!r}: {str(exc).splitlines()[0][:160]}") from None
        if not index.is_trained and len(self.embeddings):
            if len(self.embeddings) < 40:
                raise UserError(f"factory {factory!r} needs training data: at least 40 items "
                                f"(have {len(self.embeddings)}); use Flat for small galleries")
            try:
                index.train(self.embeddings)
            except RuntimeError as exc:
                raise UserError(f"cannot train {factory!r} on {len(self.embeddings)} items: "
                                f"{str(exc).splitlines()[0][:160]}; use a smaller nlist or Flat") from None
        if _use_gpu(factory):
            index = faiss.index_cpu_to_all_gpus(index)
        if len(self.embeddings):
            index.add(self.embeddings)
        return index

    # --- editing ---------------------------------------------------------------------------
    def add(self, embeddings: np.ndarray, items: list[Item]) -> tuple[int, list[Item]]:
        """Append new items; ones whose content is already indexed are skipped and returned."""
        if embeddings.shape[1:] != (self.manifest.dim,):
            raise UserError(f"embedding dim {embeddings.shape[1:]} does not match the index's "
                            f"{self.manifest.dim}")
        keep, skipped = [], []
        for i, it in enumerate(items):
            if it.sha1 in self._by_hash:
                skipped.append(it)
            else:
                self._by_hash[it.sha1] = len(self.items) + len(keep)
                keep.append(i)
        new = embeddings[keep].astype(np.float16).astype(np.float32)
        with self.lock:
            self.items.extend(items[i] for i in keep)
            self.embeddings = np.ascontiguousarray(np.concatenate([self.embeddings, new]))
            if self.vectors.is_trained and self.vectors.ntotal + len(new) == len(self.items):
                self.vectors.add(new)
            else:
                self.vectors = self._build_faiss()
            self._touch()
        return len(keep), skipped

    def remove(self, ids: list[str]) -> int:
        """Remove items by id; returns how many were found."""
        drop = set(ids)
        keep = [i for i, it in enumerate(self.items) if it.id not in drop]
        removed = len(self.items) - len(keep)
        if removed:
            with self.lock:
                self.items = [self.items[i] for i in keep]
                self.embeddings = np.ascontiguousarray(self.embeddings[keep])
                self._by_hash = {it.sha1: i for i, it in enumerate(self.items)}
                self.vectors = self._build_faiss()
                self._touch()
        return removed

    def _touch(self) -> None:
        self._by_id = None
        self.manifest.count = len(self.items)
        self.manifest.updated = manifest_mod.now()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def exact(self) -> bool:
        return self.manifest.factory == "Flat"

    # --- search ------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS top-k rows and scores for one unit query vector."""
        k = min(int(k), len(self))
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores, rows = self.vectors.search(np.ascontiguousarray(query[None], np.float32), k)
        ok = rows[0] >= 0
        return rows[0][ok], scores[0][ok]

    def candidates(self, vectors: np.ndarray, directions: np.ndarray, pool: int = 1000) -> Candidates:
        """Per-part exact cosine scores for every item (Flat) or the union of ANN candidates.

        ``directions`` marks parts whose own neighbours are candidates (> 0); neighbours of a
        negative text are what a query wants to avoid, so they do not join the pool.
        """
        vectors = np.ascontiguousarray(vectors, np.float32)
        if self.exact:
            return Candidates(np.arange(len(self)), gpu.score(vectors, self.embeddings), exact=True)
        rows: set[int] = set()
        for v, d in zip(vectors, directions):
            if d > 0:
                rows.update(self.search(v, pool)[0].tolist())
        union = np.array(sorted(rows), np.int64)
        return Candidates(union, gpu.score(vectors, self.embeddings, union), exact=False)

    def rows_of(self, ids: list[str]) -> np.ndarray:
        """Row of each item id, -1 for ids this index does not hold (a dict made on first use,
        dropped by every edit)."""
        with self.lock:
            if self._by_id is None:
                self._by_id = {it.id: i for i, it in enumerate(self.items)}
            by_id = self._by_id
        return np.array([by_id.get(i, -1) for i in ids], np.int64)

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """The stored (fp16-exact) embeddings of some rows."""
        return self.embeddings[np.asarray(rows, np.int64)]

    @property
    def nbytes(self) -> int:
        """Memory held, roughly: the embeddings, the FAISS copy of them and the items."""
        return 2 * self.embeddings.nbytes + 256 * len(self.items)

    # --- persistence -----------------------------------------------------------------------
    def save(self, root: Path | None = None) -> Path:
        """Write the next generation atomically under the writer lock; see the module docstring."""
        folder = Path(root or paths.index_dir()) / validate_name(self.manifest.name)
        with locks.writer(folder):
            self.commit(folder)
        return folder

    def commit(self, folder: Path) -> None:
        """Write this index as the next generation of ``folder``; the caller holds the lock.

        Fusion defaults written by someone else since this index was loaded are kept unless
        this object changed them itself.
        """
        folder.mkdir(parents=True, exist_ok=True)
        current = manifest_mod.read(folder)
        manifest_mod.prune(folder, current)
        locks.fault_point("pruned")
        gen = max(self.manifest.generation, current.generation if current else 0) + 1
        token = uuid.uuid4().hex
        data = f"{gen}-{token[:12]}"
        files = manifest_mod.files(data)
        cpu = faiss.index_gpu_to_cpu(self.vectors) if _use_gpu(self.manifest.factory) else self.vectors
        locks.atomic_write(folder / files["vectors"], lambda p: faiss.write_index(cpu, str(p)))
        locks.atomic_write(folder / files["embeddings"], lambda p: _save_npy(p, self.embeddings))
        locks.atomic_write(folder / files["items"], lambda p: p.write_text(
            "".join(json.dumps(asdict(it), ensure_ascii=False) + "\n" for it in self.items)))
        defaults = self.manifest.defaults
        if current is not None and defaults == self._loaded_defaults:
            defaults = current.defaults
        manifest = Manifest(**{**asdict(self.manifest), "generation": gen, "count": len(self.items),
                               "token": token, "data": data, "defaults": defaults,
                               "format_version": manifest_mod.FORMAT_VERSION})
        manifest_mod.write(folder, manifest)
        locks.fault_point("committed")
        self.manifest = manifest
        self._loaded_defaults = copy.deepcopy(defaults)

    @classmethod
    def load(cls, name: str, root: Path | None = None, model: str | None = None,
             fingerprint: str | None = None) -> Index:
        """Load an in-memory index (``loader.load`` picks it or the on-disk kind); refuse it
        when ``fingerprint`` (of the loaded model) differs.

        Takes no lock. Opening a generation's three files pins them (an unlinked file stays
        readable while open); a writer keeps the previous generation until its next save
        begins, and if even that one is gone the manifest has moved on: read it again.
        """
        folder = Path(root or paths.index_dir()) / validate_name(name)
        for _ in range(_LOAD_ATTEMPTS):
            m = manifest_mod.read(folder)
            if m is None:
                raise UserError(f"no index named {name!r} in {folder.parent}")
            manifest_mod.check(m, name, model, fingerprint)
            if m.storage == manifest_mod.ONDISK:  # served by ondisk.OnDiskIndex (see loader.load)
                raise manifest_mod.read_only(name)
            try:
                opened = {k: open(folder / f, "rb") for k, f in manifest_mod.files(m.data or str(m.generation)).items()}
            except FileNotFoundError:
                newer = manifest_mod.read(folder)
                if newer is not None and newer.token != m.token:
                    continue  # a writer replaced the generation between our two reads
                raise UserError(f"index {name!r} is missing data files of generation {m.generation}: "
                                "rebuild it") from None
            try:
                items = [Item(**json.loads(line)) for line in opened["items"].read().decode().splitlines()
                         if line.strip()]
                emb = np.load(opened["embeddings"], allow_pickle=False).astype(np.float32)
                vectors = faiss.read_index(faiss.PyCallbackIOReader(opened["vectors"].read))
            finally:
                for f in opened.values():
                    f.close()
            if _use_gpu(m.factory):
                vectors = faiss.index_cpu_to_all_gpus(vectors)
            if not (len(items) == len(emb) == vectors.ntotal == m.count) or emb.shape[1] != m.dim:
                raise UserError(f"index {name!r} is inconsistent (items {len(items)}, embeddings "
                                f"{emb.shape}, vectors {vectors.ntotal}, manifest {m.count}): rebuild it")
            return cls(m, items, emb, vectors)
        raise UserError(f"index {name!r} is being rewritten too often to load: try again")


def update(name: str, change: Callable[[Index | None], Index], root: Path | None = None,
           fingerprint: str | None = None) -> Index:
    """Read-modify-write under the writer lock: ``change`` gets the index as it is on disk now
    (None when there is none) and returns what to save. Concurrent updates all land."""
    folder = Path(root or paths.index_dir()) / validate_name(name)
    with locks.writer(folder):
        current = Index.load(name, root, fingerprint=fingerprint) if manifest_mod.read(folder) else None
        locks.fault_point("locked")
        new = change(current)
        new.commit(folder)
    return new


def remove_items(name: str, ids: list[str], root: Path | None = None) -> int:
    """Remove items by id from the saved index; returns how many were found."""
    removed = 0

    def change(idx: Index | None) -> Index:
        nonlocal removed
        if idx is None:
            raise UserError(f"no index named {name!r}")
        removed = idx.remove(ids)
        return idx

    update(name, change, root)
    return removed


def _save_npy(path: Path, embeddings: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a path
        np.save(f, embeddings.astype(np.float16), allow_pickle=False)
