"""One folder of every kind of file an index build meets: photo-like JPEGs in each JPEG variant
(progressive, CMYK, greyscale, EXIF-rotated, truncated, a bomb's header), the other formats, and
the hostile ones (not an image, empty, an HTML page named .jpg, a duplicate).

``tests/snapshots/odd_folder_build.json`` is what the build made of this folder before JPEGs
were decoded at reduced size (regenerate it only on purpose: ``python tests/odd_files.py``).
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SNAPSHOT = Path(__file__).with_name("snapshots") / "odd_folder_build.json"


def photo(w: int, h: int, seed: int) -> Image.Image:
    """Smooth colour fields with some texture: what a camera JPEG holds, at any size."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    noise = rng.integers(-12, 12, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(base, np.int16) + noise, 0, 255).astype(np.uint8))


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, **kw)
    return buf.getvalue()


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _sof_claims(data: bytes, w: int, h: int) -> bytes:
    """The JPEG with its frame header saying ``w``×``h`` (a bomb: the pixels are not there)."""
    at = data.index(b"\xff\xc0") + 5
    return data[:at] + h.to_bytes(2, "big") + w.to_bytes(2, "big") + data[at + 4:]


def files() -> dict[str, bytes]:
    rotated = Image.Exif()
    rotated[0x0112] = 6
    mirrored = Image.Exif()
    mirrored[0x0112] = 5
    big = photo(1024, 768, 1)
    frames = [photo(64, 48, 7), photo(64, 48, 8)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    sixteen = Image.fromarray((np.asarray(photo(120, 90, 9).convert("L"), np.uint16) * 257))
    return {
        "photo.jpg": _jpeg(big),
        "progressive.jpg": _jpeg(photo(1024, 768, 2), progressive=True),
        "cmyk.jpg": _jpeg(photo(800, 600, 3).convert("CMYK")),
        "grey.jpeg": _jpeg(photo(640, 480, 4).convert("L")),
        "rotated.jpg": _jpeg(photo(1024, 768, 5), exif=rotated),
        "transposed.jpg": _jpeg(photo(600, 800, 6), exif=mirrored),
        "subsampled-444.jpg": _jpeg(photo(500, 375, 10), subsampling=0),
        "tiny.jpg": _jpeg(photo(12, 9, 11)),
        "panorama.jpg": _jpeg(photo(4000, 120, 12)),
        "camera.jpg": _jpeg(photo(4032, 3024, 13)),
        "truncated.jpg": _jpeg(photo(1024, 768, 14))[:20_000],
        "bomb.jpg": _sof_claims(_jpeg(photo(64, 64, 15)), 60_000, 60_000),
        "big-claim.jpg": _sof_claims(_jpeg(photo(64, 64, 16)), 12_000, 9_000),
        "duplicate.jpg": _jpeg(big),
        "alpha.png": _save(photo(300, 200, 17).convert("RGBA"), "PNG"),
        "sixteen.png": _save(sixteen, "PNG"),
        "sixteen.tif": _save(sixteen, "TIFF"),
        "photo.webp": _save(photo(400, 300, 18), "WEBP", quality=80),
        "animated.gif": gif.getvalue(),
        "photo.tiff": _save(photo(300, 200, 19), "TIFF"),
        "photo.bmp": _save(photo(200, 150, 20), "BMP"),
        "page.jpg": b"<html><script>alert(1)</script></html>",
        "empty.jpg": b"",
        "notes.txt": b"not an image",
        "garbage.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
    }


def write(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files().items():
        (folder / name).write_bytes(data)
    return folder


def outcome(report: dict, items: list) -> dict:
    """What a build made of the folder: each indexed file with its item id, each skipped one
    with its reason (names only: the folder is a temporary one)."""
    return {"indexed": sorted(Path(it.path).name for it in items),
            "skipped": {Path(s["file"]).name: s["reason"] for s in report["skipped"]}}


def build_outcome(folder: Path) -> dict:
    from mmdemo import building, service

    report = building.build_index("odd", str(folder))
    return outcome(report, service.get_index("odd").items)


if __name__ == "__main__":  # python tests/odd_files.py: record today's outcome
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["MMDEMO_INDEX_DIR"] = str(Path(tmp) / "indexes")
        os.environ["MMDEMO_CACHE_DIR"] = str(Path(tmp) / "cache")
        got = build_outcome(write(Path(tmp) / "odd"))
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    json.dump(got, sys.stdout, indent=1)
