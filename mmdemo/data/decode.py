"""What an index build does to one file: read it once, hash it, decode only the pixels needed.

A camera JPEG holds 10-50× the pixels a model (64-336 px) and a thumbnail (256 px) use, and a
full decode was most of a build's time. JPEGs are decoded in the DCT domain at the smallest
1/8-step scale that still covers both (libjpeg-turbo through simplejpeg), then resized once
for each use. Anything simplejpeg does not take as it is (CMYK, other formats, damaged or
oversized files) goes through ``images.decode`` unchanged, so every file is indexed or skipped
with the same reason as before. The in-process, Ray and GPU paths all call ``load``.

Content hashes are XXH3-128 over the bytes already read, at memory speed (the ``hash``
stage of ``bench/build_throughput.py``: under 0.01 ms a photo). Items
of older indexes carry a sha1 (40 hex digits, XXH3-128 has 32): a build joining such an
index hashes with sha1 too, so duplicates are still found and old ids stay as they are.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection

import simplejpeg
import xxhash
from PIL import Image

from mmdemo.data import thumbs
from mmdemo.data.images import MAX_PIXELS, decode, read_bytes
from mmdemo.errors import UserError

SHA1_HEX = 40  # digits of a sha1 digest: how an older index's item hashes are told apart
ORIENTATION = 0x0112  # EXIF tag; values 2-8 as ImageOps.exif_transpose reads them
TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
             4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
             6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
FULL_SIDE = 448  # the non-JPEG path's working size (images.decode shrinks towards it)
# The model's resize starts from a box-reduced copy at least this many times its input (as
# Pillow's ``reducing_gap``): the built-in model's preprocessing takes about half the time,
# and embeddings stay within the full decode's (tests/test_decode.py: cosine ≥ 0.99).
REDUCING_GAP = 1.5


def digest(data: bytes, sha1: bool = False) -> str:
    """The content hash an item is known by: XXH3-128, or sha1 for an older index's items."""
    return hashlib.sha1(data).hexdigest() if sha1 else xxhash.xxh3_128_hexdigest(data)


def uses_sha1(known: Collection[str]) -> bool:
    """Whether the hashes a build must not duplicate are an older index's sha1 digests."""
    return len(next(iter(known), "")) == SHA1_HEX  # one index never mixes the two


@dataclass(frozen=True)
class Need:
    """The decoded image must be at least ``short`` px on its short side (the model's input)
    and ``long`` on its long side (the thumbnail)."""

    short: int = 224
    long: int = thumbs.SIDE


def jpeg_header(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, EXIF orientation) of a baseline RGB or greyscale JPEG this path takes,
    or None to leave the file to ``images.decode`` (and its errors)."""
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # as images.decode
            with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:  # the header alone
                if img.mode not in ("RGB", "L"):
                    return None
                return img.width, img.height, int(img.getexif().get(ORIENTATION, 1) or 1)
    except Exception:  # whatever it is, images.decode says it the way it always has
        return None


def reduced(data: bytes, name: str, need: Need) -> Image.Image:
    """An RGB image (EXIF-rotated, alpha on white) at least ``need`` large, decoded at the
    smallest JPEG scale that covers it; UserError as ``images.decode`` raises it."""
    header = jpeg_header(data)
    if header is not None:
        w, h, orientation = header
        # Rotation on display keeps the short side short: the stored sides are what count.
        min_w, min_h = (need.long, need.short) if w >= h else (need.short, need.long)
        try:
            pixels = simplejpeg.decode_jpeg(data, "RGB", min_height=min(min_h, h), min_width=min(min_w, w),
                                            strict=True)
        except ValueError:  # damaged (truncated, bad markers): images.decode tries leniently
            pixels = None
        if pixels is not None and pixels.shape[0] * pixels.shape[1] <= MAX_PIXELS:
            img = Image.fromarray(pixels)
            return img.transpose(TRANSPOSE[orientation]) if orientation in TRANSPOSE else img
    return decode(data, name, FULL_SIDE)


def load(file: Path, prepare: Callable[[Image.Image], Any], need: Need, sha1: bool = False,
         thumb_root: Path | None = None, thumbnail: bool = True) -> tuple[Any, str]:
    """(the model's prepared input, content hash) of one file; its thumbnail written from the
    reduced image unless ``thumbnail`` is False (the bundled gallery serves its own files)."""
    data, name = read_bytes(file)
    return from_bytes(data, name, digest(data, sha1), prepare, need, thumb_root, thumbnail)


def from_bytes(data: bytes, name: str, key: str, prepare: Callable[[Image.Image], Any], need: Need,
               thumb_root: Path | None = None, thumbnail: bool = True) -> tuple[Any, str]:
    """``load`` of bytes already read and hashed (the device path hands over what it refuses)."""
    image = reduced(data, name, need)
    if thumbnail:
        thumbs.save(key, image, thumb_root)
    return model_input(image, prepare, need), key


def guarded(load: Callable[[], tuple[Any, str]]) -> tuple[Any, str | None, str | None]:
    """(prepared, key, None) from ``load()``, or (None, None, why the file is skipped): a
    UserError or a preprocessing bug on one odd file is its reason, never the build's end."""
    try:
        return (*load(), None)
    except UserError as exc:
        return None, None, str(exc)
    except Exception as exc:
        return None, None, f"could not prepare image: {type(exc).__name__}: {exc}"


def model_input(image: Image.Image, prepare: Callable[[Image.Image], Any], need: Need) -> Any:
    """``prepare(image)`` from a box-reduced copy when the image is ≥ 2× ``REDUCING_GAP``
    times the model's input."""
    factor = int(min(image.size) / (REDUCING_GAP * need.short))
    return prepare(image.reduce(factor) if factor >= 2 else image)
