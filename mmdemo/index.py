"""A persisted FAISS index: vectors, stored embeddings, items and a manifest, saved atomically.

Layout of ``indexes/NAME/``::

    manifest.json               format, model spec + fingerprint, dim, count, factory, times,
                                generation, fusion defaults
    vectors-<gen>.faiss         the FAISS index (inner product on unit vectors)
    embeddings-<gen>.npy        float16 copy for exact re-ranking and late fusion
    items-<gen>.jsonl           one item per line: id, path, sha1, caption, label, source

A save writes the next generation's files, fsyncs them, and only then replaces manifest.json
(``os.replace`` is atomic); the previous generation is deleted last. A crash at any point
leaves a manifest that names complete files, so the old index still loads.
Embeddings are rounded to float16 when added, so a reloaded index scores bit-identically.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from mmdemo import paths
from mmdemo.errors import UserError
from mmdemo.fusion import Candidates

FORMAT_VERSION = 1
EXACT_LIMIT = 50_000  # below this the default index is exact (Flat)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class Item:
    id: str  # first 16 hex digits of the content's sha1: stable across rebuilds
    path: str  # file path, or "bundled/<file>" for the bundled gallery
    sha1: str
    caption: str = ""
    label: str = ""
    source: str = "file"  # file | bundled | upload


@dataclass
class Manifest:
    name: str
    model: str
    fingerprint: str
    dim: int
    factory: str
    count: int = 0
    format_version: int = FORMAT_VERSION
    generation: int = 0
    created: str = ""
    updated: str = ""
    defaults: dict = field(default_factory=dict)  # fusion weights/mode chosen by evaluation


def validate_name(name: str) -> str:
    """Index names are plain folder names: no '/', '..', absolute paths or hidden files."""
    name = (name or "").strip()
    if not _NAME.match(name) or ".." in name:
        raise UserError(f"invalid index name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit")
    return name


def default_factory(count: int) -> str:
    return "Flat" if count < EXACT_LIMIT else "HNSW32"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


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
        self.vectors = vectors if vectors is not None else self._build_faiss()
        self.lock = threading.RLock()

    # --- construction --------------------------------------------------------------------
    @classmethod
    def create(cls, name: str, model: str, fingerprint: str, dim: int, factory: str | None = None) -> Index:
        now = _now()
        m = Manifest(validate_name(name), model, fingerprint, int(dim), factory or "", created=now, updated=now)
        return cls(m, [], np.zeros((0, dim), np.float32))

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
        self.manifest.count = len(self.items)
        self.manifest.updated = _now()

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
            return Candidates(np.arange(len(self)), vectors @ self.embeddings.T, exact=True)
        rows: set[int] = set()
        for v, d in zip(vectors, directions):
            if d > 0:
                rows.update(self.search(v, pool)[0].tolist())
        union = np.array(sorted(rows), np.int64)
        return Candidates(union, vectors @ self.embeddings[union].T, exact=False)

    # --- persistence -----------------------------------------------------------------------
    def save(self, root: Path | None = None) -> Path:
        """Write the next generation atomically; see the module docstring."""
        root = Path(root or paths.index_dir())
        folder = root / validate_name(self.manifest.name)
        folder.mkdir(parents=True, exist_ok=True)
        with self.lock, _folder_lock(folder):
            current = _read_manifest(folder)
            gen = max(self.manifest.generation, current.generation if current else 0) + 1
            files = _files(gen)
            cpu = faiss.index_gpu_to_cpu(self.vectors) if _use_gpu(self.manifest.factory) else self.vectors
            _atomic_write(folder / files["vectors"], lambda p: faiss.write_index(cpu, str(p)))
            _atomic_write(folder / files["embeddings"], lambda p: _save_npy(p, self.embeddings))
            _atomic_write(folder / files["items"], lambda p: p.write_text(
                "".join(json.dumps(asdict(it), ensure_ascii=False) + "\n" for it in self.items)))
            manifest = Manifest(**{**asdict(self.manifest), "generation": gen, "count": len(self.items)})
            _write_manifest(folder, manifest)
            self.manifest.generation = gen
            keep = set(files.values()) | {"manifest.json", ".lock"}
            for f in folder.iterdir():  # old generations and crashed temp files; extras stay
                if f.name not in keep and (f.name.startswith((".", "vectors-", "embeddings-", "items-"))):
                    f.unlink(missing_ok=True)
        return folder

    @classmethod
    def load(cls, name: str, root: Path | None = None, model: str | None = None,
             fingerprint: str | None = None) -> Index:
        """Load an index; refuse it when ``fingerprint`` (of the loaded model) differs."""
        folder = Path(root or paths.index_dir()) / validate_name(name)
        m = _read_manifest(folder)
        if m is None:
            raise UserError(f"no index named {name!r} in {folder.parent}")
        if m.format_version > FORMAT_VERSION:
            raise UserError(f"index {name!r} has format {m.format_version}; this mmdemo reads "
                            f"up to {FORMAT_VERSION}: upgrade mmdemo")
        if fingerprint is not None and fingerprint != m.fingerprint:
            raise UserError(f"index {name!r} was built with model {m.model!r} (fingerprint "
                            f"{m.fingerprint[:8]}), but the loaded model is {model or '?'!r} "
                            f"(fingerprint {fingerprint[:8]}): load {m.model!r} or rebuild the index")
        files = _files(m.generation)
        lines = (folder / files["items"]).read_text().splitlines()
        items = [Item(**json.loads(line)) for line in lines if line.strip()]
        emb = np.load(folder / files["embeddings"], allow_pickle=False).astype(np.float32)
        vectors = faiss.read_index(str(folder / files["vectors"]))
        if _use_gpu(m.factory):
            vectors = faiss.index_cpu_to_all_gpus(vectors)
        if not (len(items) == len(emb) == vectors.ntotal == m.count) or emb.shape[1] != m.dim:
            raise UserError(f"index {name!r} is inconsistent (items {len(items)}, embeddings "
                            f"{emb.shape}, vectors {vectors.ntotal}, manifest {m.count}): rebuild it")
        return cls(m, items, emb, vectors)


def read_manifest(name: str, root: Path | None = None) -> Manifest:
    """An index's manifest alone (cheap: no vectors are read)."""
    m = _read_manifest(Path(root or paths.index_dir()) / validate_name(name))
    if m is None:
        raise UserError(f"no index named {name!r}: build it first (Index tab or build-index)")
    return m


