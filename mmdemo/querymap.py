"""Where a query, its parts and its results sit on a 2-D map of the shared space.

The service-level side of ``mmdemo.spacemap``: the Retrieve and Classify maps and the API's
``/map`` use these. Part vectors come from the service's embedding cache and the projection
is fitted once per index generation, so a slider move costs a few small matrix products.

The fused point is drawn where the search's query direction is: for feature-level modes the
weighted mean of the parts, ``Σ wᵢ·eᵢ / Σ⁺ wᵢ`` (the same direction as the normalised query
that is searched, hence the same ranking; being linear, PCA keeps it on the segment between
image and text), for ``learned`` the combiner's output. Late fusion and RRF rank by per-part
scores and have no single query vector; their map shows the same weighted mean as a guide.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from mmdemo import caches, encoders, fusion, paths, service, spacemap
from mmdemo import classify as cls
from mmdemo import gap as gap_mod
from mmdemo.gap import Gap
from mmdemo.index import Index, Manifest
from mmdemo.request import Query

MAX_TEXTS = 500  # distinct captions drawn on the gap layer (the page stays light)

_PROJECTIONS = caches.Cache(8)
_LABEL_MAPS = caches.Cache(32)


def map_key(manifest: Manifest) -> str:
    """What names one state of an index's data for the map cache (never reused)."""
    return manifest.data or manifest.token


def projection(idx: Index) -> tuple[spacemap.Projection, list[str]]:
    """The index's projection and the labels of the items it draws; cached beside a saved
    index, in memory only for an unsaved one (a private gallery writes nothing to the shared
    index folder). Only the drawn sample's items are read: an on-disk index stays on disk."""
    key = map_key(idx.manifest)

    def make():
        if service.is_saved(idx):
            proj = spacemap.load_or_fit(paths.index_dir() / idx.manifest.name, key, idx.embeddings, spacemap.MAX_POINTS)
        else:
            proj = spacemap.fit(idx.embeddings, spacemap.MAX_POINTS)
        return proj, [_label(idx.items[int(r)]) for r in proj.rows]

    return _PROJECTIONS.get_or_make((idx.manifest.name, key, len(idx)), make)


def _label(item) -> str:
    return item.label or item.caption or item.id


def _point(name: str, kind: str, xy: np.ndarray, weight: float | None = None) -> dict:
    out = {"name": name, "kind": kind, "x": round(float(xy[0]), 5), "y": round(float(xy[1]), 5)}
    return out if weight is None else {**out, "weight": round(float(weight), 4)}


def query_points(proj: spacemap.Projection, parts: list[fusion.Part], weights: Sequence[float],
                 fused: np.ndarray | None = None) -> list[dict]:
    """One point per part (kind image, text, negative, example, region, or source for delta's
    "from"), then the fused query: ``fused`` if given (learned), else the weighted mean."""
    w = np.asarray(weights, np.float64)
    vectors = np.stack([p.vector for p in parts])
    xy = proj.place(vectors)
    points = [_point(p.name, p.role or ("source" if p.kind == "text" and p.sign < 0 else p.kind), xy[i], w[i])
              for i, p in enumerate(parts)]
    if fused is None:
        positive = w[w > 0].sum()
        fused = (w[:, None] * vectors).sum(axis=0) / (positive if positive > 0 else 1.0)
    points.append(_point("fused query", "fused", proj.place(fused)[0]))
    return points


def _items(proj: spacemap.Projection, labels: list[str], extra: Sequence[tuple[int, np.ndarray, str]] = ()) -> dict:
    """The drawn items, plus ``extra`` (row, point, label) ones the sample left out (the top-k)."""
    drawn = set(proj.rows.tolist())
    more = [e for e in extra if e[0] not in drawn]
    rows, names = proj.rows.tolist() + [e[0] for e in more], labels + [e[2] for e in more]
    xy = np.vstack([proj.coords, *[e[1][None] for e in more]]) if more else proj.coords
    order = np.argsort(rows, kind="stable")
    return {"rows": [rows[i] for i in order], "x": np.round(xy[order, 0], 5).tolist(),
            "y": np.round(xy[order, 1], 5).tolist(), "label": [names[i] for i in order]}


