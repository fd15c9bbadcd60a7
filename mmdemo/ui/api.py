"""Named HTTP endpoints (``gradio_client``): the API's contract, kept stable and tested.

Every parameter is optional and keyword-addressable; errors come back as ``gr.Error`` messages.
File parameters take only files uploaded with the request (``handle_file``); they are typed
as plain dicts so that gradio does no file handling of its own on them, and
``access.uploaded_file`` alone decides (gradio's meta, inside its upload folder). Results carry
their image as FileData under ``"image"``, so the default ``Client(url)`` downloads it and
keeps the scores. In public mode writes need the operator's ``token`` (MMDEMO_ADMIN_TOKEN),
except uploads into the caller's private session gallery.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from mmdemo import access, building, service, views
from mmdemo.errors import UserError
from mmdemo.request import Query
from mmdemo.ui import queues
from mmdemo.ui.classify import DEFAULT_LABELS
from mmdemo.ui.common import Settings, guarded, resolve_index, result_image, session_of
from mmdemo.ui.evaluate import evaluate as run_evaluation
from mmdemo.ui.evaluate import evaluate_own


def upload(value: Any, what: str = "image") -> str | None:
    path = access.uploaded_file(value, what, strict=True)
    return str(path) if path else None


def public_rows(rows: list[dict]) -> list[dict]:
    """Result rows without server paths: each item's image as FileData (``path``, ``file`` and the
    index row dropped), everything else kept."""
    return [{**{k: v for k, v in r.items() if k not in ("path", "file", "row")}, "image": result_image(r)}
            for r in rows]


def public_result(out: dict) -> dict:
    """``service.retrieve``'s answer without server paths."""
    return {**out, "results": public_rows(out["results"])}


def query_of(image: Any, *rest: Any) -> Query:
    """A checked query from an endpoint's inputs (the image only from the request's uploads)."""
    return Query.make(upload(image), *rest)


