"""Strategies side by side, rank paths and steering terms: what each costs as a slider moves.

    python bench/views.py [--items 100000] [--ondisk 1000000] [--dim 512] [--moves 25] [--json]

A served query needs a model: open_clip ViT-B-32 with random weights (dim 512; speed does not
depend on the weights), and an index of ``--items`` synthetic embeddings (``mmdemo.synthetic``)
saved under a temporary index folder with that model's fingerprint, plus an untrained
learned-fusion combiner (only its speed matters here). The query is an image + "make it blue",
k = 12. After the first call (which encodes the parts and scores them once), the text weight
moves ``--moves`` times and each handler is timed as the app calls it:

- ``compare_ms``: ``views.compare_query``, five strategies (early, late, rrf, delta, learned);
- ``paths_ms``: ``views.paths_query`` with 101 steps (exact breakpoints, grid ranks, items);
- ``retrieve_ms``: ``service.retrieve`` alone, for reference;
- ``add_example_ms`` / ``add_region_ms``: a retrieve that gains one new example (a new item each
  time) or a new region of 1,000 items: the new part is scored, the others come from cache;
- ``map_kb`` / ``map_with_texts_kb``: the map's HTML as the page receives it (4,000 items drawn,
  the top-12; with the modality-gap layer: up to 500 captions more). No thumbnail is in it.

``--ondisk N`` repeats it on an IVF-PQ index of N items served from disk (0 skips it; it builds
~1.2 KB per item in the temporary folder first). Prints JSON lines, one per index.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def summary(ms: list[float]) -> dict:
    return {"median": round(statistics.median(ms), 2), "p95": round(float(np.percentile(ms, 95)), 2)}


def make_index(name: str, n: int, encoder, ondisk_budget: str | None) -> None:
    from mmdemo import combiner, ondisk, paths, synthetic
    from mmdemo.index import Index
    from mmdemo.manifest import Manifest

    emb = synthetic.clustered(n, encoder.dim, n_clusters=max(20, n // 1000))
    items = ({"id": f"{i:016x}", "path": f"img/{i}.jpg", "sha1": f"{i:040x}", "caption": f"item {i % 500}"}
             for i in range(n))
    m = Manifest(name, encoder.spec, encoder.fingerprint, encoder.dim, "Flat")
    folder = paths.index_dir() / name
    if ondisk_budget:
        ondisk.write(folder, m, emb, items, ondisk.plan(n, encoder.dim, ondisk.parse_bytes(ondisk_budget)))
    else:
        from mmdemo.items import Item

        Index(m, [Item(**it) for it in items], emb).save()
    cfg = combiner.CombinerConfig(dim=encoder.dim, model_fingerprint=encoder.fingerprint)
    combiner.save(combiner.Combiner(cfg), cfg, folder)


def measure(name: str, image: Path, moves: int) -> dict:
    from mmdemo import querymap, service, views
    from mmdemo.request import Query
    from mmdemo.ui import map as map_ui

    query = Query.make(str(image), "make it blue", k=12)
    first = timed(lambda: views.compare_query(name, query))
    weights = np.linspace(0.05, 0.95, moves)
    compare = [timed(lambda: views.compare_query(name, query.with_(w_image=1 - w, w_text=w))) for w in weights]
    paths_ = [timed(lambda: views.paths_query(name, query.with_(w_image=1 - w, w_text=w), 101)) for w in weights]
    retrieve = [timed(lambda: service.retrieve(name, str(image), "make it blue", w_image=1 - w, w_text=w, k=12))
                for w in weights]
    idx = service.get_index(name)
    picks = np.random.default_rng(3).choice(len(idx), 10 + 10 * 1000, replace=False)
    ids = [idx.items[int(r)].id for r in picks]
    examples = [timed(lambda: service.retrieve(name, str(image), "make it blue", k=12,
                                               examples=[{"id": i, "weight": 0.5}])) for i in ids[:10]]
    regions = [timed(lambda: service.retrieve(name, str(image), "make it blue", k=12,
                                              region={"ids": ids[10 + 1000 * j:10 + 1000 * (j + 1)], "weight": 0.5}))
               for j in range(10)]
    p = service.prepare(name, query)
    fused = service.score(p)
    page = {layer: len(map_ui.svg(querymap.retrieval_map(idx, p, fused, texts=layer), index=name).encode())
            for layer in (False, True)}
    return {"index": name, "items": len(idx), "storage": idx.manifest.storage or "memory",
            "map_kb": round(page[False] / 1024, 1), "map_with_texts_kb": round(page[True] / 1024, 1),
            "factory": idx.manifest.factory, "first_compare_ms": round(first, 1), "compare_ms": summary(compare),
            "paths_ms": summary(paths_), "retrieve_ms": summary(retrieve), "add_example_ms": summary(examples),
            "add_region_ms": summary(regions), "moves": moves}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--ondisk", type=int, default=1_000_000, help="items of the on-disk index (0: skip)")
    ap.add_argument("--dim", type=int, default=512, help="512: ViT-B-32 (the only model this bench loads)")
    ap.add_argument("--moves", type=int, default=25)
    ap.add_argument("--json", action="store_true", help="JSON lines (the default output too)")
    a = ap.parse_args()
    if a.dim != 512:
        raise SystemExit("--dim: this bench serves ViT-B-32, whose embeddings have 512 dimensions")
    with tempfile.TemporaryDirectory(prefix="mmdemo-views-") as tmp:
        os.environ["MMDEMO_INDEX_DIR"], os.environ["MMDEMO_CACHE_DIR"] = f"{tmp}/indexes", f"{tmp}/cache"
        from PIL import Image

        from mmdemo import encoders

        encoder = encoders.load("open_clip:ViT-B-32")
        image = Path(tmp) / "query.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 96, 3), np.uint8)).save(image)
        print(json.dumps({"model": encoder.spec, "machine": os.uname().nodename, "cpus": os.cpu_count(),
                          "load": os.getloadavg()[0]}), flush=True)
        make_index("views-memory", a.items, encoder, None)
        print(json.dumps(measure("views-memory", image, a.moves)), flush=True)
        if a.ondisk:
            make_index("views-disk", a.ondisk, encoder, "16M")  # far below the in-memory size: IVF-PQ
            print(json.dumps(measure("views-disk", image, a.moves)), flush=True)


if __name__ == "__main__":
    main()
