"""Memory under an endless stream of distinct queries: the RSS curve of a serving process.

    python bench/soak.py [--requests 2000] [--items 20000] [--cache-mb 32] [--every 100]

Builds a synthetic index of ``--items`` random unit vectors for the built-in model (so each
query's candidate scores are megabytes, as in a real gallery of that size), then sends
``--requests`` retrieves, each with its own image and its own text, through
``service.retrieve`` in this process. Every ``--every`` requests it prints the process RSS
and the bytes each cache holds; with byte-bounded caches the RSS flattens once they are full
(the budget is ``MMDEMO_CACHE_MB``, set from ``--cache-mb`` before mmdemo is imported).
Prints JSON: the curve and the growth over the second half of the run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import numpy as np
from PIL import Image


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def png(rng: np.random.Generator) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--cache-mb", type=float, default=32)
    ap.add_argument("--every", type=int, default=100)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mmdemo-soak-"))
    os.environ.update(MMDEMO_INDEX_DIR=str(tmp / "indexes"), MMDEMO_CACHE_DIR=str(tmp / "cache"),
                      MMDEMO_CACHE_MB=str(a.cache_mb))
    from mmdemo import encoders, parts, service
    from mmdemo.index import Index, Item

    encoder = encoders.load("builtin")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(a.items, encoder.dim)).astype(np.float32)
    idx = Index.create("soak", encoder.spec, encoder.fingerprint, encoder.dim, "Flat")
    idx.add(x / np.linalg.norm(x, axis=1, keepdims=True),
            [Item(f"{i:016x}", f"/soak/{i}.png", f"{i:040x}") for i in range(a.items)])
    idx.save()
    del idx, x
    colours, shapes = ["red", "blue", "green", "pink", "yellow"], ["circle", "star", "square", "shirt"]
    caches = {"embeddings": parts._EMBEDDINGS, "candidates": service._CANDIDATES, "part_scores": service._PART_SCORES,
              "indexes": service._INDEXES}
    curve, start = [], time.perf_counter()
    for i in range(1, a.requests + 1):
        service.retrieve("soak", image=png(rng), text=f"a {colours[i % 5]} {shapes[i % 4]}, query {i}",
                         w_text=float(rng.uniform(0.1, 0.9)), fusion_mode=("early", "late", "rrf")[i % 3], k=10)
        if i % a.every == 0 or i == 1:
            curve.append({"requests": i, "rss_mb": round(rss_mb(), 1), "seconds": round(time.perf_counter() - start, 1),
                          **{f"{k}_mb": round(c.size / 2**20, 1) for k, c in caches.items()}})
            print(json.dumps(curve[-1]), file=sys.stderr, flush=True)
    half = next(p for p in curve if p["requests"] >= a.requests // 2)
    print(json.dumps({"items": a.items, "requests": a.requests, "cache_mb": a.cache_mb, "curve": curve,
                      "rss_growth_second_half_mb": round(curve[-1]["rss_mb"] - half["rss_mb"], 1),
                      "rss_growth_first_half_mb": round(half["rss_mb"] - curve[0]["rss_mb"], 1)}, indent=1))


if __name__ == "__main__":
    main()