def register(settings: Settings) -> None:
    policy = settings.policy

    @guarded
    def retrieve(index: str | None = None, image: dict | None = None, text: str | None = None,
                 negative: str | None = None, w_image: float = 0.5, w_text: float = 0.5,
                 w_negative: float = 0.5, fusion: str = "early", quality: bool = False, k: int = 10,
                 threshold: float | None = None, expression: str | None = None,
                 source: str | None = None, examples: list[dict] | None = None, region: dict | None = None,
                 center: bool = False, request: gr.Request = None) -> dict[str, Any]:
        """Fused retrieval. Returns {"results": [{"id", "name", "image" (FileData), "score", "parts",
        "caption", "label"}], "weights", "formula", "parts", ...}. `index` "my-uploads" is your
        private gallery. `negative` is comma-separated; `expression` takes the multi-term syntax
        (image terms: @image or an item id); `source` is delta fusion's "from" text. `examples`:
        [{"id": ITEM_ID, "weight": w}] (at most 8, w in [-10, 10], negative = less like it);
        `region`: {"ids": [...] (≤ 4,000), "weight": w}, its centroid one term; `center` closes
        the modality gap before fusing."""
        idx, thumbs = resolve_index(settings, index, request)
        query = query_of(image, text, negative, w_image, w_text, w_negative, fusion, quality, k, threshold,
                         expression, source, examples, region, center)
        p = service.prepare(idx, query)
        return public_result(service.answer(p, service.score(p), thumbs))

    @guarded
    def compare(index: str | None = None, image: dict | None = None, text: str | None = None,
                negative: str | None = None, w_image: float = 0.5, w_text: float = 0.5,
                w_negative: float = 0.5, fusion: str = "early", quality: bool = False, k: int = 10,
                threshold: float | None = None, expression: str | None = None, source: str | None = None,
                examples: list[dict] | None = None, region: dict | None = None, center: bool = False,
                strategies: list[str] | None = None, request: gr.Request = None) -> dict[str, Any]:
        """Strategies side by side on one query: the inputs of /retrieve plus `strategies` (a list
        of early, late, rrf, delta, learned; default all). Returns {"columns": {strategy: [results
        as /retrieve]}, "agreement": {"overlap": {a: {b}}, "rbo": {a: {b}}}, "only": {strategy: [ids
        no other strategy found]}, "unavailable": {strategy: reason}, "formulas", "weights", "k"}."""
        idx, thumbs = resolve_index(settings, index, request)
        query = query_of(image, text, negative, w_image, w_text, w_negative, fusion, quality, k, threshold,
                         expression, source, examples, region, center)
        out = views.compare_query(idx, query, strategies, thumb_root=thumbs)
        return {**out, "columns": {name: public_rows(rows) for name, rows in out["columns"].items()}}

    @guarded
    def paths(index: str | None = None, image: dict | None = None, text: str | None = None,
              negative: str | None = None, w_image: float = 0.5, w_text: float = 0.5,
              w_negative: float = 0.5, fusion: str = "early", quality: bool = False, k: int = 10,
              threshold: float | None = None, expression: str | None = None, source: str | None = None,
              examples: list[dict] | None = None, region: dict | None = None, center: bool = False,
              steps: int = 101, request: gr.Request = None) -> dict[str, Any]:
        """Rank paths: the inputs of /retrieve plus `steps` (2-201). Returns {"weights": [...],
        "items": [{"id", "ranks": [rank or null per weight], "stable": [[lo, hi], ...], "caption",
        "label", "image"}], "current", "axis": {"low", "high", "scale"}, "breakpoints"}: at weights[j]
        the image weight is scale·(1 − w) and the text weight scale·w (scale = w_image + w_text),
        and the top-k by ranks is what /retrieve returns there. "unavailable" says why a query
        has no path (e.g. no text)."""
        idx, thumbs = resolve_index(settings, index, request)
        query = query_of(image, text, negative, w_image, w_text, w_negative, fusion, quality, k, threshold,
                         expression, source, examples, region, center)
        out = views.paths_query(idx, query, steps, thumb_root=thumbs)
        return {**out, "items": public_rows(out["items"])}

    @guarded
    def classify(image: dict | None = None, labels: str = DEFAULT_LABELS, text: str | None = None,
                 w_image: float = 1.0, w_text: float = 0.5, model: str | None = None) -> dict[str, Any]:
        """Zero-shot classification, optionally fused with a text hint.
        Returns {"model", "labels": [{"label", "score"}], "weights"}; labels are newline/comma separated."""
        return service.classify(upload(image), labels, text, w_image, w_text,
                                model=policy.model(model, settings.model))

    @guarded
    def build_index(name: str | None = None, source: str = "bundled", model: str | None = None,
                    factory: str | None = None, append: bool = False, files: list[dict] | None = None,
                    private: bool = False, token: str | None = None,
                    request: gr.Request = None) -> dict[str, Any]:
        """Build an index. With `files` (uploaded images or zips): your private session gallery
        ("my-uploads"; always so on a public server without the admin `token`), or a shared index
        `name`. Else from `source`: "bundled" or a server folder (admins, inside MMDEMO_FOLDER_ROOTS)."""
        paths = [upload(f, "each file") for f in files or []]
        try:
            if paths and (private or not policy.may_write(token)):
                return building.build_private(settings.galleries, session_of(request), paths, settings.model)
            policy.require_write(token, "building a shared index")
            if paths:
                return building.build_index(name or None, paths, policy.model(model, settings.model),
                                            factory or None, append)
        finally:
            access.discard(paths)  # the build keeps thumbnails, never the uploads
        spec = policy.model(model, settings.model)
        if source == "bundled":
            return building.build_index(name or None, "bundled", spec, factory or None, append)
        folder = access.server_folder(source, policy, token)
        return building.build_index(name or None, str(folder), spec, factory or None, append)

    @guarded
    def delete_index(name: str, token: str | None = None) -> dict[str, Any]:
        """Delete a shared index (admins)."""
        policy.require_write(token, "deleting an index")
        building.remove_index(name)
        return {"deleted": name}

    @guarded
    def list_indexes() -> list[dict[str, Any]]:
        """Saved indexes: name, model, count, factory, updated, defaults."""
        return building.indexes()

    @guarded
    def evaluate(what: str = "zeroshot", model: str | None = None, data: dict | list[dict] | None = None,
                 request: gr.Request = None) -> dict[str, Any]:
        """`zeroshot`, `composed` or `classify`: the same JSON as `python -m mmdemo eval WHAT --json`.
        With `data` (an uploaded zip, or images and a triplets.csv): `classify` (a zip of class folders)
        or `composed` (images + triplets.csv with reference,modifier,target) on your own data, as
        `eval WHAT --data DIR --json` (composed with 5-fold CV); kept in your session, at most 200
        images / 50 MB on a public server."""
        if what not in ("zeroshot", "composed", "classify"):
            raise UserError(f"unknown evaluation {str(what)[:40]!r}: choose zeroshot, composed or classify")
        if data:
            paths = [p for p in (upload(f, "data") for f in (data if isinstance(data, list) else [data])) if p]
            try:
                return evaluate_own(settings, what, model, [Path(p) for p in paths], session_of(request))
            finally:
                access.discard(paths)
        return run_evaluation(what, policy.model(model, settings.model))

    @guarded
    def embed(image: dict | None = None, text: str | None = None, model: str | None = None) -> dict[str, Any]:
        """The unit embedding of one image or one text: {"model", "dim", "embedding"}."""
        return service.embed(upload(image), text, policy.model(model, settings.model))

    for fn in (retrieve, compare, paths, classify, build_index, delete_index, list_indexes, evaluate, embed):
        gr.api(fn, api_name=fn.__name__, **queues.for_api(fn.__name__))
