"""Search, classify and embed: the one place that wires encoders, fusion and indexes for a query.

The UI, the CLI and the HTTP API are thin layers over these functions and ``building`` (index
builds, which drop the loaded copy this module caches with ``forget_index``). Two caches make
moving a slider cheap: query-part embeddings (per model, text or image content) and per-part
candidate scores (per index generation and set of parts). A weight change hits both caches,
so it costs one weighted sum and a top-k, never an encode or a scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mmdemo import classify as cls
from mmdemo import caches, encoders, feedback, fusion, loader, paths, spacemap
from mmdemo import gap as gap_mod
from mmdemo.data import gallery
from mmdemo.errors import UserError
from mmdemo.index import Index, read_manifest, validate_name
from mmdemo.gap import Gap, center_texts
from mmdemo.parts import build_parts, can_delta, image_part, text_vector, with_delta_source
from mmdemo.request import MODES, Query

DEFAULT_MODEL = "builtin"

_CANDIDATES = caches.candidates()  # (index data id, count, parts) -> per-part scores
_PART_SCORES = caches.part_scores()  # (index data id, count, part vector) -> one part's scores
_LABELS = caches.labels()
_COMBINERS = caches.combiners()
_INDEXES = caches.indexes()  # (name, manifest token) -> Index
_GAPS = caches.Cache(8)  # (name, data id, count) -> the index's modality gap
_COMPOSED = caches.Cache(256)  # (index token, image, text) -> learned fusion's composed query


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


def forget_index(name: str) -> None:
    """Drop this process's loaded copy of an index (other processes notice its new token)."""
    _INDEXES.discard(lambda key: key[0] != name)


def resolve(index: str | Index | None, model: str | None = None):
    """An index object: the one given (a private gallery), or a saved one by name (default:
    the model's bundled index)."""
    if index is not None and not isinstance(index, str):
        return index
    return get_index(index or default_index_name(model or DEFAULT_MODEL))


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
@dataclass
class Prepared:
    """One query made ready to score: its parts, weights and cached candidate scores. Every
    re-weighting of the same parts (a slider move, another strategy, a path) reuses ``cand``."""

    idx: Any  # Index or OnDiskIndex
    encoder: Any
    query: Query
    parts: list[fusion.Part]  # as the user gave them (centred when asked); delta's source included
    kinds: dict[str, float]  # effective slider weights
    scored: list[fusion.Part]  # as scored: ``parts``, or learned fusion's one composed part
    mode: str  # the fusion mode that scores ``scored``
    scoring_kinds: dict[str, float]
    source: str | None
    cand: fusion.Candidates
    gap: Gap | None = None
    given: list[fusion.Part] = field(default_factory=list)  # before centering: learned fusion's input


def prepare(index: str | Index | None, query: Query, model: str | None = None, allow_paths: bool = False,
            delta_form: bool = False) -> Prepared:
    """Resolve the index, encode (or fetch from cache) the query's parts, apply centering and
    learned fusion, and get the per-part candidate scores. ``delta_form`` adds delta's source
    part whatever the mode when the query has an image and a text (``/compare`` scores delta
    beside the others from one set of parts)."""
    idx = resolve(index, model)
    encoder = index_encoder(idx, model)
    steer = feedback.parts(idx, query.examples, query.region)
    built = build_parts(encoder, query.image, query.text, query.negative, query.expression,
                        "early" if query.fusion == "learned" else query.fusion, query.source, idx, allow_paths, steer)
    if delta_form and query.fusion != "delta" and can_delta(built.parts):
        built = with_delta_source(encoder, built.parts, query.text, query.source)
    g = modality_gap(idx, encoder) if query.center else None
    if query.center and g is None:
        raise UserError(f"centering needs texts for the items of {idx.manifest.name!r} (captions or labels), "
                        "and they have none")
    parts = centered(built.parts, g) if g is not None else built.parts
    kinds = fusion.effective_weights(parts, query.weights)
    scored, mode, scoring_kinds = parts, query.fusion, kinds
    if query.fusion == "learned":  # one composed query, scored like early fusion; sliders unused
        scored, mode, scoring_kinds = learned_query(idx, encoder, built.parts), "early", {**kinds, "image": 1.0}
    return Prepared(idx, encoder, query, parts, kinds, scored, mode, scoring_kinds, built.source,
                    candidates_for(idx, scored), g, built.parts)


