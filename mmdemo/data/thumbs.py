"""Thumbnails of indexed images, made at build time: what results show and the server serves.

Answers never point at the user's original files: a build writes a re-encoded JPEG (pixels
only, so an uploaded HTML or SVG member can never be served as a page) under a content
address, and ``allowed_paths`` holds this folder and the bundled gallery alone. Indexes built
before JPEG thumbnails keep their PNGs (same address, ``.png``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image

from mmdemo import paths

SIDE = 256
QUALITY = 85  # 256 px thumbnails: artefacts are not visible at this quality, ~15 kB each
SUFFIXES = (".jpg", ".png")  # what builds write, then what older builds wrote


def folder() -> Path:
    return paths.cache_dir() / "thumbs"


def path_for(key: str, root: Path | None = None, suffix: str = SUFFIXES[0]) -> Path:
    """Shared thumbnails fan out by hash prefix; a private gallery's ``root`` is flat."""
    return root / f"{key[:32]}{suffix}" if root is not None else folder() / key[:2] / f"{key[:32]}{suffix}"


def existing(key: str, root: Path | None = None) -> Path | None:
    """The thumbnail a build made for this content hash (JPEG, or an older build's PNG)."""
    for suffix in SUFFIXES:
        if (p := path_for(key, root, suffix)).exists():
            return p
    return None


def jpeg_bytes(image: Image.Image, side: int = SIDE) -> bytes:
    """A JPEG at most ``side`` px, from a build's reduced image: the PNG this replaced (zlib
    level 1) was the largest stage of a photo build (``bench/build_throughput.py --photos``
    prints both as ``thumbnail`` and ``before_thumbnail_png_ms``)."""
    if max(image.size) > side:
        image = image.copy()
        image.thumbnail((side, side), Image.Resampling.BICUBIC)
    return simplejpeg.encode_jpeg(np.ascontiguousarray(image.convert("RGB")), QUALITY, "RGB", "420")


def save(key: str, image: Image.Image, root: Path | None = None) -> Path:
    """Write the thumbnail once (atomically: readers never see half a file)."""
    if (target := existing(key, root)) is not None:
        return target
    return save_bytes(key, jpeg_bytes(image), root)


def save_bytes(key: str, jpeg: bytes, root: Path | None = None) -> Path:
    """Write an already encoded JPEG thumbnail (the device path encodes a batch at once)."""
    if (target := existing(key, root)) is not None:
        return target
    target = path_for(key, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".thumb.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(jpeg)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
