"""Search, classify, build and embed: the one place that wires encoders, fusion and indexes.

The UI, the CLI and the HTTP API are thin layers over these functions. Two caches make
moving a slider cheap: query-part embeddings (per model, text or image content) and per-part
candidate scores (per index generation and set of parts). A weight change hits both caches,
so it costs one weighted sum and a top-k, never an encode or a scan.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mmdemo import build as build_mod
from mmdemo import classify as cls
from mmdemo import caches, encoders, fusion, limits, loader, ondisk, paths, sessions, staging
from mmdemo.data import gallery, uploads
from mmdemo.errors import UserError
from mmdemo.index import Index, delete_index, list_indexes, read_manifest, update, validate_name
from mmdemo.manifest import ONDISK, new_manifest, read_only
from mmdemo.parts import Parts, build_parts, image_part, text_vector

DEFAULT_MODEL = "builtin"
MODES = fusion.MODES + ("learned",)

_CANDIDATES = caches.candidates()  # (index data id, count, parts) -> per-part scores
_LABELS = caches.labels()
_COMBINERS = caches.combiners()
_INDEXES = caches.indexes()  # (name, manifest token) -> Index


# --- models and indexes ---------------------------------------------------------------------
def default_index_name(model: str = DEFAULT_MODEL) -> str:
    """The bundled gallery's index for a model: ``bundled`` for the built-in one."""
    spec = encoders.parse_spec(model).text
    if spec == DEFAULT_MODEL:
        return gallery.BUNDLED_INDEX
    return "bundled-" + re.sub(r"[^A-Za-z0-9._-]+", "-", spec).strip("-.")[:48]


def get_index(name: str) -> Index:
    """A loaded index, reloaded when its manifest's token changed (by any process); its model
    must match. Concurrent first loads of one generation load it once."""
    m = read_manifest(validate_name(name))

    def load() -> Index:
        encoder = encoders.load(m.model)
        return loader.load(m.name, model=encoder.spec, fingerprint=encoder.fingerprint)

    idx = _INDEXES.get_or_make((m.name, m.token), load)
    _INDEXES.discard(lambda key: key[0] != m.name or key == (m.name, m.token))  # older generations
    return idx


def index_encoder(idx: Index, model: str | None = None):
    """The index's own model; naming a different one is an index/model mismatch."""
    encoder = encoders.load(idx.manifest.model)
    if model and encoders.parse_spec(model).text != encoder.spec:
        other = encoders.load(model)
        if other.fingerprint != idx.manifest.fingerprint:
            raise UserError(f"index {idx.manifest.name!r} was built with {idx.manifest.model!r}, "
                            f"not {other.spec!r}: pick that model or rebuild the index with this one")
    return encoder


# --- retrieval ------------------------------------------------------------------------------
def retrieve(index: str | Index | None = None, image: Any = None, text: str | None = None,
             negative: str | Sequence[str] | None = None, w_image: float = 0.5, w_text: float = 0.5,
             w_negative: float = 0.5, fusion_mode: str = "early", quality: bool = False, k: int = 10,
             threshold: float | None = None, expression: str | None = None, source: str | None = None,
             model: str | None = None, allow_paths: bool = False, thumb_root: Path | None = None) -> dict:
    """A fused query against an index (a saved one's name, or an in-memory private gallery).

    Each result names its display image as ``file`` (a thumbnail or bundled image the server
    serves) and its stored ``path``; the faces choose what to show. ``allow_paths`` lets
    expression image terms read files (the CLI's local user only).
    """
    if fusion_mode not in MODES:
        raise UserError(f"unknown fusion mode {str(fusion_mode)[:40]!r}: choose one of {', '.join(MODES)}")
    k, threshold = limits.k(k), limits.threshold(threshold)
    idx = index if isinstance(index, Index) else get_index(index or default_index_name(model or DEFAULT_MODEL))
    encoder = index_encoder(idx, model)
    built = build_parts(encoder, image, text, negative, expression, fusion_mode, source, idx, allow_paths)
    kinds = fusion.effective_weights(built.parts, {"image": w_image, "text": w_text, "negative": w_negative})
    scoring_mode, scoring_kinds = fusion_mode, kinds
    if fusion_mode == "learned":  # one composed query, scored like early fusion; sliders unused
        built = learned_parts(idx, encoder, built.parts)
        scoring_mode, scoring_kinds = "early", {**kinds, "image": 1.0}
    cand = candidates_for(idx, built.parts)
    fused = fusion.fuse(cand, built.parts, scoring_kinds, scoring_mode, k, threshold, quality)
    results = []
    for row, score, contrib in zip(fused.rows, fused.scores, fused.contributions):
        item = idx.items[int(row)]
        shown = gallery.display_file(item.path, item.sha1, thumb_root)
        results.append({"id": item.id, "row": int(row), "name": item.path.rsplit("/", 1)[-1], "path": item.path,
                        "file": str(shown) if shown else None, "score": round(float(score), 6),
                        "parts": {p.name: round(float(c), 6) for p, c in zip(built.parts, contrib)},
                        "caption": item.caption, "label": item.label})
    return {
        "results": results,
        "weights": {k_: round(v, 6) for k_, v in kinds.items()},
        "parts": [{"name": p.name, "kind": p.kind, "weight": round(float(w), 6),
                   **({"quality": round(p.quality, 3)} if p.quality is not None else {})}
                  for p, w in zip(built.parts, fused.weights)],
        "fusion": fusion_mode, "source": built.source,
        "formula": ("score = cos(combiner(e_img, e_txt), g)  (learned fusion; sliders unused)"
                    if fusion_mode == "learned" else fused.formula),
        "index": idx.manifest.name, "model": encoder.spec, "candidates": int(len(cand.rows)),
    }


