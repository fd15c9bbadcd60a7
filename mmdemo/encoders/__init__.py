"""Encoders: one interface over builtin, open_clip, transformers and sentence-transformers CLIP."""

from mmdemo.encoders.base import BACKENDS, Encoder, ModelSpec, load, parse_spec

__all__ = ["BACKENDS", "Encoder", "ModelSpec", "load", "parse_spec"]
