"""open_clip models, and the built-in model, which is an open_clip config plus a weights file.

The built-in model goes through exactly the code path of ``open_clip:ARCH@PATH``: its config is
registered with ``open_clip.add_model_config`` and its weights load as a local file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from mmdemo.encoders import pixels
from mmdemo.encoders.base import BUILTIN_ARCH, Encoder, ModelSpec
from mmdemo.errors import UserError

BUILTIN_DIR = Path(__file__).with_name("builtin")
BUILTIN_WEIGHTS = BUILTIN_DIR / "mmdemo-builtin.safetensors"
log = logging.getLogger(__name__)


class OpenClipEncoder(Encoder):
    """``transform`` is open_clip's own preprocessing; images are prepared with its uint8 split
    (``pixels``) when it is the standard one, normalised per batch on the model's device."""

    def __init__(self, spec: str, model: torch.nn.Module, preprocess: Any, tokenizer: Any):
        self.tokenizer = tokenizer
        self.transform, self.pixels = preprocess, pixels.from_transform(preprocess)
        side = model.visual.image_size
        super().__init__(spec, model, self.pixels or preprocess, logit_scale=model.logit_scale.exp().item(),
                         image_size=max(side) if isinstance(side, (tuple, list)) else side)

    def _forward_images(self, batch: list[Any]) -> torch.Tensor:
        x = self.pixels.batch(batch, self.device) if self.pixels else torch.stack(batch).to(self.device)
        return self.module.encode_image(x)

    def _forward_texts(self, texts: list[str]) -> torch.Tensor:
        return self.module.encode_text(self.tokenizer(texts).to(self.device))


def register_builtin() -> None:
    """Make ``mmdemo-builtin`` an open_clip architecture (idempotent)."""
    import open_clip

    if BUILTIN_ARCH not in open_clip.list_models():
        open_clip.add_model_config(BUILTIN_DIR / f"{BUILTIN_ARCH}.json")


def create(arch: str, pretrained: str | None, **image_cfg: Any) -> tuple[torch.nn.Module, Any, Any]:
    """(model, preprocess, tokenizer) through open_clip's public factory."""
    import open_clip

    register_builtin()
    if arch not in open_clip.list_models() and not arch.startswith(("hf-hub:", "local-dir:")):
        raise UserError(f"unknown open_clip architecture {arch!r}; known ones include "
                        f"{', '.join(open_clip.list_models()[:6])}, … (open_clip.list_models())")
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained, **image_cfg)
    return model, preprocess, open_clip.get_tokenizer(arch)


def tag_preprocessing(arch: str, tag: str) -> dict[str, Any]:
    """The image preprocessing a pretrained tag sets (open_clip applies it when it downloads
    the tag; a cached file loaded by path gets it from here)."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag) or {}
    return {"image_mean": cfg.get("mean"), "image_std": cfg.get("std"),
            "image_interpolation": cfg.get("interpolation"), "image_resize_mode": cfg.get("resize_mode")}


def load(spec: ModelSpec, cached: Path | None = None) -> Encoder:
    """``cached``: the tag's weights file, or an ``hf-hub:`` repo's snapshot, from the hub cache."""
    if spec.path is not None and not Path(spec.path).is_file():
        raise UserError(f"cannot load model {spec.text!r}: weights file {spec.path!r} not found")
    if spec.tag is None and spec.path is None and not spec.name.startswith(("hf-hub:", "local-dir:")):
        log.warning("%s has no weights tag or file: using RANDOM weights (fine for speed tests)",
                    spec.text)
    if cached is not None and spec.tag:
        model, preprocess, tokenizer = create(spec.name, str(cached), **tag_preprocessing(spec.name, spec.tag))
    elif cached is not None:  # open_clip's own offline form of a hub repo
        model, preprocess, tokenizer = create(f"local-dir:{cached}", None)
    else:
        model, preprocess, tokenizer = create(spec.name, spec.tag or spec.path)
    return OpenClipEncoder(spec.text, model, preprocess, tokenizer)


def load_builtin(spec: ModelSpec, cached: Path | None = None) -> Encoder:
    if not BUILTIN_WEIGHTS.is_file():
        raise UserError(f"built-in weights {BUILTIN_WEIGHTS} missing: run "
                        "`python -m mmdemo train-builtin` to make them")
    model, preprocess, tokenizer = create(BUILTIN_ARCH, str(BUILTIN_WEIGHTS))
    return OpenClipEncoder("builtin", model, preprocess, tokenizer)
