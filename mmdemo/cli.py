"""Command line: ``mmdemo SUBCOMMAND`` (or ``python -m mmdemo``); a thin layer over ``mmdemo.service``.

Mistakes a user can make (bad file, weight, spec, index) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

from mmdemo.errors import UserError


def _json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def cmd_classify(a) -> None:
    from mmdemo import service

    out = service.classify(a.image, a.labels, a.text, a.w_image, a.w_text, model=a.model)
    if a.json:
        _json({"model": out["model"], "labels": out["labels"]})
    else:
        for row in out["labels"]:
            print(f"{row['score']:.4f}  {row['label']}")


def cmd_build(a) -> None:
    from mmdemo import building
    from mmdemo.progress import Bar

    bar = Bar(f"encoding {a.source}", "img")
    report = building.build_index(a.name, a.source, a.model, a.factory, a.append, bar, a.workers,
                                  engine=a.engine, ray_address=a.ray_address, max_memory=a.max_memory, opq=a.opq)
    bar.close()
    if a.json:
        _json(report)
        return
    print(f"index {report['name']!r}: {report['count']} items ({report['factory']}, {report['model']}); "
          f"added {report['added']} of {report['total']} in {report['seconds']:.1f}s "
          f"({report['images_per_s']:.0f} images/s)")
    for s in report["skipped"]:
        print(f"  skipped {s['file']}: {s['reason']}")


def cmd_search(a) -> None:
    from mmdemo import building, service, views
    from mmdemo.progress import Bar
    from mmdemo.request import Query

    if a.index is None:  # the bundled gallery: a fresh clone builds it (and its combiner) first
        bars = [Bar("building the bundled index", "img"), Bar("training its learned combiner", "step")]
        a.index = building.ensure_index(None, a.model, *bars)
        for bar in bars:
            bar.close()
    query = Query.make(a.image, a.text, a.negative, a.w_image, a.w_text, a.w_negative, a.fusion, a.quality, a.k,
                       a.threshold, a.query, a.source, [_example(e) for e in a.example], None, a.center)
    if a.compare:
        out = views.compare_query(a.index, query, a.compare.split(",") if a.compare != "all" else None, a.model)
        return _json(out) if a.json else _print_compare(out)
    if a.paths:
        out = views.paths_query(a.index, query, a.paths, a.model)
        return _json(out) if a.json else _print_paths(out)
    p = service.prepare(a.index, query, a.model, allow_paths=True)  # the local user's own files
    out = service.answer(p, service.score(p))
    if a.json:
        _json(out)
        return
    print(f"{out['formula']}\nweights: {out['weights']}")
    for r in out["results"]:
        parts = ", ".join(f"{k} {v:+.3f}" for k, v in r["parts"].items())
        print(f"{r['score']:.4f}  {r['id']}  {r['path']}  [{parts}]  {r['caption']}")


def _example(text: str) -> dict:
    """``ID`` or ``ID:WEIGHT`` (negative: less like it)."""
    item, _, weight = text.partition(":")
    return {"id": item, "weight": weight or 0.5}


def _print_compare(out: dict) -> None:
    names = list(out["columns"])
    print("rank  " + "".join(f"{n:<28}" for n in names))
    for rank in range(max((len(c) for c in out["columns"].values()), default=0)):
        cells = []
        for n in names:
            rows = out["columns"][n]
            r = rows[rank] if rank < len(rows) else None
            cells.append(f"{(r['caption'] or r['name'])[:19]:<19} {r['score']:.3f}{'*' if r['only'] else ' '} "
                         if r else " " * 28)
        print(f"{rank + 1:>4}  " + "".join(cells))
    print("* found by this strategy only")
    for a_ in names:
        print(f"overlap / RBO with {a_:<8} " + "  ".join(f"{b}: {out['agreement']['overlap'][a_][b]:.2f} / "
                                                          f"{out['agreement']['rbo'][a_][b]:.2f}" for b in names))
    for n, why in out["unavailable"].items():
        print(f"{n}: not applicable: {why}")


def _print_paths(out: dict) -> None:
    if out.get("unavailable"):
        print(f"no rank path: {out['unavailable']}")
        return
    at = min(range(len(out["weights"])), key=lambda j: abs(out["weights"][j] - out["current"]))
    print(f"w_text from 0 ({out['axis']['low']}) to 1 ({out['axis']['high']}); now {out['current']:.2f}")
    for it in sorted(out["items"], key=lambda it: (it["ranks"][at] is None, it["ranks"][at] or 0)):
        spans = ", ".join(f"{lo:.2f}-{hi:.2f}" for lo, hi in it["stable"]) or "never"
        print(f"{it['ranks'][at] or '-':>3}  {it['id']}  in top {out['k']} for w_text {spans:<24} {it['caption']}")


def cmd_eval(a) -> None:
    from mmdemo import encoders, evaluate
    from mmdemo.evaluate import figures
    from mmdemo.progress import Bar

    bar = Bar(f"encoding {a.data}", "img") if a.data else None
    result = evaluate.run(a.what, encoders.load(a.model), a.data, a.cv, learned=not a.no_learned, progress=bar)
    if bar:
        bar.close()
    if a.what == "composed" and not a.data and a.save:
        from mmdemo.evaluate import composed

        result["saved"] = composed.save_to_index(result, a.save)
    if a.plot and a.what == "classify":
        figures.save(figures.confusion(result["labels"], result["confusion"]), a.plot)
    elif a.plot and a.what == "composed":
        figures.save(figures.sweep(result, ["data"] if a.data else ["shapes", "fashion"]), a.plot)
    out = evaluate.public(result, sweep=a.sweep)
    if a.json:
        _json(out)
    else:
        _print_table(out)


def _print_table(out: dict) -> None:
    """Human-readable: one line per metric row."""
    for key, value in out.items():
        if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
            print(f"{key}:")
            for name, row in value.items():
                cells = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in row.items() if not isinstance(v, (list, dict)))
                print(f"  {name:18s} {cells}")
        elif not isinstance(value, (list, dict)):
            print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
        else:
            print(f"{key}: {json.dumps(value)[:400]}")


def cmd_train(a) -> None:
    from mmdemo import train

    if a.write_fashion_sample:
        from mmdemo.data import fashion

        print(f"wrote {fashion.write_sample()}")
    cfg = train.TrainConfig(steps=a.steps, seed=a.seed, batch_size=a.batch_size, workers=a.workers,
                            threads=a.threads, max_seconds=a.max_seconds, eval_every_seconds=a.eval_every_seconds,
                            lr=a.lr, warmup=a.warmup, init=a.init, instance_groups=a.instance_groups,
                            instance_weight=a.instance_weight, checkpoint_dir=a.checkpoint_dir)
    kwargs = {"out": Path(a.out)} if a.out else {}
    if a.fashion_dir:
        kwargs["fashion_dir"] = Path(a.fashion_dir)
    card = train.train(cfg, log=lambda s: print(s, flush=True), **kwargs)
    _json(card["eval_zeroshot"])


def cmd_train_combiner(a) -> None:
    from mmdemo import encoders
    from mmdemo.evaluate import learned
    from mmdemo.index import read_manifest
    from mmdemo.progress import Bar

    bar = Bar(f"training the learned combiner of {a.index!r}", "step")
    path = learned.train_for_index(a.index, encoders.load(read_manifest(a.index).model), bar)
    bar.close()
    print(f"wrote {path}; fusion 'learned' now works on index {a.index!r}")
    if a.ship:
        print(f"shipped as the built-in model's combiner: {learned.ship(a.index)}")


def cmd_models(a) -> None:
    from mmdemo.encoders import cache

    found = cache.available(a.spec)
    if a.json:
        _json({"hub_cache": str(cache.hub_cache()), "models": [w.as_dict() for w in found]})
        return
    width = max(len(w.spec) for w in found)
    print(f"{'model':{width}}  {'size':>9}  offline  from")
    for w in found:
        size = f"{w.size / 2**20:,.1f} MB" if w.path else "-"
        where = {"builtin": "shipped with mmdemo", "random": "random weights (no tag or file)"}.get(w.source)
        if where is None:
            where = (f"{w.repo} (hub cache)" if w.repo else str(w.path)) if w.path else \
                f"not here: {w.fetch}" if w.fetch else "not found"
        print(f"{w.spec:{width}}  {size:>9}  {'yes' if w.loads_offline else 'no':7}  {where}")
    print(f"hub cache: {cache.hub_cache()}")


def cmd_serve(a) -> None:
    from mmdemo.ui.app import launch

    launch(host=a.host, port=a.port, model=a.model, index=a.index)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmdemo", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="start the Gradio app")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--model", default=None, help="model spec (default: $MMDEMO_MODEL or builtin)")
    s.add_argument("--index", default=None)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("models", help="the models this machine can load now (built-in, hub cache, "
                       "given specs), their size, and whether they load offline")
    s.add_argument("spec", nargs="*", help="further specs to check, e.g. hf:/path/dir or "
                   "open_clip:ViT-B-32/laion2b_s34b_b79k")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("build-index", help="encode a gallery into a saved FAISS index")
    s.add_argument("--source", default="bundled", help="'bundled', a folder, or a text file listing image paths (one a line)")
    s.add_argument("--name", default=None)
    s.add_argument("--model", default="builtin")
    s.add_argument("--factory", default=None, help="FAISS factory string (default: Flat below 50k items)")
    s.add_argument("--append", action="store_true", help="add to an existing index")
    s.add_argument("--workers", type=int, default=None, help="decoding processes")
    s.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="ray: encode on Ray Data (a local Ray, or the cluster at --ray-address)")
    s.add_argument("--ray-address", default=None, help="join this Ray cluster (e.g. ray://head:10001)")
    s.add_argument("--max-memory", default=None, help="serving RAM budget, e.g. 1.5G: above it the "
                   "index goes on disk (IVF-PQ, memory-mapped)")
    s.add_argument("--opq", action="store_true", help="with --max-memory: rotate the vectors (OPQ) "
                   "before product quantization, for recall at a slower build")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("search", help="fused retrieval against an index")
    s.add_argument("--index", default=None)
    s.add_argument("--image")
    s.add_argument("--text")
    s.add_argument("--negative", action="append", default=[])
    s.add_argument("--query", help='multi-term expression, e.g. "2:a red circle + @img.png - striped"')
    s.add_argument("--source", help="delta fusion: what the image is now (guessed when absent)")
    s.add_argument("--w-image", type=float, default=0.5)
    s.add_argument("--w-text", type=float, default=0.5)
    s.add_argument("--w-negative", type=float, default=0.5)
    s.add_argument("--fusion", default="early", choices=["early", "late", "rrf", "delta", "learned"])
    s.add_argument("--quality", action="store_true", help="scale weights by measured confidence")
    s.add_argument("--threshold", type=float, default=None)
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--example", action="append", default=[], metavar="ID[:W]",
                   help="more (W > 0, default 0.5) or less (W < 0) like this item of the index")
    s.add_argument("--center", action="store_true", help="close the modality gap before fusing")
    s.add_argument("--compare", metavar="STRATEGIES", help="'all' or e.g. early,delta: the strategies side by side")
    s.add_argument("--paths", type=int, metavar="STEPS", help="each result's rank across the text weight")
    s.add_argument("--model", default=None)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("classify", help="zero-shot classification of an image")
    s.add_argument("--image", required=True)
    s.add_argument("--labels", required=True, help="comma-separated label names")
    s.add_argument("--text", help="a text hint fused with the image")
    s.add_argument("--w-image", type=float, default=1.0)
    s.add_argument("--w-text", type=float, default=0.5)
    s.add_argument("--model", default="builtin")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_classify)

    s = sub.add_parser("eval", help="evaluate a model on held-out generated data (or your own)")
    s.add_argument("what", choices=["zeroshot", "composed", "classify"])
    s.add_argument("--model", default="builtin")
    s.add_argument("--data", help="classify: an ImageFolder-style folder (class_name/image.jpg); "
                   "composed: a folder of images with triplets.csv (reference,modifier,target)")
    s.add_argument("--cv", type=int, default=0, metavar="K", help="composed: K-fold CV of mode and weights")
    s.add_argument("--sweep", action="store_true", help="composed: include every weight of the sweep")
    s.add_argument("--plot", metavar="PNG", help="classify: the confusion matrix as a heat map; composed: "
                   "R@10 against the text weight, the CV choice starred")
    s.add_argument("--save", metavar="INDEX", help="composed: keep the learned combiner and the CV "
                   "choice (as defaults) with this index")
    s.add_argument("--no-learned", action="store_true", help="composed: skip training the combiner")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("train-combiner", help="train an index's learned-fusion combiner (~20 s)")
    s.add_argument("--index", default="bundled")
    s.add_argument("--ship", action="store_true", help="also keep it beside the built-in weights (after "
                   "train-builtin), so fresh installs copy it instead of training")
    s.set_defaults(func=cmd_train_combiner)

    s = sub.add_parser("train-builtin", help="train the built-in model (needs dataset-fashion-mnist)")
    s.add_argument("--steps", type=int, default=2600)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--workers", type=int, default=1, help="data-rendering processes")
    s.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    s.add_argument("--max-seconds", type=float, default=0.0, help="stop (and end the schedule) after this long")
    s.add_argument("--eval-every-seconds", type=float, default=0.0, help="learning-curve evaluations")
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--warmup", type=int, default=100, help="steps of linear learning-rate warm-up")
    s.add_argument("--init", default="", help="weights to start from (a full token table is cut down)")
    s.add_argument("--instance-groups", type=int, default=0, help="shape groups per batch for the instance term")
    s.add_argument("--instance-weight", type=float, default=0.3)
    s.add_argument("--checkpoint-dir", default="", help="keep a weights file at every learning-curve evaluation")
    s.add_argument("--out", help="weights file (default: the built-in model's)")
    s.add_argument("--fashion-dir", help="folder of the Fashion-MNIST IDX files (default: Debian's)")
    s.add_argument("--write-fashion-sample", action="store_true",
                   help="also rewrite the shipped Fashion-MNIST test sample (seed 0; same file)")
    s.set_defaults(func=cmd_train)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
