"""Encoders: one interface over builtin, open_clip, transformers and sentence-transformers CLIP."""

from mmdemo.encoders.base import BACKENDS, Encoder, ModelSpec, parse_spec
from mmdemo.encoders.registry import load

__all__ = ["BACKENDS", "Encoder", "ModelSpec", "load", "parse_spec"]
