"""Safe image decoding: every path or upload goes through ``open_image``.

Corrupt files, decompression bombs, huge or empty images, odd modes (P, LA, RGBA, CMYK, I;16,
F), EXIF rotation and animated files all end in either an RGB PIL image or a UserError whose
message says what was wrong with which file.
"""

from __future__ import annotations

import io
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mmdemo.errors import UserError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
# The decoders Pillow may use: the formats of EXTENSIONS. Pillow otherwise tries every plugin
# it has (EPS via Ghostscript, PSD, ICO, ...) on any bytes. (Its JPEG decoder also opens
# phones' multi-picture JPEGs, which then report the format MPO.)
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
SUFFIX = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif",
          "GIF": ".gif"}
MAX_PIXELS = 16_000_000  # after JPEG's scaled decode; larger is refused: a bomb or a panorama
# Full-size pixel buffers decoded at once per process: a 16 MP RGBA image and its converted
# copies are ~200 MB, so concurrent uploads queue here instead of multiplying that.
_DECODING = threading.BoundedSemaphore(2)
MAX_BYTES = 50 * 1024 * 1024
WORKING_SIDE = 1024  # decoded images are shrunk to this: models see 64-336 px anyway


def read_bytes(source: str | Path | bytes) -> tuple[bytes, str]:
    """(content, name for messages) of a path or raw bytes, refusing oversize files."""
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), "uploaded image"
    else:
        path = Path(source)
        name = path.name
        if not path.is_file():
            raise UserError(f"{name}: no such file")
        if path.stat().st_size > MAX_BYTES:
            raise UserError(f"{name}: file is larger than {MAX_BYTES // 2**20} MB")
        data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise UserError(f"{name}: file is larger than {MAX_BYTES // 2**20} MB")
    if not data:
        raise UserError(f"{name}: file is empty")
    return data, name


def sniff(data: bytes) -> str | None:
    """The file suffix of the image format the bytes hold, or None when they hold none we read
    (only the header is parsed: cheap enough to vet every member of a zip)."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            return SUFFIX.get(img.format or "")
    except Exception:  # any parser error means "not an image we accept"
        return None


def decode(data: bytes, name: str = "image", max_side: int = WORKING_SIDE) -> Image.Image:
    """Decode bytes to an RGB image (first frame, EXIF-rotated, alpha on white), shrunk towards
    ``max_side`` pixels on its long side (JPEGs are decoded at reduced scale directly)."""
    with _DECODING:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data), formats=FORMATS)
                img.seek(0)
                img.draft("RGB", (max_side // 2, max_side // 2))  # JPEG: DCT-scaled decode, much faster
                if img.width * img.height > MAX_PIXELS:  # checked before any pixel is decoded
                    raise UserError(f"{name}: {img.width}×{img.height} pixels is too large "
                                    f"(limit {MAX_PIXELS // 1_000_000} megapixels)")
                img.load()
        except UserError:
            raise
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UserError(f"{name}: not a readable image ({type(exc).__name__})") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise UserError(f"{name}: not a readable image ({str(exc)[:120] or type(exc).__name__})") from None
        if img.width < 1 or img.height < 1:
            raise UserError(f"{name}: image has no pixels")
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # a broken EXIF block must not lose the picture
            pass
        return to_rgb(img, max_side)


def to_rgb(img: Image.Image, max_side: int = WORKING_SIDE) -> Image.Image:
    """Any PIL mode to RGB; transparency is composited on white, high bit depths rescaled.
    Large images are shrunk first, so the conversions copy small buffers."""
    if max(img.size) > 2 * max_side:  # within 2x, resampling costs more than it saves
        if img.mode in ("1", "P"):  # palette/bilevel resize is nearest-neighbour: expand first
            img = img.convert("RGBA" if "transparency" in img.info else "L" if img.mode == "1" else "RGB")
        img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img, np.float32)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
        img = Image.fromarray(a.astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def open_image(source: str | Path | bytes | Image.Image) -> Image.Image:
    """An RGB PIL image from a path, bytes or a PIL image; UserError when it cannot be one."""
    if isinstance(source, Image.Image):
        return to_rgb(source)
    data, name = read_bytes(source)
    return decode(data, name)


def open_images(files: list[Path]) -> tuple[list[Image.Image], list[Path], list[dict]]:
    """Decode every file: (images, the files they came from, [{"file", "reason"}] for the
    unreadable ones). One bad file is reported, never fatal."""
    decoded, kept, skipped = [], [], []
    for f in files:
        try:
            decoded.append(open_image(f))
            kept.append(f)
        except UserError as exc:
            skipped.append({"file": str(f), "reason": str(exc)})
    return decoded, kept, skipped
