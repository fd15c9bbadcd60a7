"""Composed retrieval: reference image + modification text -> target, on held-out data.

Shapes: every base geometry (position, size, rotation, background) is rendered in all colour ×
shape variants, so "make it blue" on a red star has exactly one target: the same geometry,
blue. Fashion: every garment image is tinted in all colours and queries change the colour ("in
red"), again with one exact target. ``attr@1`` asks only that the top result has every
attribute of the target (colour, shape, size / garment), since many gallery images share them.

Every strategy runs through ``mmdemo.fusion`` on exact per-part scores, the same code the app
uses; each is swept over the text weight (image weight = 1 − text weight).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mmdemo import fusion
from mmdemo.data import fashion, shapes
from mmdemo.data.vocab import COLOR_NAMES, EVAL_SEED, SHAPES
from mmdemo.evaluate.zeroshot import FASHION_EVAL_START
from mmdemo.service import guess_source

SWEEP = tuple(round(x, 1) for x in np.linspace(0, 1, 11))
COLOR_MODS = ("make it {}", "in {}", "change the colour to {}")
SHAPE_MODS = ("as a {}", "make it a {}", "change it to a {}")


@dataclass
class Task:
    gallery: np.ndarray  # (N, d) unit embeddings
    attrs: list[dict]  # per gallery row
    refs: np.ndarray  # (Q,) gallery row of each query's reference
    texts: list[str]  # modification text per query
    targets: np.ndarray  # (Q,) gallery row of the target


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
        for j in range(per_base):
            c1, s1 = str(rng.choice(COLOR_NAMES)), str(rng.choice(SHAPES))
            if j % 2 == 0:
                c2 = str(rng.choice([c for c in COLOR_NAMES if c != c1]))
                text, target = str(rng.choice(COLOR_MODS)).format(c2), index[b, c2, s1]
            else:
                s2 = str(rng.choice([s for s in SHAPES if s != s1]))
                text, target = str(rng.choice(SHAPE_MODS)).format(s2), index[b, c1, s2]
            refs.append(index[b, c1, s1])
            texts.append(text)
            targets.append(target)
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


def score_task(encoder, task: Task) -> dict:
    """R@1, R@10 and attr@1 of every strategy, each at its best text weight, plus the sweeps."""
    text_emb = encoder.encode_texts(task.texts)
    sources = [guess_source(encoder, task.gallery[r], t) for r, t in zip(task.refs, task.texts)]
    src_emb = {s: encoder.encode_texts([s])[0] for s in set(sources) if s}
    queries = []
    for q, (ref, src) in enumerate(zip(task.refs, sources)):
        img = fusion.Part("image", "image", task.gallery[ref])
        txt = fusion.Part("text", "text", text_emb[q])
        parts = [img, txt] + ([fusion.Part("source", "text", src_emb[src], sign=-1.0)] if src else [])
        vectors = np.stack([p.vector for p in parts])
        cand = fusion.Candidates(np.arange(len(task.gallery)), vectors @ task.gallery.T, exact=True)
        queries.append((parts, cand))

    def run(mode: str, w_text: float) -> dict:
        hits1 = hits10 = attr1 = 0
        for (parts, cand), target in zip(queries, task.targets):
            use = parts if mode == "delta" else parts[:2]
            sub = cand if mode == "delta" else fusion.Candidates(cand.rows, cand.scores[:2], True)
            kinds = {"image": 1.0 - w_text, "text": w_text, "negative": 0.0}
            top = fusion.fuse(sub, use, kinds, mode, k=10).rows
            hits1 += int(top[0] == target)
            hits10 += int(target in top)
            attr1 += int(task.attrs[top[0]] == task.attrs[target])
        n = len(task.targets)
        return {"R@1": hits1 / n, "R@10": hits10 / n, "attr@1": attr1 / n}

    out = {"image_only": run("early", 0.0), "text_only": run("early", 1.0), "sweep": {}}
    for mode in ("early", "late", "rrf", "delta"):
        sweep = [{"w_text": w, **run(mode, w)} for w in SWEEP]
        out["sweep"][mode] = sweep
        out[mode] = max(sweep, key=lambda r: (r["R@10"], r["attr@1"], r["R@1"]))
    out["queries"] = len(task.targets)
    out["gallery"] = len(task.gallery)
    return out


def evaluate(encoder) -> dict:
    return {"model": encoder.spec, "shapes": score_task(encoder, shapes_task(encoder)),
            "fashion": score_task(encoder, fashion_task(encoder))}
