"""Gallery sources: the bundled demo gallery, a folder, or a list of files.

The bundled gallery is generated, not stored: shapes from GALLERY_SEED plus the first rows of
the shipped Fashion-MNIST test sample, rendered once into the cache folder as PNG files (so the
UI can show them and the index can hash them like any other file). A real model's gallery
also has a few real photos (``photos``), after those rows, so the built-in model's is unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmdemo import paths
from mmdemo.data import fashion, photos, shapes, thumbs
from mmdemo.data.images import EXTENSIONS, open_image
from mmdemo.data.vocab import GALLERY_SEED
from mmdemo.errors import UserError

BUNDLED_INDEX = "bundled"
BUNDLED_SHAPES = 480
BUNDLED_GARMENTS = 400  # rows [0, 400) of the shipped sample; evaluation uses the rest
DISPLAY_SIZE = 128


@dataclass(frozen=True)
class Entry:
    file: Path  # where to read it
    path: str  # what the index stores (relative for bundled images)
    caption: str = ""
    label: str = ""
    source: str = "file"


def bundled_dir() -> Path:
    return paths.cache_dir() / "bundled"


def bundled_entries(real_photos: bool = False) -> list[Entry]:
    """The demo gallery (written to the cache on first use; same seed, same images), with the
    real photos after it when asked (for real models)."""
    folder = bundled_dir()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(GALLERY_SEED)
    entries: list[Entry] = []
    for i in range(BUNDLED_SHAPES):
        spec = shapes.sample_spec(rng, heldout="any")
        name = f"shape-{i:04d}.png"
        _write_once(folder / name, lambda: shapes.render(spec, DISPLAY_SIZE))
        entries.append(Entry(folder / name, f"bundled/{name}", f"a {spec.size} {spec.color} {spec.shape}",
                             f"{spec.color} {spec.shape}", "bundled"))
    pixels, labels = fashion.load_sample()
    for i in range(BUNDLED_GARMENTS):
        spec = fashion.sample_spec(rng, i, labels[i], heldout="any")
        name = f"garment-{i:04d}.png"
        _write_once(folder / name, lambda: fashion.render(spec, pixels[i], DISPLAY_SIZE))
        entries.append(Entry(folder / name, f"bundled/{name}", f"a {spec.color} {spec.garment}",
                             f"{spec.color} {spec.garment}", "bundled"))
    for photo in photos.PHOTOS if real_photos else ():
        name = f"photo-{photo.name}.jpg"
        _write_once(folder / name, lambda: photos.load(photo), quality=90)
        entries.append(Entry(folder / name, f"bundled/{name}", photo.caption, photo.label, "bundled"))
    return entries


def _write_once(path: Path, render, **options) -> None:
    if not path.exists():
        tmp = path.with_suffix(".tmp" + path.suffix)
        render().save(tmp, **options)
        os.replace(tmp, path)


def resolve(path: str) -> Path:
    """The file behind an item's stored path."""
    if path.startswith("bundled/"):
        return bundled_dir() / path.removeprefix("bundled/")
    return Path(path)


def display_file(path: str, sha1: str, thumb_root: Path | None = None) -> Path | None:
    """What a result shows: the bundled image itself, else the build's thumbnail; an index
    made before thumbnails existed gets one now from its (admin-chosen) source file."""
    if path.startswith("bundled/"):
        return resolve(path)
    thumb = thumbs.existing(sha1, thumb_root)
    if thumb is not None or thumb_root is not None:
        return thumb
    try:
        return thumbs.save(sha1, open_image(resolve(path)))
    except (UserError, OSError):
        return None


def folder_entries(folder: str | Path) -> list[Entry]:
    """Every file under ``folder`` (recursive, sorted). Non-images are kept so the build
    report can list them as skipped rather than silently ignoring them."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserError(f"{folder}: not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [Entry(p, str(p.resolve()), label=p.parent.name if p.parent != root else "") for p in files]


def file_entries(files: list[str | Path], source: str = "file") -> list[Entry]:
    return [Entry(Path(f), str(Path(f).resolve()), source=source) for f in files]


def entries_for(source: str, real_photos: bool = False) -> list[Entry]:
    """``bundled`` (with the real photos if asked), a folder path, or a file listing image
    paths one a line (the CLI's file list)."""
    if source == BUNDLED_INDEX:
        return bundled_entries(real_photos)
    listing = Path(source).expanduser()
    if listing.is_file():
        return file_entries([line.strip() for line in listing.read_text().splitlines() if line.strip()])
    return folder_entries(source)


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in EXTENSIONS
