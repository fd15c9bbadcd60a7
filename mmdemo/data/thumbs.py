"""Thumbnails of indexed images, made at build time: what results show and the server serves.

Answers never point at the user's original files: a build writes a re-encoded PNG (pixels
only, so an uploaded HTML or SVG member can never be served as a page) under a content
address, and ``allowed_paths`` holds this folder and the bundled gallery alone.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from PIL import Image

from mmdemo import paths

SIDE = 256


def folder() -> Path:
    return paths.cache_dir() / "thumbs"


def path_for(sha1: str, root: Path | None = None) -> Path:
    """Shared thumbnails fan out by hash prefix; a private gallery's ``root`` is flat."""
    return root / f"{sha1[:32]}.png" if root is not None else folder() / sha1[:2] / f"{sha1[:32]}.png"


def png_bytes(image: Image.Image, side: int = SIDE) -> bytes:
    """Fastest zlib level: at the default (6) the thumbnail cost more than decoding and
    encoding together in a built-in-model build of photos; level 1 writes ~12 % more bytes
    (``bench/build_throughput.py --photos``)."""
    small = image.copy()
    small.thumbnail((side, side), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    small.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def save(sha1: str, image: Image.Image, root: Path | None = None) -> Path:
    """Write the thumbnail once (atomically: readers never see half a file)."""
    target = path_for(sha1, root)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".thumb.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(png_bytes(image))
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
