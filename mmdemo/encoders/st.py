"""sentence-transformers CLIP models (hub name or a directory saved with ``.save``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from mmdemo.encoders.base import Encoder, ModelSpec


def to_rgb(image: Image.Image) -> Image.Image:
    """sentence-transformers preprocesses inside ``encode``; workers only decode."""
    return image.convert("RGB")


class STClipEncoder(Encoder):
    def __init__(self, spec: str, model: Any):
        vision = getattr(getattr(getattr(model[0], "model", None), "config", None), "vision_config", None)
        super().__init__(spec, model, to_rgb, image_size=getattr(vision, "image_size", 224))

    def _encode(self, items: list[Any]) -> torch.Tensor:
        return self.module.encode(items, batch_size=len(items), convert_to_tensor=True,
                                  show_progress_bar=False)

    def _forward_images(self, batch: list[Image.Image]) -> torch.Tensor:
        return self._encode(batch)

    def _forward_texts(self, texts: list[str]) -> torch.Tensor:
        return self._encode(texts)


def load(spec: ModelSpec, cached: Path | None = None) -> Encoder:
    """``cached``: the repo's snapshot is in the hub cache, so no file is asked of the hub."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(spec.name, device=None, local_files_only=cached is not None)
    # Hub CLIP configs often leave max_seq_length unset: long texts would overflow the
    # position table instead of being truncated.
    config = getattr(getattr(model[0], "model", None), "config", None)
    limit = getattr(getattr(config, "text_config", None), "max_position_embeddings", None)
    if limit and (model.max_seq_length is None or model.max_seq_length > limit):
        model.max_seq_length = int(limit)
    return STClipEncoder(spec.text, model)
