"""Index-build throughput: the full pipeline (decode + preprocess in DataLoader workers,
overlapping the forward) against the bare model forward on the same, already prepared batches.

    python bench/build_throughput.py [--model builtin] [--n 880] [--photos] [--workers 1] [--engine ray]

``--photos`` builds from 1024×768 JPEGs (heavier decoding) instead of the bundled gallery; a
build of files writes their thumbnails, and every timed build starts with none (as a first
build does), in a cache folder of its own.
``--engine ray`` also builds the same entries on Ray Data (``distributed.build``, a local Ray on
this machine's cores, started before the clock) and prints its ratio to the in-process build,
also past its fixed cost (a build of 8 images: actors starting, importing torch, loading the model).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from mmdemo import encoders
from mmdemo.build import build
from mmdemo.data import gallery, thumbs
from mmdemo.data.images import open_image
from mmdemo.index import Index


def photo_entries(n: int, folder: Path) -> list[gallery.Entry]:
    rng = np.random.default_rng(0)
    for i in range(n):
        base = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
        img = Image.fromarray(base).resize((1024, 768), Image.Resampling.BICUBIC)
        img.save(folder / f"photo-{i:04d}.jpg", quality=90)
    return gallery.folder_entries(folder)


def no_thumbnails(own_cache: bool) -> None:
    """A timed build of files writes all their thumbnails, as a first build does (emptied only
    in the bench's own cache folder, never the checkout's)."""
    if own_cache:
        shutil.rmtree(thumbs.folder(), ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="builtin")
    p.add_argument("--n", type=int, default=880)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--photos", action="store_true")
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    a = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    enc = encoders.load(a.model)
    with tempfile.TemporaryDirectory() as tmp:
        if a.photos:  # set before Ray starts, so its workers write thumbnails there too
            os.environ["MMDEMO_CACHE_DIR"] = str(Path(tmp) / "cache")
        entries = photo_entries(a.n, Path(tmp)) if a.photos else gallery.bundled_entries()[: a.n]
        prepared = [enc.prepare_image(open_image(e.file)) for e in entries]
        enc.encode_prepared(prepared[: a.batch_size])  # warm up
        start = time.perf_counter()
        for i in range(0, len(prepared), a.batch_size):
            enc.encode_prepared(prepared[i: i + a.batch_size])
        bare = len(prepared) / (time.perf_counter() - start)
        result = {"model": enc.spec, "images": len(entries), "source": "photos" if a.photos else "bundled",
                  "bare_forward_images_per_s": round(bare, 1)}
        for workers in sorted({0, a.workers}):
            no_thumbnails(a.photos)
            idx = Index.create("bench", enc.spec, enc.fingerprint, enc.dim, "Flat")
            report = build(idx, entries, enc, batch_size=a.batch_size, workers=workers)
            result[f"pipeline_workers{workers}_images_per_s"] = round(report.images_per_s, 1)
            result[f"ratio_workers{workers}"] = round(report.images_per_s / bare, 3)
        if a.engine == "ray":
            from mmdemo import distributed

            distributed.start()
            seconds = {}
            for n in (8, len(entries)):  # each build starts its actors: a fixed cost, measured apart
                no_thumbnails(a.photos)
                idx = Index.create("bench", enc.spec, enc.fingerprint, enc.dim, "Flat")
                seconds[n] = distributed.build(idx, entries[:n], enc, batch_size=a.batch_size).seconds
            local = result[f"pipeline_workers{a.workers}_images_per_s"]
            marginal = (len(entries) - 8) / max(1e-9, seconds[len(entries)] - seconds[8])
            result.update({"ray_images_per_s": round(len(entries) / seconds[len(entries)], 1),
                           "ratio_ray_vs_in_process": round(len(entries) / seconds[len(entries)] / local, 3),
                           "ray_8_images_s": round(seconds[8], 1),
                           "ray_marginal_images_per_s": round(marginal, 1),
                           "ratio_ray_marginal_vs_in_process": round(marginal / local, 3)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
