"""GPU figures (run on a CUDA machine): exact part scoring over N × 512 fp16 items with
``mmdemo.gpu``, and index builds with an open_clip model (random weights: speed does not depend
on them) on JPEGs written here: 256 px ones and 1024×768 photos.

    python bench/gpu.py [--items 1000000] [--model open_clip:ViT-B-32] [--images 20000]
                        [--photos 5000] [--batch 1024] [--allow-cpu] [--json]

Each build prints ``images_per_s`` end to end (the device path: nvJPEG decode, resize and
thumbnails on the GPU, ``data/device_decode.py``), ``bare_forward_per_s`` (``encode_prepared``
on prepared uint8 batches, timed in the same run), their ``ratio``, the CPU-decode build of the
same files for comparison (``cpu_decode_images_per_s``, on a subset), and ``stages``: each
stage alone over the same files (ms per image and share): read and hash on one CPU thread,
then decode, resize, thumbnail, transfer (host→device of the uint8 batch), forward and index
add, each synchronised. ``--allow-cpu`` runs the same code on a machine without CUDA (a smoke
test of the script: slow, and no scoring figures).
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
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from mmdemo import encoders, gpu, synthetic
from mmdemo.build import build
from mmdemo.data import decode, device_decode, gallery, thumbs
from mmdemo.data.images import read_bytes
from mmdemo.index import Index, Item


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


def write_jpegs(folder: Path, n: int, size: tuple[int, int]) -> list[gallery.Entry]:
    """``n`` JPEGs of ``size``: noise at 256 px (as small web images), smooth photo-like
    content at larger sizes (as ``bench/build_throughput.py --photos``)."""
    folder.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        rng = np.random.default_rng(i)
        if size[0] <= 256:
            img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
        else:
            img = Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
        img.save(folder / f"{i:06d}.jpg", quality=90)

    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        list(pool.map(one, range(n)))
    return gallery.folder_entries(folder)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn):
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def bare_forward(enc, batch: int, repeats: int = 10) -> float:
    x = [enc.prepare_image(Image.new("RGB", (enc.image_size, enc.image_size)))] * batch  # uint8 HWC
    enc.encode_prepared(x)
    seconds, _ = timed(enc.device, lambda: [enc.encode_prepared(x) for _ in range(repeats)])
    return repeats * batch / seconds


def stages(enc, entries: list[gallery.Entry], batch: int) -> dict:
    """Each stage alone over the same files (ms per image, and share of their sum)."""
    dev, n = enc.device, len(entries)
    s: dict[str, float] = {}
    s["read"], data = timed(dev, lambda: [read_bytes(e.file)[0] for e in entries])
    s["hash"], _ = timed(dev, lambda: [decode.digest(d) for d in data])
    files = [device_decode.jpeg(d) for d in data]
    s["decode"] = s["resize"] = s["thumbnail"] = s["transfer"] = s["forward"] = s["index_add"] = 0.0
    idx = Index.create("stages", enc.spec, enc.fingerprint, enc.dim, "Flat")
    for i in range(0, n, batch):
        t, images = timed(dev, lambda: device_decode.decode_all(files[i:i + batch], dev))
        s["decode"] += t
        t, inputs = timed(dev, lambda: device_decode.model_inputs(images, enc.image_size))
        s["resize"] += t
        s["thumbnail"] += timed(dev, lambda: device_decode.thumbnails(images))[0]
        host = [x.cpu().numpy() for x in inputs]
        t, _ = timed(dev, lambda: device_decode.Staging(dev).to_device(host))
        s["transfer"] += t
        t, emb = timed(dev, lambda: enc.encode_prepared(inputs))
        s["forward"] += t
        items = [Item(f"{i + j:016x}", f"bench/{i + j}", f"{i + j:032x}", "", "", "file") for j in range(len(emb))]
        s["index_add"] += timed(dev, lambda: idx.add(emb, items))[0]
    total = sum(s.values())
    return {"ms_per_image": {k: round(1000 * v / n, 4) for k, v in s.items()},
            "share": {k: round(v / total, 3) for k, v in s.items()}}


def throughput(enc, entries: list[gallery.Entry], batch: int, bare: float, cpu_subset: int) -> dict:
    idx = Index.create("gpu", enc.spec, enc.fingerprint, enc.dim, "Flat")
    build(idx, entries[:batch], enc, batch_size=batch, on_device=True)  # warm up: nvJPEG, kernels
    shutil.rmtree(thumbs.folder(), ignore_errors=True)  # the timed build writes every thumbnail
    idx = Index.create("gpu", enc.spec, enc.fingerprint, enc.dim, "Flat")
    report = build(idx, entries, enc, batch_size=batch, on_device=True)
    sub = entries[:cpu_subset]
    cpu_idx = Index.create("cpu", enc.spec, enc.fingerprint, enc.dim, "Flat")
    cpu_report = build(cpu_idx, sub, enc, batch_size=batch, on_device=False)
    return {"images": len(entries), "added": report.added, "skipped": len(report.skipped),
            "images_per_s": round(report.images_per_s, 1), "bare_forward_per_s": round(bare, 1),
            "ratio": round(report.images_per_s / bare, 3),
            "cpu_decode_images": len(sub), "cpu_decode_images_per_s": round(cpu_report.images_per_s, 1),
            "stages": stages(enc, entries[: min(len(entries), 8 * batch)], batch)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--model", default="open_clip:ViT-B-32")
    p.add_argument("--images", type=int, default=20_000, help="256 px JPEGs")
    p.add_argument("--photos", type=int, default=5_000, help="1024×768 JPEGs")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--cpu-subset", type=int, default=2048, help="files built with CPU decoding too")
    p.add_argument("--allow-cpu", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    cuda = torch.cuda.is_available()
    if not cuda and not a.allow_cpu:
        sys.exit("bench/gpu.py measures a CUDA device and this machine has none "
                 "(--allow-cpu runs the same code as a smoke test; bench/gpu_score.py also runs on a CPU)")
    out: dict = {"device": torch.cuda.get_device_name(0) if cuda else "cpu", "cpu_cores": os.cpu_count()}
    if cuda:
        out["scoring"] = scoring(a.items, a.dim)
        print(json.dumps(out), flush=True)
    enc = encoders.load(a.model)
    bare = bare_forward(enc, a.batch)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MMDEMO_CACHE_DIR"] = str(Path(tmp) / "cache")  # thumbnails of this run only
        for name, n, size in (("jpeg_256", a.images, (256, 256)), ("photos_1024x768", a.photos, (1024, 768))):
            if n:
                entries = write_jpegs(Path(tmp) / name, n, size)
                out[name] = throughput(enc, entries, a.batch, bare, a.cpu_subset)
                print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
