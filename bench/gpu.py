"""GPU figures (run on a CUDA machine): exact part scoring over N × 512 fp16 items with
``mmdemo.gpu`` and the in-process build pipeline's throughput with an open_clip model
(random weights: speed does not depend on them) on small JPEGs written here.

    python bench/gpu.py [--items 1000000] [--model open_clip:ViT-B-32] [--images 20000] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from mmdemo import encoders, gpu, synthetic
from mmdemo.build import build
from mmdemo.data import gallery
from mmdemo.index import Index


def scoring(n: int, dim: int, repeats: int = 50) -> dict:
    emb = np.concatenate([synthetic.clustered(min(250_000, n - s), dim, start=s) for s in range(0, n, 250_000)])
    emb = emb.astype(np.float16)
    q = synthetic.clustered(2, dim, seed=9)
    scorer = gpu.Scorer(emb)
    cpu = q @ emb[:100_000].astype(np.float32).T
    err = float(np.abs(scorer.all(q)[:, :100_000] - cpu).max())
    qd = torch.from_numpy(q).cuda().half()
    for _ in range(5):
        qd @ scorer.resident.T
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        top = torch.topk((qd @ scorer.resident.T).float().sum(0), 10)
    torch.cuda.synchronize()
    device_ms = 1000 * (time.perf_counter() - t) / repeats
    t = time.perf_counter()
    for _ in range(repeats):
        scorer.all(q)
    host_ms = 1000 * (time.perf_counter() - t) / repeats
    del top
    return {"items": n, "score_topk_on_device_ms": round(device_ms, 3), "score_to_host_ms": round(host_ms, 3),
            "max_abs_err_vs_numpy": err, "resident": scorer.resident is not None}


def throughput(model: str, n: int, batch: int) -> dict:
    enc = encoders.load(model)
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(f"{tmp}/{i:06d}.jpg", quality=85)
        entries = gallery.folder_entries(tmp)
        x = [enc.prepare_image(Image.new("RGB", (224, 224)))] * batch  # uint8 for open_clip (encoders/pixels.py)
        enc.encode_prepared(x)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            enc.encode_prepared(x)
        bare = 10 * batch / (time.perf_counter() - t)
        workers = max(1, (os.cpu_count() or 2) - 1)
        idx = Index.create("gpu", enc.spec, enc.fingerprint, enc.dim, "Flat")
        report = build(idx, entries, enc, batch_size=batch, workers=workers)
    return {"model": model, "images": n, "batch": batch, "workers": workers,
            "bare_forward_images_per_s": round(bare, 1), "build_images_per_s": round(report.images_per_s, 1),
            "skipped": len(report.skipped)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--model", default="open_clip:ViT-B-32")
    p.add_argument("--images", type=int, default=20_000)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/gpu.py measures a CUDA device and this machine has none "
                 "(bench/gpu_score.py also runs on a CPU)")
    out = {"device": torch.cuda.get_device_name(0), "scoring": scoring(a.items, a.dim)}
    print(json.dumps(out), flush=True)
    out["build"] = throughput(a.model, a.images, a.batch)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
