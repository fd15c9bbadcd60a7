"""Index scale: build an index of N synthetic embeddings, serve it from a fresh process, compare
fused top-10 with exact flat search.

    python bench/scale.py --items 1000000 [--dim 512] [--max-memory 1.5G] [--json]

Embeddings are clustered on the unit sphere (``mmdemo.synthetic``). The index type follows
``--max-memory`` as ``build-index`` does (Flat in memory when it fits, else IVF-PQ on disk).
Queries are two-part early fusions (two gallery items, weights 0.5/0.5), the shape of a
composed query; ``query_ms`` is the one-off fused query (ANN candidates + exact re-scoring +
fusion), ``rerank_ms`` the re-fusion after a weight change. ``peak_rss_mb`` is the serving
process's (it only loads the index and queries it; mapped file pages count in it: see
``rss_anon_mb`` / ``rss_file_mb``); the ground truth is computed here.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import json
import subprocess
import tempfile
import time

import numpy as np

from mmdemo import loader, ondisk, synthetic
from mmdemo.index import Index, Item
from mmdemo.manifest import Manifest

CHUNK = 250_000


def generate(path: Path, n: int, dim: int, clusters: int) -> np.memmap:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, dim))
    for s in range(0, n, CHUNK):
        out[s:s + CHUNK] = synthetic.clustered(min(CHUNK, n - s), dim, clusters, start=s)
    out.flush()
    return np.load(path, mmap_mode="r")


def queries(emb: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    rows = np.random.default_rng(seed).integers(0, len(emb), (n, 2))
    return emb[rows.ravel()].astype(np.float32).reshape(n, 2, -1)


def exact_top10(emb: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Early fusion 0.5/0.5 is the cosine with the normalised sum: exact over every row."""
    fused = qs.sum(axis=1)
    fused /= np.linalg.norm(fused, axis=1, keepdims=True)
    best = np.full((len(qs), 0), -1, np.int64), np.full((len(qs), 0), -np.inf, np.float32)
    for s in range(0, len(emb), CHUNK):
        scores = fused @ emb[s:s + CHUNK].astype(np.float32).T
        rows = np.concatenate([best[0], np.arange(s, s + scores.shape[1])[None].repeat(len(qs), 0)], 1)
        vals = np.concatenate([best[1], scores], 1)
        top = np.argsort(-vals, axis=1)[:, :10]
        best = np.take_along_axis(rows, top, 1), np.take_along_axis(vals, top, 1)
    return best[0]


def serve(root: Path, qfile: Path) -> dict:
    """The serving process: load, then one fused query per pair; nothing else."""
    from mmdemo import fusion
    from mmdemo.fusion import Part

    t = time.perf_counter()
    idx = loader.load("scale", root)
    load_s = time.perf_counter() - t
    qs = np.load(qfile)
    tops, times, reranks = [], [], []
    for a, b in qs:
        parts = [Part("a", "image", a), Part("b", "text", b)]
        t = time.perf_counter()
        cand = idx.candidates(np.stack([a, b]), np.ones(2))
        fused = fusion.fuse(cand, parts, {"image": 0.5, "text": 0.5}, k=10)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        fusion.fuse(cand, parts, {"image": 0.7, "text": 0.3}, k=10)
        reranks.append(time.perf_counter() - t)
        tops.append(fused.rows.tolist())
    return {"load_s": round(load_s, 3), "query_ms": round(1000 * float(np.median(times)), 2),
            "query_ms_first": round(1000 * times[0], 2), "query_ms_p95": round(1000 * float(np.percentile(times, 95)), 2),
            "rerank_ms": round(1000 * float(np.median(reranks)), 3),
            "peak_rss_mb": status_mb("VmHWM"), "rss_anon_mb": status_mb("RssAnon"),
            "rss_file_mb": status_mb("RssFile"), "tops": tops}


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status. VmHWM is the peak resident set
    (per address space, so unlike getrusage's ru_maxrss it does not carry the parent's peak
    across fork + exec); RssFile is the mapped index files' pages now resident (page cache the
    kernel can drop), RssAnon the process's own memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--max-memory", default="1.5G", help="serving budget: picks Flat or on-disk IVF-PQ")
    p.add_argument("--dir", default=None, help="work folder (default: a temp folder, removed)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--serve", default=None, help=argparse.SUPPRESS)  # internal: the serving process
    a = p.parse_args()
    if a.serve:
        print(json.dumps(serve(Path(a.serve), Path(a.serve) / "queries.npy")))
        return
    with tempfile.TemporaryDirectory(dir=a.dir, prefix="mmdemo-scale-") as tmp:
        root = Path(tmp)
        emb = generate(root / "source.npy", a.items, a.dim, a.clusters)
        qs = queries(emb, a.queries)
        np.save(root / "queries.npy", qs)
        truth = exact_top10(emb, qs)
        manifest = Manifest("scale", "synthetic", "synthetic", a.dim, "")
        plan = ondisk.plan(a.items, a.dim, ondisk.parse_bytes(a.max_memory))
        t = time.perf_counter()
        if plan is None:
            items = [Item(f"{i:016x}", f"img/{i}.jpg", f"{i:040x}") for i in range(a.items)]
            idx = Index(manifest, items, np.asarray(emb, np.float32))
            idx.manifest.factory = "Flat"
            idx.save(root)
        else:
            ondisk.write(root / "scale", manifest, emb, ({"id": f"{i:016x}", "path": f"img/{i}.jpg",
                                                          "sha1": f"{i:040x}"} for i in range(a.items)), plan)
        build_s = time.perf_counter() - t
        del emb
        m = json.loads((root / "scale" / "manifest.json").read_text())
        index_bytes = sum(f.stat().st_size for f in (root / "scale").iterdir() if m["data"] in f.name)
        out = subprocess.run([sys.executable, __file__, "--serve", str(root)], check=True,
                             capture_output=True, text=True).stdout
        served = json.loads(out.strip().splitlines()[-1])
        recall = np.mean([len(set(t_) & set(g)) / 10 for t_, g in zip(served.pop("tops"), truth.tolist())])
        result = {"items": a.items, "dim": a.dim, "factory": m["factory"], "storage": m.get("storage") or "memory",
                  "nprobe": plan.nprobe if plan else None, "max_memory": a.max_memory,
                  "build_s": round(build_s, 1), "index_bytes": index_bytes,
                  "bytes_per_item": round(index_bytes / a.items, 1), **served,
                  "recall_at_10": round(float(recall), 4), "queries": a.queries}
    print(json.dumps(result) if a.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
