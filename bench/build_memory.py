"""A real build's peak memory as the collection grows: ``mmdemo build-index`` in a child process
over N distinct images, its peak RSS (``ru_maxrss``) and the bytes each further item costs.

    python bench/build_memory.py --items 10000 50000 [--max-memory 1M] [--model builtin] [--json]

Images are 48×48 PNGs of random colour blocks (distinct files; decoding is not what is
measured), listed in a file as the CLI's ``--source FILE_LIST``. With the default
``--max-memory 1M`` the index is written on disk (IVF-PQ); ``--max-memory ''`` ends the build
in an in-memory index, which holds the collection by design.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def make_images(n: int, folder: Path) -> Path:
    """``n`` distinct images and a file listing them (reused across sizes)."""
    for i in range(len(list(folder.glob("*.png"))), n):
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 255, (6, 6, 3), np.uint8)).resize((48, 48)).save(folder / f"{i:07d}.png")
    listing = folder.parent / f"list-{n}.txt"
    listing.write_text("".join(f"{folder / f'{i:07d}.png'}\n" for i in range(n)))
    return listing


def build(listing: Path, name: str, model: str, max_memory: str | None, index_dir: Path) -> dict:
    """Run the CLI build in a child; its peak RSS is the ``ru_maxrss`` that ``wait4`` reports."""
    cmd = [sys.executable, "-m", "mmdemo", "build-index", "--source", str(listing), "--name", name,
           "--model", model, "--json"] + (["--max-memory", max_memory] if max_memory else [])
    env = {**os.environ, "MMDEMO_INDEX_DIR": str(index_dir), "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen(cmd, env=env, stdout=out, stderr=log, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - began
        out.seek(0)
        log.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"build failed: {log.read().strip().splitlines()[-1:]}")
        report = json.load(out)
    return {"items": report["count"], "factory": report["factory"], "seconds": round(seconds, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, nargs="+", default=[10_000, 50_000])
    p.add_argument("--model", default="builtin")
    p.add_argument("--max-memory", default="1M")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mmdemo-buildmem-") as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        for n in sorted(a.items):
            listing = make_images(n, images)
            rows.append(build(listing, f"mem-{n}", a.model, a.max_memory or None, Path(tmp) / "indexes"))
    if len(rows) > 1:
        d_items = rows[-1]["items"] - rows[0]["items"]
        per_item = (rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]) * 2**20 / max(1, d_items)
        result = {"builds": rows, "bytes_per_added_item": round(per_item)}
    else:
        result = {"builds": rows}
    print(json.dumps(result, indent=None if a.json else 2))


if __name__ == "__main__":
    main()
