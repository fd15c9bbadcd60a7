"""A real build's peak memory as the collection grows: ``mmdemo build-index`` in a child process
over N distinct images, its peak RSS (VmHWM) and the bytes each further item costs.

    python bench/build_memory.py --items 20000 80000 [--max-memory 1M] [--model builtin] [--json]

Images are 48×48 PNGs of random colour blocks (distinct files; decoding is not what is
measured), listed in a file as the CLI's ``--source FILE_LIST``. With ``--max-memory`` the
index is written on disk (IVF-PQ); without it the build ends in an in-memory index, which
holds the collection by design.
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
    rng = np.random.default_rng(0)
    have = sorted(folder.glob("*.png"))
    for i in range(len(have), n):
        Image.fromarray(rng.integers(0, 255, (6, 6, 3), np.uint8)).resize((48, 48)).save(folder / f"{i:07d}.png")
    listing = folder.parent / f"list-{n}.txt"
    listing.write_text("".join(f"{folder / f'{i:07d}.png'}\n" for i in range(n)))
    return listing


def build(listing: Path, name: str, model: str, max_memory: str | None, index_dir: Path) -> dict:
    """Run the CLI build in a child, polling its peak RSS (VmHWM) until it exits."""
    cmd = [sys.executable, "-m", "mmdemo", "build-index", "--source", str(listing), "--name", name,
           "--model", model, "--json"] + (["--max-memory", max_memory] if max_memory else [])
    env = {**os.environ, "MMDEMO_INDEX_DIR": str(index_dir), "PYTHONPATH": str(ROOT)}
    began = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while child.poll() is None:
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
            peak = max(peak, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError):
            pass
        time.sleep(0.2)
    out, err = child.communicate()
    if child.returncode:
        raise SystemExit(f"build failed: {err.strip().splitlines()[-1:]}")
    report = json.loads(out)
    return {"items": report["count"], "factory": report["factory"], "seconds": round(time.perf_counter() - began, 1),
            "peak_rss_mb": round(peak / 1024, 1)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--items", type=int, nargs="+", default=[20_000, 80_000])
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