def learned_parts(idx: Index, encoder, parts: list[fusion.Part]) -> Parts:
    """Model-level fusion: the index's trained combiner turns image + text into one query."""
    from mmdemo import combiner

    img = next((p for p in parts if p.kind == "image"), None)
    txt = next((p for p in parts if p.kind == "text"), None)
    if img is None or txt is None:
        raise UserError("learned fusion needs both an image and a text")
    model = _COMBINERS.get_or_make((idx.manifest.token, encoder.fingerprint),  # a combiner save renews it
                                   lambda: combiner.load(paths.index_dir() / idx.manifest.name, encoder.fingerprint))
    q = combiner.compose(model, img.vector, txt.vector)[0]
    return Parts([fusion.Part("learned", "image", q)])


def candidates_for(idx: Index, parts: list[fusion.Part]) -> fusion.Candidates:
    key = (idx.manifest.data or idx.manifest.token,  # never reused, even after delete + rebuild
           len(idx),  # an unsaved (private) index grows in place
           tuple((p.kind, p.direction, p.vector.tobytes()) for p in parts))
    vectors = np.stack([p.vector for p in parts])
    directions = np.array([p.direction for p in parts])
    return _CANDIDATES.get_or_make(key, lambda: idx.candidates(vectors, directions))


# --- classification -------------------------------------------------------------------------
def classify(image: Any = None, labels: str | Sequence[str] = "", text: str | None = None,
             w_image: float = 1.0, w_text: float = 0.5, templates: Sequence[str] | None = None,
             model: str | None = None) -> dict:
    """Zero-shot labels for an image, optionally fused with a text hint (early fusion)."""
    encoder = encoders.load(model or DEFAULT_MODEL)
    names = cls.parse_labels(labels)
    temps = cls.choose_templates(templates, encoder.spec)
    label_emb = _LABELS.get_or_make((encoder.fingerprint, tuple(names), temps),
                                    lambda: cls.label_embeddings(encoder, names, temps))
    built = build_parts(encoder, image, text)
    kinds = fusion.effective_weights(built.parts, {"image": w_image, "text": w_text, "negative": 0.0})
    w = fusion.part_weights(built.parts, kinds)
    q = fusion.early_query(np.stack([p.vector for p in built.parts]), w)
    probs = cls.probabilities(q, label_emb, encoder.logit_scale)
    order = np.argsort(-probs, kind="stable")
    return {"model": encoder.spec, "labels": [{"label": names[i], "score": float(probs[i])} for i in order],
            "weights": {k_: round(v, 6) for k_, v in kinds.items() if k_ != "negative"}}


# --- building and embedding -------------------------------------------------------------------
def build_index(name: str | None = None, source: str | Sequence[Path] = "bundled", model: str | None = None,
                factory: str | None = None, append: bool = False,
                progress: Callable[[int, int], None] | None = None, workers: int | None = None,
                max_files: int = 500, max_bytes: int = 500 * 2**20, engine: str = "local",
                ray_address: str | None = None, max_memory: str | None = None, opq: bool = False) -> dict:
    """Build (or with ``append`` extend) an index from ``bundled``, a folder, or uploaded files
    (images or zips, within ``max_files``/``max_bytes``); save it. ``engine="ray"`` encodes
    on Ray Data (``distributed``); ``max_memory`` picks an on-disk index (``ondisk``, with an
    OPQ rotation before PQ when ``opq``)."""
    model = model or DEFAULT_MODEL
    name = validate_name(name or default_index_name(model))
    encoder = encoders.load(model)
    factory = limits.factory(factory, encoder.dim)
    if opq and max_memory is None:
        raise UserError("--opq rotates an on-disk index's vectors: give --max-memory too")
    plan = partial(ondisk.plan, max_memory=ondisk.parse_bytes(max_memory), opq=opq)  # a bad size fails now
    run = partial(build_mod.build, workers=workers)
    if engine == "ray":
        from mmdemo import distributed

        run = partial(distributed.build, address=ray_address)
    elif engine != "local":
        raise UserError(f"unknown build engine {engine!r}: choose local or ray")
    if isinstance(source, str):
        entries = gallery.entries_for(source, real_photos=encoders.parse_spec(encoder.spec).family == "clip")
        return _build(name, encoder, entries, factory, append, progress, run, plan)
    got = uploads.collect([Path(f) for f in source], max_files, max_bytes)
    with uploads.staged(got.uploads) as entries:
        report = _build(name, encoder, entries, factory, append, progress, run, plan)
    report["skipped"] = [{"file": f, "reason": r} for f, r in got.skipped] + report["skipped"]
    return report


