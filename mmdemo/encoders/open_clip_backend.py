"""open_clip models, and the built-in model, which is an open_clip config plus a weights file.

The built-in model goes through exactly the code path of ``open_clip:ARCH@PATH``: its config is
registered with ``open_clip.add_model_config`` and its weights load as a local file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from mmdemo.encoders import compact_tokens, pixels
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


def bpe_tokenizer() -> Any:
    """open_clip's plain BPE tokenizer (the one whose ids the compact table keeps)."""
    import open_clip

    return open_clip.get_tokenizer("ViT-B-32")


def create(arch: str, pretrained: str | None, kept: list[int] | None = None,
           **image_cfg: Any) -> tuple[torch.nn.Module, Any, Any]:
    """(model, preprocess, tokenizer) through open_clip's public factory. The built-in model
    reads text through its compact token table, whose kept ids come from the weights file
    (or from ``kept``, for a model about to be trained)."""
    import open_clip

    register_builtin()
    if arch not in open_clip.list_models() and not arch.startswith(("hf-hub:", "local-dir:")):
        raise UserError(f"unknown open_clip architecture {arch!r}; known ones include "
                        f"{', '.join(open_clip.list_models()[:6])}, … (open_clip.list_models())")
    if arch != BUILTIN_ARCH:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained, **image_cfg)
        return model, preprocess, open_clip.get_tokenizer(arch)
    kept = kept if kept is not None else compact_tokens.read_kept(pretrained) if pretrained else None
    if kept is None:
        raise UserError(f"{pretrained or 'no weights file'}: the built-in architecture needs a weights file "
                        f"saved with its compact token table (key {compact_tokens.METADATA_KEY!r} in the "
                        "safetensors metadata); convert one with `mmdemo train-builtin --init OLD_FILE --steps 0 "
                        "--out NEW_FILE`")
    text_cfg = {**open_clip.get_model_config(arch)["text_cfg"], "vocab_size": compact_tokens.table_size(kept)}
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained, text_cfg=text_cfg,
                                                                 **image_cfg)
    return model, preprocess, compact_tokens.CompactTokenizer(open_clip.get_tokenizer(arch), kept)


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
