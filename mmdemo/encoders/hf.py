"""transformers ``CLIPModel`` + ``CLIPProcessor`` from a hub repo or a local directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from mmdemo.encoders.base import Encoder, ModelSpec


class ImagePrep:
    """Picklable per-image preprocessing (runs in DataLoader workers)."""

    def __init__(self, image_processor: Any):
        self.image_processor = image_processor

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.image_processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]


def _features(out: Any) -> torch.Tensor:
    """transformers 5 returns a model output whose pooler_output is projected; 4.x a tensor."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class HFClipEncoder(Encoder):
    def __init__(self, spec: str, model: Any, processor: Any):
        self.tokenizer = processor.tokenizer
        self.max_length = int(model.config.text_config.max_position_embeddings)
        super().__init__(spec, model, ImagePrep(processor.image_processor),
                         logit_scale=model.logit_scale.exp().item(), image_size=model.config.vision_config.image_size)

    def _forward_images(self, batch: list[torch.Tensor]) -> torch.Tensor:
        return _features(self.module.get_image_features(pixel_values=torch.stack(batch).to(self.device)))

    def _forward_texts(self, texts: list[str]) -> torch.Tensor:
        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt").to(self.device)
        return _features(self.module.get_text_features(input_ids=tok["input_ids"],
                                                       attention_mask=tok["attention_mask"]))


def load(spec: ModelSpec, cached: Path | None = None) -> Encoder:
    """``cached``: the repo's snapshot is in the hub cache, so no file is asked of the hub."""
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(spec.name, local_files_only=cached is not None)
    processor = CLIPProcessor.from_pretrained(spec.name, local_files_only=cached is not None)
    return HFClipEncoder(spec.text, model, processor)
