"""Index-build throughput: the full pipeline (read, hash, reduced-size decode, thumbnail,
preprocess, overlapping the forward) against the bare model forward on the same, already
prepared batches, and where the time goes.

    python bench/build_throughput.py [--model builtin] [--n 880] [--photos] [--workers 1] [--engine ray]

Prints one JSON object: ``images_per_s`` end to end (the default decoding: threads on
≤ 2 cores; the median of ``--repeats`` first builds, with their range), ``bare_forward_per_s``
(the median of the bare passes, one timed just before each build), ``ratio`` (the median of
each build's rate over its own bare pass: this box's speed drifts by a fifth within minutes,
so a build is compared with the forward of the same minute), the same with
``--workers`` decoding processes, and ``stages``: each stage timed alone over the same files
(ms per image, and its share of their sum), beside the full-size decode and PNG thumbnail the
build used before (``before_*``) for a same-run comparison.
``--photos`` builds from 1024×768 JPEGs (heavier decoding) instead of the bundled gallery; a
build of files writes their thumbnails, and every timed build starts with none (as a first
build does), in a cache folder of its own. That folder, and the photos, lie under the app's
cache folder (``MMDEMO_CACHE_DIR``, default ``.cache`` in the checkout), on the filesystem real
builds write thumbnails to: on this box a file created under ``/tmp`` costs ~1 ms (0.035 ms
anywhere else on the same disk), which alone held photo builds near 300 images/s.
``--engine ray`` also builds the same entries on Ray Data (``distributed.build``, a local Ray on
this machine's cores, started before the clock) and prints its ratio to the in-process build,
also past its fixed cost (a build of 8 images: actors starting, importing torch, loading the model).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import io
import json
import os
import shutil
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from mmdemo import encoders, paths
from mmdemo.build import build, need_of
from mmdemo.data import decode, gallery, thumbs
from mmdemo.data.images import decode as full_decode
from mmdemo.data.images import open_image, read_bytes
from mmdemo.index import Index, Item


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


def _ms_each(fn, xs: list) -> tuple[float, list]:
    start = time.perf_counter()
    out = [fn(x) for x in xs]
    return 1000 * (time.perf_counter() - start) / max(1, len(xs)), out


def bare_forward(enc, prepared: list, batch: int) -> float:
    """Images per second of ``encode_prepared`` alone over the already prepared inputs."""
    start = time.perf_counter()
    for i in range(0, len(prepared), batch):
        enc.encode_prepared(prepared[i: i + batch])
    return len(prepared) / (time.perf_counter() - start)


def png_thumbnail(image: Image.Image) -> bytes:
    """The thumbnail builds wrote before JPEG ones (zlib level 1), for the same-run comparison."""
    small = image.copy()
    small.thumbnail((thumbs.SIDE, thumbs.SIDE), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    small.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def stages(enc, entries: list[gallery.Entry], bare_per_s: float, batch: int, thumbnails: bool) -> dict:
    """Each stage alone over the same files, one thread: ms per image and share of the sum."""
    need = need_of(enc)
    ms: dict[str, float] = {}
    ms["read"], data = _ms_each(lambda e: read_bytes(e.file)[0], entries)
    ms["hash"], _ = _ms_each(decode.digest, data)
    ms["decode"], images = _ms_each(lambda d: decode.reduced(d, "bench", need), data)
    if thumbnails:
        ms["thumbnail"], _ = _ms_each(thumbs.jpeg_bytes, images)
    ms["preprocess"], prepared = _ms_each(lambda im: decode.model_input(im, enc.prepare_image, need), images)
    ms["forward"] = 1000 / bare_per_s
    emb = enc.encode_prepared(prepared[:batch])
    idx = Index.create("stages", enc.spec, enc.fingerprint, enc.dim, "Flat")
    start = time.perf_counter()
    for i in range(0, len(entries), batch):
        n = min(batch, len(entries) - i)
        idx.add(emb[np.arange(n) % len(emb)], [bench_item(i + j) for j in range(n)])
    ms["index_add"] = 1000 * (time.perf_counter() - start) / len(entries)
    total = sum(ms.values())
    before = {"before_decode_ms": _ms_each(lambda d: full_decode(d, "bench", decode.FULL_SIDE), data)[0]}
    if thumbnails:
        before["before_thumbnail_png_ms"] = _ms_each(png_thumbnail, images)[0]
    return {"ms_per_image": {k: round(v, 3) for k, v in ms.items()},
            "share": {k: round(v / total, 3) for k, v in ms.items()},
            **{k: round(v, 3) for k, v in before.items()}}


def bench_item(i: int) -> Item:
    key = f"{i:032x}"
    return Item(key[:16], f"bench/{i}", key, "", "", "file")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="builtin")
    p.add_argument("--n", type=int, default=880)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=1, help="also build with this many decoding processes")
    p.add_argument("--photos", action="store_true")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed builds each, and bare forwards: the medians are reported")
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    a = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    enc = encoders.load(a.model)
    paths.cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=paths.cache_dir(), prefix="bench-") as tmp:
        if a.photos:  # set before Ray starts, so its workers write thumbnails there too
            os.environ["MMDEMO_CACHE_DIR"] = str(Path(tmp) / "cache")
        entries = photo_entries(a.n, Path(tmp)) if a.photos else gallery.bundled_entries()[: a.n]
        prepared = [enc.prepare_image(open_image(e.file)) for e in entries]
        enc.encode_prepared(prepared[: a.batch_size])  # warm up
        result = {"model": enc.spec, "images": len(entries), "source": "photos" if a.photos else "bundled",
                  "cores": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)}
        bares = []
        for workers in sorted({0, a.workers}):
            rates, ratios = [], []
            for _ in range(a.repeats):  # this box drifts: each build is paired with a bare pass
                bares.append(bare_forward(enc, prepared, a.batch_size))
                no_thumbnails(a.photos)
                idx = Index.create("bench", enc.spec, enc.fingerprint, enc.dim, "Flat")
                rates.append(build(idx, entries, enc, batch_size=a.batch_size, workers=workers).images_per_s)
                ratios.append(rates[-1] / bares[-1])
            key = "" if workers == 0 else f"_workers{workers}"
            result[f"images_per_s{key}"] = round(float(np.median(rates)), 1)
            result[f"images_per_s{key}_range"] = [round(min(rates), 1), round(max(rates), 1)]
            result[f"ratio{key}"] = round(float(np.median(ratios)), 3)
            result[f"ratio{key}_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
        bare = float(np.median(bares))
        result["bare_forward_per_s"] = round(bare, 1)
        result["bare_forward_per_s_range"] = [round(min(bares), 1), round(max(bares), 1)]
        result["stages"] = stages(enc, entries, bare, a.batch_size, thumbnails=a.photos)
        if a.engine == "ray":
            from mmdemo import distributed

            distributed.start()
            seconds = {}
            for n in (8, len(entries)):  # each build starts its actors: a fixed cost, measured apart
                no_thumbnails(a.photos)
                idx = Index.create("bench", enc.spec, enc.fingerprint, enc.dim, "Flat")
                seconds[n] = distributed.build(idx, entries[:n], enc, batch_size=a.batch_size).seconds
            local = result["images_per_s"]
            marginal = (len(entries) - 8) / max(1e-9, seconds[len(entries)] - seconds[8])
            result.update({"ray_images_per_s": round(len(entries) / seconds[len(entries)], 1),
                           "ratio_ray_vs_in_process": round(len(entries) / seconds[len(entries)] / local, 3),
                           "ray_8_images_s": round(seconds[8], 1),
                           "ray_marginal_images_per_s": round(marginal, 1),
                           "ratio_ray_marginal_vs_in_process": round(marginal / local, 3)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