def learned_query(idx, encoder, given: list[fusion.Part]) -> list[fusion.Part]:
    """Model-level fusion: the index's trained combiner turns the raw (never centred) image and
    text into one query part; it was trained on them. Steering terms have no place in it."""
    from mmdemo import combiner

    if any(p.kind == fusion.EXAMPLE for p in given):
        raise UserError("learned fusion composes one image with one text: examples and map regions "
                        "work with early, late, rrf and delta")
    img = next((p for p in given if p.kind == "image"), None)
    txt = next((p for p in given if p.kind == "text"), None)
    if img is None or txt is None:
        raise UserError("learned fusion needs both an image and a text")
    model = _COMBINERS.get_or_make((idx.manifest.token, encoder.fingerprint),  # a combiner save renews it
                                   lambda: combiner.load(paths.index_dir() / idx.manifest.name, encoder.fingerprint))
    key = (idx.manifest.token, img.vector.tobytes(), txt.vector.tobytes())  # slider moves compose once
    return [fusion.Part("learned", "image", _COMPOSED.get_or_make(key, lambda: combiner.compose(
        model, img.vector, txt.vector)[0]))]


def centered(parts: list[fusion.Part], g: Gap) -> list[fusion.Part]:
    """Text-modality parts (texts, negatives, delta's source) moved across the modality gap;
    images and examples (the gallery's own modality) stay."""
    return [replace(p, vector=center_texts(p.vector, g)[0]) if p.kind in ("text", "negative") else p for p in parts]


def retrieve(index: str | Index | None = None, image: Any = None, text: str | None = None,
             negative: str | Sequence[str] | None = None, w_image: float = 0.5, w_text: float = 0.5,
             w_negative: float = 0.5, fusion_mode: str = "early", quality: bool = False, k: int = 10,
             threshold: float | None = None, expression: str | None = None, source: str | None = None,
             model: str | None = None, allow_paths: bool = False, thumb_root: Path | None = None, *,
             examples: Any = None, region: Any = None, center: bool = False) -> dict:
    """A fused query against an index (a saved one's name, or an in-memory private gallery).

    Each result names its display image as ``file`` (a thumbnail or bundled image the server
    serves) and its stored ``path``; the faces choose what to show. ``allow_paths`` lets
    expression image terms read files (the CLI's local user only). ``examples`` and ``region``
    steer by items of the index (``feedback``); ``center`` closes the modality gap (``gap``).
    """
    query = Query.make(image, text, negative, w_image, w_text, w_negative, fusion_mode, quality, k, threshold,
                       expression, source, examples, region, center)
    p = prepare(index, query, model, allow_paths)
    return answer(p, score(p), thumb_root)


def score(p: Prepared) -> fusion.Fused:
    """The query's top-k by its own mode and weights (one weighted sum over ``p.cand``)."""
    q = p.query
    return fusion.fuse(p.cand, p.scored, p.scoring_kinds, p.mode, q.k, q.threshold, q.quality)


def answer(p: Prepared, fused: fusion.Fused, thumb_root: Path | None = None) -> dict:
    """``/retrieve``'s answer: results, weights, parts, formula and where they came from."""
    query = p.query
    return {
        "results": results(p.idx, fused, p.scored, thumb_root),
        "weights": {k_: round(v, 6) for k_, v in p.kinds.items()},
        "parts": [{"name": q.name, "kind": q.kind, "weight": round(float(w), 6),
                   **({"quality": round(q.quality, 3)} if q.quality is not None else {})}
                  for q, w in zip(p.scored, fused.weights)],
        "fusion": query.fusion, "source": p.source, "centered": query.center,
        "formula": ("score = cos(combiner(e_img, e_txt), g)  (learned fusion; sliders unused)"
                    if query.fusion == "learned" else fused.formula),
        "index": p.idx.manifest.name, "model": p.encoder.spec, "candidates": int(len(p.cand.rows)),
    }