def _build(name: str, encoder, entries: list[gallery.Entry], factory: str | None, append: bool,
           progress: Callable[[int, int], None] | None, run: Callable[..., build_mod.BuildReport],
           plan: Callable[[int, int], ondisk.Plan | None]) -> dict:
    if not entries:
        raise UserError("the source has no files to index")
    on_disk = None  # a snapshot, to skip files already indexed; the merge below re-reads it locked
    if append and name in {m.name for m in list_indexes()}:
        on_disk = loader.load(name, model=encoder.spec, fingerprint=encoder.fingerprint)
        if on_disk.manifest.storage == ONDISK:  # refused before encoding, not after
            raise read_only(name)
    manifest = new_manifest(name, encoder.spec, encoder.fingerprint, encoder.dim)
    with staging.staging(manifest, len(entries)) as staged:  # RAM stays one batch, any size
        report = run(staged, entries, encoder, progress=progress, known=on_disk._by_hash if on_disk else ())
        if len(staged) == 0 and on_disk is None:
            raise UserError(f"no image in the source could be read; {len(report.skipped)} skipped, e.g. "
                            f"{report.skipped[0][0]}: {report.skipped[0][1]}" if report.skipped else "no images")
        big = None if append else plan(len(staged), encoder.dim)
        if big is not None:  # over the memory budget: IVF-PQ and fp16 embeddings served from disk
            m = ondisk.write(paths.index_dir() / name, staged.manifest, staged.embeddings,
                             (asdict(it) for it in staged.items), big)
            forget_index(name)
            return {**report.as_dict(), "count": m.count, "model": encoder.spec, "factory": m.factory}

        def merge(current: Index | None) -> Index:  # runs under the index's writer lock
            if append and current is not None:
                _, dup = current.add(staged.embeddings, list(staged.items))  # added meanwhile by another writer
                report.added -= len(dup)
                report.skipped.extend((it.path, "duplicate of an image already in the index") for it in dup)
                return current
            return staged.to_index(factory)

        idx = update(name, merge, fingerprint=encoder.fingerprint) if append else merge(None)
        if not append:
            idx.save()
    forget_index(name)
    return {**report.as_dict(), "count": len(idx), "model": encoder.spec, "factory": idx.manifest.factory}


def build_private(galleries: sessions.Galleries, session: str, files: Sequence[Path],
                  model: str | None = None) -> dict:
    """Add uploads to a visitor's private in-memory gallery (see ``sessions``); nothing is saved."""
    lim = galleries.limits
    got = uploads.collect([Path(f) for f in files], lim.images, lim.bytes)
    galleries.room(session, len(got.uploads), sum(len(u.data) for u in got.uploads))
    encoder = encoders.load(model or DEFAULT_MODEL)
    g = galleries.open(session, lambda: Index.create(sessions.PRIVATE, encoder.spec, encoder.fingerprint,
                                                     encoder.dim, "Flat"))
    with uploads.staged(got.uploads) as entries:
        report = build_mod.build(g.index, entries, encoder, workers=0, thumb_root=g.folder)
    galleries.added(g, sum(len(u.data) for u in got.uploads))
    out = report.as_dict()
    out["skipped"] = [{"file": f, "reason": r} for f, r in got.skipped] + out["skipped"]
    return {**out, "count": len(g.index), "model": encoder.spec, "factory": "Flat", "private": True}


def ensure_index(name: str | None = None, model: str | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 combiner_progress: Callable[[int, int], None] | None = None) -> str:
    """Build the bundled gallery's index for ``model`` and its learned combiner if missing."""
    from mmdemo.evaluate import learned

    name = name or default_index_name(model or DEFAULT_MODEL)
    if not any(m.name == name for m in list_indexes()):
        build_index(name, "bundled", model, progress=progress)
    learned.ensure_for_index(name, encoders.load(model or DEFAULT_MODEL), combiner_progress)
    return name


def forget_index(name: str) -> None:
    """Drop this process's loaded copy of an index (other processes notice its new token)."""
    _INDEXES.discard(lambda key: key[0] != name)


def remove_index(name: str) -> None:
    delete_index(name)
    forget_index(name)


def indexes() -> list[dict]:
    return [{"name": m.name, "model": m.model, "count": m.count, "factory": m.factory,
             "updated": m.updated, "defaults": m.defaults} for m in list_indexes()]


def embed(image: Any = None, text: str | None = None, model: str | None = None) -> dict:
    """The unit embedding of an image or a text (exactly one)."""
    if (image is None) == (not text or not str(text).strip()):
        raise UserError("give exactly one of an image or a text to embed")
    encoder = encoders.load(model or DEFAULT_MODEL)
    vec = image_part(encoder, image).vector if image is not None else text_vector(encoder, text)
    return {"model": encoder.spec, "dim": int(vec.shape[0]), "embedding": [float(x) for x in vec]}