def set_defaults(name: str, defaults: dict, root: Path | None = None) -> Manifest:
    """Store fusion defaults (e.g. weights chosen by cross-validation) in the manifest, atomically."""
    folder = Path(root or paths.index_dir()) / validate_name(name)
    with _folder_lock(folder):
        m = read_manifest(name, root)
        m.defaults = {**m.defaults, **defaults}
        m.updated = _now()
        _write_manifest(folder, m)
    return m


def list_indexes(root: Path | None = None) -> list[Manifest]:
    root = Path(root or paths.index_dir())
    if not root.is_dir():
        return []
    found = (_read_manifest(f) for f in sorted(root.iterdir()) if f.is_dir() and _NAME.match(f.name))
    return [m for m in found if m is not None]


def delete_index(name: str, root: Path | None = None) -> None:
    folder = Path(root or paths.index_dir()) / validate_name(name)
    if not (folder / "manifest.json").is_file():
        raise UserError(f"no index named {name!r}")
    with _folder_lock(folder):
        (folder / "manifest.json").unlink()  # first: a half-deleted folder is then no index
    for f in folder.iterdir():
        f.unlink(missing_ok=True)
    folder.rmdir()


def _files(gen: int) -> dict[str, str]:
    return {"vectors": f"vectors-{gen}.faiss", "embeddings": f"embeddings-{gen}.npy",
            "items": f"items-{gen}.jsonl"}


def _save_npy(path: Path, embeddings: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a path
        np.save(f, embeddings.astype(np.float16), allow_pickle=False)


def _read_manifest(folder: Path) -> Manifest | None:
    try:
        data = json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"index {folder.name!r} has an unreadable manifest: {exc}") from None
    known = set(Manifest.__dataclass_fields__)
    return Manifest(**{k: v for k, v in data.items() if k in known})


def _write_manifest(folder: Path, manifest: Manifest) -> None:
    """Replace ``manifest.json`` atomically: the commit point of every write."""
    _atomic_write(folder / "manifest.json",
                  lambda p: p.write_text(json.dumps(asdict(manifest), indent=2) + "\n"))


def _atomic_write(path: Path, write) -> None:
    """Write via a temp file in the same folder, fsync, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


class _folder_lock:
    """An exclusive flock on ``folder/.lock``: one writer at a time, across processes too."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"

    def __enter__(self):
        self.f = open(self.path, "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()
