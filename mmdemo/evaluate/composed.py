"""Composed retrieval: reference image + modification text -> target, on held-out data.

Shapes: every base geometry (position, size, rotation, background) is rendered in all colour ×
shape variants, so "make it blue" on a red star has exactly one target: the same geometry,
blue. Fashion: every garment image is tinted in all colours and queries change the colour ("in
red"), again with one exact target. ``attr@1`` asks only that the top result has every
attribute of the target (colour, shape, size / garment), since many gallery images share them.

Every strategy runs through ``mmdemo.fusion`` on exact per-part scores, the same code the app
uses; each is swept over the text weight (image weight = 1 − text weight). The learned
combiner (``mmdemo.combiner``) trains on triplets from other geometries and other garments
whose attribute pairs are all seen pairs; ``unseen`` reports every strategy on the queries
whose reference or target is a held-out pair.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from mmdemo import combiner as comb
from mmdemo import fusion
from mmdemo import gap as gap_mod
from mmdemo.data import fashion, shapes
from mmdemo.data.gallery import is_image_name
from mmdemo.data.images import open_images
from mmdemo.data.vocab import COLOR_NAMES, EVAL_SEED, GARMENTS, HELDOUT_GARMENT_PAIRS, HELDOUT_SHAPE_PAIRS, SHAPES
from mmdemo.errors import UserError
from mmdemo.evaluate import cv, metrics
from mmdemo.evaluate.zeroshot import FASHION_EVAL_START
from mmdemo.parts import guess_source

SWEEP = tuple(float(round(x, 1)) for x in np.linspace(0, 1, 11))
COLOR_MODS = ("make it {}", "in {}", "change the colour to {}")
SHAPE_MODS = ("as a {}", "make it a {}", "change it to a {}")


@dataclass
class Task:
    gallery: np.ndarray  # (N, d) unit embeddings
    attrs: list[dict]  # per gallery row
    refs: np.ndarray  # (Q,) gallery row of each query's reference
    texts: list[str]  # modification text per query
    targets: np.ndarray  # (Q,) gallery row of the target

    @property
    def unseen(self) -> np.ndarray:
        """Queries whose reference or target is an attribute pair never seen in training."""
        return np.array([_heldout(self.attrs[r]) or _heldout(self.attrs[t]) for r, t in zip(self.refs, self.targets)])


def _heldout(a: dict) -> bool:
    if "shape" in a:
        return (a["color"], a["shape"]) in HELDOUT_SHAPE_PAIRS
    if "garment" in a:
        return (a["color"], a["garment"]) in HELDOUT_GARMENT_PAIRS
    return False  # user data: no notion of held-out pairs


def _modification(rng: np.random.Generator, c1: str, s1: str, heldout_ok: bool) -> tuple[str, str, str]:
    """(text, c2, s2): change the colour or the shape, avoiding held-out targets if asked."""
    while True:
        if rng.random() < 0.5:
            c2, s2 = str(rng.choice([c for c in COLOR_NAMES if c != c1])), s1
            text = str(rng.choice(COLOR_MODS)).format(c2)
        else:
            c2, s2 = c1, str(rng.choice([s for s in SHAPES if s != s1]))
            text = str(rng.choice(SHAPE_MODS)).format(s2)
        if heldout_ok or (c2, s2) not in HELDOUT_SHAPE_PAIRS:
            return text, c2, s2


def shapes_task(encoder, n_bases: int = 40, per_base: int = 4, seed: int = EVAL_SEED) -> Task:
    rng = np.random.default_rng([seed, 10])
    specs, attrs, index = [], [], {}
    for b in range(n_bases):
        base = shapes.sample_spec(rng, heldout="any")
        for c in COLOR_NAMES:
            for s in SHAPES:
                index[b, c, s] = len(specs)
                specs.append(replace(base, color=c, shape=s))
                attrs.append(specs[-1].attributes)
    gallery = encoder.encode_images([shapes.render(s) for s in specs])
    refs, texts, targets = [], [], []
    for b in range(n_bases):
        for _ in range(per_base):
            c1, s1 = str(rng.choice(COLOR_NAMES)), str(rng.choice(SHAPES))
            text, c2, s2 = _modification(rng, c1, s1, heldout_ok=True)
            refs.append(index[b, c1, s1])
            texts.append(text)
            targets.append(index[b, c2, s2])
    return Task(gallery, attrs, np.array(refs), texts, np.array(targets))


def fashion_task(encoder, n_garments: int = 100, seed: int = EVAL_SEED) -> Task:
    pixels, labels = fashion.load_sample()
    rng = np.random.default_rng([seed, 11])
    rows = range(FASHION_EVAL_START, FASHION_EVAL_START + n_garments)
    specs, attrs, index = [], [], {}
    for r in rows:
        base = fashion.sample_spec(rng, r, labels[r], heldout="any")
        for c in COLOR_NAMES:
            index[r, c] = len(specs)
            specs.append(replace(base, color=c))
            attrs.append(specs[-1].attributes)
    gallery = encoder.encode_images([fashion.render(s, pixels[s.index]) for s in specs])
    refs, texts, targets = [], [], []
    for r in rows:
        c1 = str(rng.choice(COLOR_NAMES))
        c2 = str(rng.choice([c for c in COLOR_NAMES if c != c1]))
        refs.append(index[r, c1])
        texts.append(str(rng.choice(COLOR_MODS)).format(c2))
        targets.append(index[r, c2])
    return Task(gallery, attrs, np.array(refs), texts, np.array(targets))


def folder_task(encoder, data: str | Path, progress: Callable[[int, int], None] | None = None) -> tuple[Task, list[dict]]:
    """Your own composed-retrieval data: every image under ``data`` is the gallery (its folder
    name is its label, for attr@1) and ``data/triplets.csv`` has ``reference,modifier,target``
    rows (paths relative to ``data``). Bad rows and unreadable images are reported, not fatal."""
    root = Path(data).expanduser()
    csv_path = root / "triplets.csv"
    if not csv_path.is_file():
        raise UserError(f"{csv_path} not found: a CSV with reference,modifier,target columns")
    images, files, unreadable = open_images(sorted(p for p in root.rglob("*") if p.is_file() and is_image_name(p)))
    skipped = [{"row": None, **s} for s in unreadable]
    row_of = {f.resolve(): i for i, f in enumerate(files)}
    attrs = [{"label": f.parent.name if f.parent != root else f.stem} for f in files]
    refs, texts, targets = [], [], []
    with open(csv_path, newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            ref, mod, tgt = (str(row.get(k) or "").strip() for k in ("reference", "modifier", "target"))
            problem = ("missing reference, modifier or target" if not (ref and mod and tgt) else
                       next((f"{p} is not a readable gallery image" for p in (ref, tgt)
                             if (root / p).resolve() not in row_of), None))
            if problem:
                skipped.append({"row": n, "reason": problem})
                continue
            refs.append(row_of[(root / ref).resolve()])
            texts.append(mod)
            targets.append(row_of[(root / tgt).resolve()])
    if not refs:
        raise UserError(f"no usable row in {csv_path} ({len(skipped)} skipped)")
    embedded = encoder.encode_images(images, progress=(lambda n: progress(n, len(images))) if progress else None)
    return Task(embedded, attrs, np.array(refs), texts, np.array(targets)), skipped


# --- learned fusion -----------------------------------------------------------------------------
def training_triplets(encoder, n_shapes: int = 8000, seed: int = EVAL_SEED + 7):
    """Triplets for the combiner: new geometries (shapes) and the bundled gallery's garment rows
    (never the evaluation rows), with seen attribute pairs only."""
    rng = np.random.default_rng([seed, 20])
    ref_imgs, tgt_imgs, texts, colour, kind = [], [], [], [], []
    for _ in range(n_shapes):
        base = shapes.sample_spec(rng, heldout="exclude")
        text, c2, s2 = _modification(rng, base.color, base.shape, heldout_ok=False)
        ref_imgs.append(shapes.render(base))
        tgt_imgs.append(shapes.render(replace(base, color=c2, shape=s2)))
        texts.append(text)
        colour.append(COLOR_NAMES.index(c2))
        kind.append(SHAPES.index(s2))
    pixels, labels = fashion.load_sample()
    for r in range(FASHION_EVAL_START):
        base = fashion.sample_spec(rng, r, labels[r], heldout="exclude")
        allowed = [c for c in COLOR_NAMES if c != base.color and (c, base.garment) not in HELDOUT_GARMENT_PAIRS]
        c2 = str(rng.choice(allowed))
        ref_imgs.append(fashion.render(base, pixels[r]))
        tgt_imgs.append(fashion.render(replace(base, color=c2), pixels[r]))
        texts.append(str(rng.choice(COLOR_MODS)).format(c2))
        colour.append(COLOR_NAMES.index(c2))
        kind.append(len(SHAPES) + GARMENTS.index(base.garment))
    ref, tgt, txt = (encoder.encode_images(ref_imgs), encoder.encode_images(tgt_imgs),
                     encoder.encode_texts(texts))
    return ref, txt, tgt, {"color": np.array(colour), "kind": np.array(kind)}


def train_combiner(encoder, multitask: bool = False, triplets=None) -> tuple[comb.Combiner, comb.CombinerConfig]:
    """Train on ``training_triplets`` (8,000 shape + 400 garment triplets: ~20 s on 2 cores)."""
    ref, txt, tgt, labels = triplets if triplets is not None else training_triplets(encoder)
    heads = {"color": len(COLOR_NAMES), "kind": len(SHAPES) + len(GARMENTS)} if multitask else {}
    cfg = comb.CombinerConfig(dim=encoder.dim, heads=heads, model_fingerprint=encoder.fingerprint)
    return comb.train(ref, txt, tgt, cfg, labels), cfg


# --- scoring -----------------------------------------------------------------------------------
def _hits(task: Task, top: np.ndarray, same: dict[int, set[int]]) -> dict[str, np.ndarray]:
    """Per-query metrics from each query's top-10 rows (best first): exact-target R@1, R@10 and
    MRR@10, attr@1, and mAP@10 with ``same[target]`` (the items sharing its attributes) relevant."""
    t = task.targets
    found = top == t[:, None]
    rank = np.where(found.any(1), found.argmax(1) + 1, 0)
    return {"R@1": (top[:, 0] == t).astype(float), "R@10": found.any(1).astype(float),
            "MRR@10": np.where(rank > 0, 1.0 / np.maximum(rank, 1), 0.0),
            "attr@1": np.array([task.attrs[a] == task.attrs[b] for a, b in zip(top[:, 0], t)], float),
            "mAP@10": np.array([metrics.ap_at_k(row, same[b], 10) for row, b in zip(top, t)])}


def _same_attrs(task: Task) -> dict[int, set[int]]:
    """Target row -> gallery rows with the same attributes (once per task, not per weight)."""
    groups: dict[tuple, set[int]] = {}
    for i, a in enumerate(task.attrs):
        groups.setdefault(tuple(sorted(a.items())), set()).add(i)
    return {int(b): groups[tuple(sorted(task.attrs[b].items()))] for b in set(task.targets.tolist())}


def _mean(hits: dict[str, np.ndarray], rows: np.ndarray | None = None) -> dict[str, float]:
    return {k: float(v[rows].mean() if rows is not None else v.mean()) for k, v in hits.items()}


def caption(attrs: dict) -> str:
    """A gallery item's caption, as the bundled gallery captions its items (the label for your
    own data): what the modality gap of a task is estimated from."""
    if "shape" in attrs:
        return f"a {attrs['size']} {attrs['color']} {attrs['shape']}"
    if "garment" in attrs:
        return f"a {attrs['color']} {attrs['garment']}"
    return attrs.get("label", "")


def task_gap(encoder, task: Task) -> gap_mod.Gap | None:
    """The gap over the task's gallery and its items' captions (never the queries' texts)."""
    rows = np.arange(len(task.gallery))
    return gap_mod.estimate(rows, task.gallery, [caption(a) for a in task.attrs], "captions", encoder.encode_texts)


MODES = ("early", "late", "rrf", "delta")


def score_task(encoder, task: Task, learned: dict[str, comb.Combiner] | None = None, folds: int = 0,
               table_out: dict | None = None) -> dict:
    """R@1, R@10 and attr@1 of every strategy at its best text weight, the sweeps, the learned
    combiners, the same on unseen-pair queries, (``folds`` ≥ 2) cross-validated weights, and
    ``centered``: every linear strategy again with the texts moved across the modality gap."""
    text_emb = encoder.encode_texts(task.texts)
    sources = [guess_source(encoder, task.gallery[r], t) for r, t in zip(task.refs, task.texts)]
    src_emb = {s: encoder.encode_texts([s])[0] for s in set(sources) if s}
    same = _same_attrs(task)
    table = _sweep(task, text_emb, sources, src_emb, same)
    if table_out is not None:
        table_out.update(table)
    best = {"image_only": table["early", 0.0], "text_only": table["early", 1.0]}
    out: dict = {"sweep": {}}
    for mode in MODES:
        out["sweep"][mode] = [{"w_text": w, **_mean(table[mode, w])} for w in SWEEP]
        w = _best_weight(table, mode)
        best[mode] = table[mode, w]
        out[mode] = {**_mean(best[mode]), "w_text": w}
    for name, model in (learned or {}).items():
        composed_q = comb.compose(model, task.gallery[task.refs], text_emb)
        scores = composed_q @ task.gallery.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        best[name] = _hits(task, top, same)
        out[name] = _mean(best[name])
    for name in ("image_only", "text_only"):
        out[name] = _mean(best[name])
    unseen = task.unseen
    out["unseen"] = {"queries": int(unseen.sum()),
                     **({name: _mean(h, unseen) for name, h in best.items()} if unseen.any() else {})}
    if folds >= 2:
        others = {m: {c: h[m] for c, h in table.items()} for m in ("R@1", "attr@1")}
        out["cv"] = cv.cross_validate({c: h["R@10"] for c, h in table.items()}, k=folds, also=others)
        early = {c: h["R@10"] for c, h in table.items() if c[0] == "early"}
        out["early_cv"] = cv.cross_validate(early, k=folds, also={m: {c: v for c, v in o.items() if c[0] == "early"}
                                                                  for m, o in others.items()})
    g = task_gap(encoder, task)
    if g is not None:
        moved = _sweep(task, gap_mod.center_texts(text_emb, g), sources,
                       {s: gap_mod.center_texts(v, g)[0] for s, v in src_emb.items()}, same)
        out["centered"] = {"gap": {"norm": g.norm, "pair_cos": g.pair_cos}, "text_only": _mean(moved["early", 1.0]),
                           **{m: {**_mean(moved[m, w]), "w_text": w} for m in MODES
                              for w in [_best_weight(moved, m)]}}
    out["queries"] = len(task.targets)
    out["gallery"] = len(task.gallery)
    return out


def _sweep(task: Task, text_emb: np.ndarray, sources: list, src_emb: dict, same: dict) -> dict:
    """Per-query hits of every linear strategy at every sweep weight, through ``fusion``."""
    queries = []
    for q, (ref, src) in enumerate(zip(task.refs, sources)):
        parts = [fusion.Part("image", "image", task.gallery[ref]), fusion.Part("text", "text", text_emb[q])]
        if src:
            parts.append(fusion.Part("source", "text", src_emb[src], sign=-1.0))
        vectors = np.stack([p.vector for p in parts])
        full = fusion.Candidates(np.arange(len(task.gallery)), vectors @ task.gallery.T, exact=True)
        pair = fusion.Candidates(full.rows, full.scores[:2], exact=True)
        queries.append((parts, full, pair))

    def run(mode: str, w_text: float) -> dict[str, np.ndarray]:
        kinds = {"image": 1.0 - w_text, "text": w_text, "negative": 0.0}
        top = np.stack([fusion.fuse(full if mode == "delta" else pair, parts if mode == "delta" else parts[:2],
                                    kinds, mode, k=10).rows for parts, full, pair in queries])
        return _hits(task, top, same)

    return {(mode, w): run(mode, w) for mode in MODES for w in SWEEP}


def _best_weight(table: dict, mode: str) -> float:
    return max(SWEEP, key=lambda x: (table[mode, x]["R@10"].mean(), table[mode, x]["attr@1"].mean(),
                                     table[mode, x]["R@1"].mean()))


def evaluate(encoder, folds: int = 0, learned: bool = True) -> dict:
    """The JSON of ``eval composed``; trains the combiners (plain and multi-task) first.

    With ``folds`` ≥ 2, each dataset gets its own cross-validation and ``cv`` (top level)
    chooses one mode and weight over all queries of both, for an index's defaults."""
    combiners, cfg = {}, None
    if learned:
        triplets = training_triplets(encoder)
        plain, cfg = train_combiner(encoder, triplets=triplets)
        combiners = {"learned": plain, "learned_multitask": train_combiner(encoder, True, triplets)[0]}
    tables: list[dict] = [{}, {}]
    out = {"model": encoder.spec,
           "shapes": score_task(encoder, shapes_task(encoder), combiners, folds, tables[0]),
           "fashion": score_task(encoder, fashion_task(encoder), combiners, folds, tables[1])}
    if folds >= 2:
        joint = {c: np.concatenate([t[c]["R@10"] for t in tables]) for c in tables[0]}
        out["cv"] = cv.cross_validate(joint, k=folds)
    out["_combiner"] = (combiners.get("learned"), cfg)  # for saving; dropped before printing
    return out


def save_to_index(result: dict, name: str) -> dict:
    """Keep the learned combiner beside index ``name`` and its CV choice as the index's defaults,
    in one locked edit of the index (a concurrent build keeps both; a deleted index gets neither)."""
    from mmdemo.index import edit

    model, cfg = result.get("_combiner", (None, None))
    saved = {}
    with edit(name) as (folder, manifest):
        if model is not None:
            if cfg.model_fingerprint != manifest.fingerprint:
                raise ValueError(f"index {name!r} uses another model than the one evaluated")
            brief = {d: {k: result[d][k] for k in ("learned", "early", "delta") if k in result[d]}
                     for d in ("shapes", "fashion") if d in result}
            comb.save(model, cfg, folder, brief)
            saved["combiner"] = True
        if "cv" in result:
            choice = result["cv"]["chosen"]
            defaults = {"fusion": choice["mode"], "w_text": choice["w_text"],
                        "w_image": round(1 - choice["w_text"], 3),
                        "cv": {"k": result["cv"]["k"], "mean_R@10": result["cv"]["mean"], "std": result["cv"]["std"]}}
            manifest.defaults = {**manifest.defaults, **defaults}
            saved["defaults"] = defaults
    return saved
