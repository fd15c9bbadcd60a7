"""Exact part scoring on a GPU (mmdemo.gpu) against numpy, and a bare encoder forward.

    python bench/gpu_score.py [--items 1000000] [--dim 512] [--encode] [--json]

Builds a clustered fp16 gallery (mmdemo.synthetic), copies it to the device once
(``gpu.Scorer``), then prints the median time of one fused 2-part query's exact scores
(``score_ms``: matmul + the (2, N) float32 scores back on the host, what ``Index.candidates``
gets), the same through the streamed (not device-resident) path, numpy's time for the same
product on this host's CPUs, and the largest difference from numpy over sampled rows.
``--encode`` adds ViT-B-32 (open_clip, random weights: speed does not depend on them) image
forward throughput at batch 1024, float32 and bf16 autocast. Without CUDA it runs on the CPU
(``device: cpu``) so the script itself can be checked anywhere.
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
import torch

from mmdemo import gpu, synthetic


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up: kernels, allocator
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        out.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(out), 3)


def gallery(items: int, dim: int, chunk: int = 250_000) -> np.ndarray:
    out = np.empty((items, dim), np.float16)
    for s in range(0, items, chunk):
        out[s:s + chunk] = synthetic.clustered(min(chunk, items - s), dim, start=s)
    return out


def encode_throughput(batch: int, device: torch.device, batches: int = 8) -> dict:
    import open_clip

    model = open_clip.create_model("ViT-B-32", pretrained=None).to(device).eval()
    x = torch.randn(batch, 3, 224, 224, device=device)
    out = {}
    for name, dtype in (("fp32", None), ("bf16_autocast", torch.bfloat16)):
        def forward():
            with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                model.encode_image(x)

        ms = median_ms(forward, batches)
        out[f"encode_{name}_images_per_s"] = round(batch / ms * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--encode", action="store_true", help="also time a ViT-B-32 image forward")
    ap.add_argument("--encode-batch", type=int, default=1024)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    start = time.perf_counter()
    emb = gallery(args.items, args.dim)
    gen_s = time.perf_counter() - start
    parts = synthetic.clustered(2, args.dim, seed=7)  # a fused 2-part query (image + text)

    start = time.perf_counter()
    scorer = gpu.Scorer(emb, device=device.type)
    if device.type == "cuda":
        torch.cuda.synchronize()
    to_device_s = time.perf_counter() - start

    rows = np.sort(np.random.default_rng(0).choice(args.items, min(20_000, args.items), replace=False))
    got = scorer.all(parts)
    want = parts @ emb[rows].astype(np.float32).T
    result = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "items": args.items, "dim": args.dim, "gallery_gen_s": round(gen_s, 1),
        "resident": scorer.resident is not None, "to_device_s": round(to_device_s, 2),
        "score_ms": median_ms(lambda: scorer.all(parts), args.repeat),
        "rescore_1000_rows_ms": median_ms(lambda: scorer.rows(parts, rows[:1000]), args.repeat),
        "max_abs_err_vs_numpy": float(np.abs(got[:, rows] - want).max()),
    }
    resident, scorer.resident = scorer.resident, None
    result["streamed_score_ms"] = median_ms(lambda: scorer.all(parts), max(3, args.repeat // 5))
    scorer.resident = resident
    scorer = None  # frees the device copy before the CPU timings
    emb32 = emb.astype(np.float32)  # the in-memory Index's float32 gallery
    result["cpu_numpy_score_ms"] = median_ms(lambda: parts @ emb32.T, 5)
    emb32 = None
    if args.encode:
        result.update(encode_throughput(args.encode_batch, device))
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