def results(idx, fused: fusion.Fused, parts: list[fusion.Part], thumb_root: Path | None = None) -> list[dict]:
    """Result rows as every face shows them: id, row, file to display, score, per-part shares."""
    out = []
    for row, score, contrib in zip(fused.rows, fused.scores, fused.contributions):
        item = idx.items[int(row)]
        out.append({**item_view(item, thumb_root), "row": int(row), "score": round(float(score), 6),
                    "parts": {p.name: round(float(c), 6) for p, c in zip(parts, contrib)}})
    return out


def item_view(item, thumb_root: Path | None = None) -> dict:
    shown = gallery.display_file(item.path, item.sha1, thumb_root)
    return {"id": item.id, "name": item.path.rsplit("/", 1)[-1], "path": item.path,
            "file": str(shown) if shown else None, "caption": item.caption, "label": item.label}


def modality_gap(idx, encoder) -> Gap | None:
    """The index's modality gap, estimated once per generation over the map's sample of items
    (kept beside a saved index; in memory for a private gallery); None when no item has text."""
    key = idx.manifest.data or idx.manifest.token
    folder = paths.index_dir() / idx.manifest.name

    def make() -> Gap | None:
        saved = is_saved(idx)
        if saved and (g := gap_mod.load(gap_mod.cache_file(folder, key))) is not None:
            return g
        rows = spacemap.shown_rows(len(idx), spacemap.MAX_POINTS)
        items = [idx.items[int(r)] for r in rows]
        source = "captions" if any(it.caption for it in items) else "labels"
        texts = [it.caption or it.label for it in items]
        g = gap_mod.estimate(rows, idx.read_rows(rows), texts, source,
                             lambda t: np.stack([text_vector(encoder, x) for x in t]))
        if saved and g is not None:
            gap_mod.save(folder, key, g)
        return g

    return _GAPS.get_or_make((idx.manifest.name, key, len(idx)), make)


def is_saved(idx) -> bool:
    """Whether ``idx`` is the saved generation of its name (a private gallery is not): only
    then may files derived from it (map, gap) be kept beside it."""
    try:
        return read_manifest(idx.manifest.name).token == idx.manifest.token
    except UserError:  # no such saved index, or an unreadable one
        return False


def candidates_for(idx: Index, parts: list[fusion.Part]) -> fusion.Candidates:
    """The per-part scores every re-weighting of these parts reuses. On an exact index each part
    is also cached on its own: a query that gains a part (an example, a region) scans the index
    for that part only. ANN candidates are the union of the positive parts' neighbours, so there
    a new positive part gives a new pool, scored exactly (a few thousand rows)."""
    data = (idx.manifest.data or idx.manifest.token,  # never reused, even after delete + rebuild
            len(idx))  # an unsaved (private) index grows in place
    key = (*data, tuple((p.kind, p.direction, p.vector.tobytes()) for p in parts))
    vectors = np.stack([p.vector for p in parts])
    directions = np.array([p.direction for p in parts])

    def make() -> fusion.Candidates:
        if not idx.exact:
            return idx.candidates(vectors, directions)
        rows = [_PART_SCORES.get_or_make((*data, v.tobytes()), lambda v=v: fusion.PartScores(
            idx.candidates(v[None], np.ones(1)).scores[0])) for v in vectors]
        return fusion.Candidates.of_parts(np.arange(len(idx)), rows)

    return _CANDIDATES.get_or_make(key, make)


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


# --- embedding ------------------------------------------------------------------------------
def embed(image: Any = None, text: str | None = None, model: str | None = None) -> dict:
    """The unit embedding of an image or a text (exactly one)."""
    if (image is None) == (not text or not str(text).strip()):
        raise UserError("give exactly one of an image or a text to embed")
    encoder = encoders.load(model or DEFAULT_MODEL)
    vec = image_part(encoder, image).vector if image is not None else text_vector(encoder, text)
    return {"model": encoder.spec, "dim": int(vec.shape[0]), "embedding": [float(x) for x in vec]}
