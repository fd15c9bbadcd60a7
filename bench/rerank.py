"""Re-ranking after a weight change, from cached per-part scores, at 100k and 1M items.

    python bench/rerank.py [--sizes 100000 1000000] [--dim 512]

Prints per size: the one-off cost of scoring the parts, the median re-rank per fusion mode,
and the ratio to what a weight change would cost without the cache (re-encode the image and
text with a ViT-B-32-sized open_clip model, then search). Also checks that the re-ranked
early-fusion results equal a fresh FAISS search with the same weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import json
import statistics
import time

import numpy as np

from mmdemo import fusion
from mmdemo.index import Index, Item


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def timed(fn, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return statistics.median(out)


def encode_cost_ms() -> float:
    """One image + one text through open_clip ViT-B-32 (random weights; speed is the same)."""
    import open_clip
    import torch
    from PIL import Image

    model, _, pre = open_clip.create_model_and_transforms("ViT-B-32")
    tok = open_clip.get_tokenizer("ViT-B-32")
    img = pre(Image.new("RGB", (320, 240), "red"))[None]
    with torch.inference_mode():
        model.encode_image(img), model.encode_text(tok(["warm up"]))
        return timed(lambda: (model.encode_image(img), model.encode_text(tok(["make it blue"]))), 5)


def run(n: int, dim: int, encode_ms: float) -> dict:
    rng = np.random.default_rng(0)
    idx = Index.create(f"bench-{n}", "bench", "fp", dim, "Flat")
    emb = unit(rng.normal(size=(n, dim)).astype(np.float32))
    idx.add(emb, [Item(f"{i:016x}", str(i), f"{i:040x}") for i in range(n)])
    parts = [fusion.Part("image", "image", emb[0]), fusion.Part("text", "text", unit(rng.normal(size=dim))),
             fusion.Part("negative", "negative", unit(rng.normal(size=dim)))]
    vectors = np.stack([p.vector for p in parts])
    directions = np.array([p.direction for p in parts])
    search_ms = timed(lambda: idx.search(vectors[0], 10), 5)
    score_ms = timed(lambda: idx.candidates(vectors, directions), 3)
    cand = idx.candidates(vectors, directions)
    out = {"items": n, "dim": dim, "faiss_search_ms": round(search_ms, 2), "part_scores_ms": round(score_ms, 2)}
    weights = [{"image": a, "text": 1 - a, "negative": 0.3} for a in np.linspace(0.05, 0.95, 25)]
    for mode in ("early", "late", "rrf"):
        fusion.fuse(cand, parts, weights[0], mode, 10)  # z-scores / ranks are computed once per query
        it = iter(weights * 4)
        out[f"rerank_{mode}_ms"] = round(timed(lambda: fusion.fuse(cand, parts, next(it), mode, 10), 50), 3)
    w = weights[7]
    fused = fusion.fuse(cand, parts, w, "early", 10)
    q = fusion.early_query(vectors, fusion.part_weights(parts, w))
    rows, _ = idx.search(q, 10)
    out["identical_to_fresh_search"] = rows.tolist() == fused.rows.tolist()
    out["reencode_plus_search_ms"] = round(encode_ms + search_ms, 1)
    out["speedup_vs_reencode"] = round((encode_ms + search_ms) / out["rerank_early_ms"], 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--dim", type=int, default=512)
    a = p.parse_args()
    encode_ms = encode_cost_ms()
    print(json.dumps({"encode_image_and_text_vit_b32_ms": round(encode_ms, 1)}))
    for n in a.sizes:
        print(json.dumps(run(n, a.dim, encode_ms)), flush=True)


if __name__ == "__main__":
    main()