def retrieval_map(idx, prepared: service.Prepared | None = None, fused: fusion.Fused | None = None,
                  texts: bool = False) -> dict:
    """The index's items on the map, the query's parts and fused point, and the top-k.

    ``prepared`` and ``fused`` are the query as the Retrieve tab already scored it, so nothing
    is searched twice; without them only the items are drawn. ``texts`` adds the modality-gap
    layer: the sample's captions (or labels) placed by the same projection, and both means."""
    proj, labels = projection(idx)
    out = {"index": idx.manifest.name, "generation": map_key(idx.manifest), "projection": "pca",
           "explained": [round(float(v), 4) for v in proj.explained], "queries": [], "top": []}
    if texts:
        encoder = prepared.encoder if prepared else encoders.load(idx.manifest.model)
        out.update(text_layer(proj, prepared.gap if prepared and prepared.gap else service.modality_gap(idx, encoder),
                              centered=bool(prepared and prepared.query.center)))
    if prepared is None or fused is None:
        return {**out, "items": _items(proj, labels)}
    learned = prepared.query.fusion == "learned"
    weights = (fusion.part_weights(prepared.parts, prepared.kinds) if learned
               else fused.weights)
    out["queries"] = query_points(proj, prepared.parts, weights, prepared.scored[0].vector if learned else None)
    rows = [int(r) for r in fused.rows]
    xy = proj.place(np.asarray(idx.read_rows(np.asarray(rows, np.int64)), np.float32)) if rows else np.zeros((0, 2))
    items = [idx.items[r] for r in rows]
    out["top"] = [{"rank": i + 1, "id": it.id, "row": row, "x": round(float(p[0]), 5), "y": round(float(p[1]), 5)}
                  for i, (it, row, p) in enumerate(zip(items, rows, xy))]
    extra = [(row, p, _label(it)) for it, row, p in zip(items, rows, xy)]
    return {**out, "items": _items(proj, labels, extra)}


def text_layer(proj: spacemap.Projection, g: Gap | None, centered: bool = False) -> dict:
    """The gap drawn: the distinct texts of the sample (at most MAX_TEXTS), each with the rows it
    describes, and the two modality means; after centering the texts sit where it moved them."""
    if g is None:
        return {"gap": None, "texts": {"x": [], "y": [], "text": [], "rows": []}}
    vectors = gap_mod.center_texts(g.text_vectors, g) if centered else g.text_vectors
    shown = min(len(g.texts), MAX_TEXTS)
    xy = proj.place(vectors[:shown])
    per_row = vectors[g.text_of[g.text_of >= 0]]
    mean_xy = proj.place(per_row.mean(axis=0))[0]
    image_xy = proj.place(g.image_mean)[0]
    return {"gap": {"image_mean": [round(float(v), 5) for v in image_xy],
                    "text_mean": [round(float(v), 5) for v in mean_xy], "norm": round(g.norm, 4),
                    "pair_cos": round(g.pair_cos, 4), "source": g.source, "centered": centered},
            "texts": {"x": np.round(xy[:, 0], 5).tolist(), "y": np.round(xy[:, 1], 5).tolist(),
                      "text": g.texts[:shown], "rows": [g.rows[g.text_of == t].tolist() for t in range(shown)]}}


def query_map(index: str | Index | None, query: Query | None = None, model: str | None = None,
              texts: bool = False) -> dict:
    """``retrieval_map`` for a query given as a ``Query`` (the API's ``/map``): prepared and
    fused here; with nothing asked, only the items."""
    if query is None or not query.given:
        idx = service.resolve(index, model)
        return retrieval_map(idx, texts=texts)
    prepared = service.prepare(index, query, model)
    return retrieval_map(prepared.idx, prepared, service.score(prepared), texts)


def classification_map(image: Any = None, labels: str | Sequence[str] = "", text: str | None = None,
                       w_image: float = 1.0, w_text: float = 0.5, templates: Sequence[str] | None = None,
                       model: str | None = None, result: dict | None = None) -> dict:
    """The label embeddings on their own PCA map, with the image, the text hint and the fused
    query placed on it, and the top label marked."""
    encoder = encoders.load(model or service.DEFAULT_MODEL)
    names = cls.parse_labels(labels)
    temps = cls.choose_templates(templates, encoder.spec)

    def make():
        emb = cls.label_embeddings(encoder, names, temps)
        return spacemap.fit(emb) if len(names) >= 2 else None

    proj = _LABEL_MAPS.get_or_make((encoder.fingerprint, tuple(names), temps), make)
    out = {"model": encoder.spec, "projection": "pca", "queries": [], "top": []}
    if proj is None:
        return {**out, "explained": [0.0, 0.0], "items": {"rows": [], "x": [], "y": [], "label": []}}
    out["explained"] = [round(float(v), 4) for v in proj.explained]
    if image is not None or (text or "").strip():
        result = result or service.classify(image, labels, text, w_image, w_text, templates, model)
        built = service.build_parts(encoder, image, text)
        kinds = fusion.effective_weights(built.parts, {"image": w_image, "text": w_text, "negative": 0.0})
        out["queries"] = query_points(proj, built.parts, fusion.part_weights(built.parts, kinds))
        row = names.index(result["labels"][0]["label"])
        out["top"] = [{"rank": 1, "id": names[row], "row": row, "x": round(float(proj.coords[row, 0]), 5),
                       "y": round(float(proj.coords[row, 1]), 5)}]
    return {**out, "items": _items(proj, names)}
