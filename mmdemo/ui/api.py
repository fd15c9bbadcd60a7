"""Named HTTP endpoints (``gradio_client``): the API's contract, kept stable and tested.

Every parameter is optional and keyword-addressable; errors come back as ``gr.Error`` messages.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from mmdemo import service
from mmdemo.ui import queues
from mmdemo.ui.classify import DEFAULT_LABELS
from mmdemo.ui.common import Settings, file_path, guarded
from mmdemo.ui.evaluate import evaluate as run_evaluation
from mmdemo.ui.indexes import check_folder


def register(settings: Settings) -> None:
    @guarded
    def retrieve(index: str | None = None, image: FileData | None = None, text: str | None = None,
                 negative: str | None = None, w_image: float = 0.5, w_text: float = 0.5,
                 w_negative: float = 0.5, fusion: str = "early", quality: bool = False, k: int = 10,
                 threshold: float | None = None, expression: str | None = None,
                 source: str | None = None) -> dict[str, Any]:
        """Fused retrieval. Returns {"results": [{"id", "path", "score", "parts", ...}], "weights": {...},
        "formula", "parts", ...}. `negative` is comma-separated; `expression` takes the multi-term
        syntax; `source` is delta fusion's "from" text."""
        return service.retrieve(index or settings.index, file_path(image), text, negative, w_image, w_text,
                                w_negative, fusion, quality, k, threshold, expression, source)

    @guarded
    def classify(image: FileData | None = None, labels: str = DEFAULT_LABELS, text: str | None = None,
                 w_image: float = 1.0, w_text: float = 0.5) -> dict[str, Any]:
        """Zero-shot classification, optionally fused with a text hint.
        Returns {"model", "labels": [{"label", "score"}], "weights"}; labels are newline/comma separated."""
        return service.classify(file_path(image), labels, text, w_image, w_text, model=settings.model)

    @guarded
    def build_index(name: str | None = None, source: str = "bundled", model: str | None = None,
                    factory: str | None = None, append: bool = False) -> dict[str, Any]:
        """Build an index from "bundled" or a server folder (inside MMDEMO_FOLDER_ROOTS); returns the report."""
        src = source if source == "bundled" else check_folder(source, settings)
        return service.build_index(name or None, src, model or settings.model, factory or None, append)

    @guarded
    def list_indexes() -> list[dict[str, Any]]:
        """Saved indexes: name, model, count, factory, updated, defaults."""
        return service.indexes()

    @guarded
    def evaluate(what: str = "zeroshot", model: str | None = None) -> dict[str, Any]:
        """`zeroshot`, `composed` or `classify`: the same JSON as `python -m mmdemo eval WHAT --json`."""
        return run_evaluation(what, model or settings.model)

    @guarded
    def embed(image: FileData | None = None, text: str | None = None, model: str | None = None) -> dict[str, Any]:
        """The unit embedding of one image or one text: {"model", "dim", "embedding"}."""
        return service.embed(file_path(image), text, model or settings.model)

    for fn in (retrieve, classify, build_index, list_indexes, evaluate, embed):
        gr.api(fn, api_name=fn.__name__, **queues.for_api(fn.__name__))
