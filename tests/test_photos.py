"""The bundled gallery: unchanged for the built-in model, with real photos for real models."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from mmdemo.data import gallery, photos


def test_real_photos_follow_the_generated_rows_only_when_asked():
    plain, real = gallery.bundled_entries(), gallery.bundled_entries(real_photos=True)
    assert len(plain) == gallery.BUNDLED_SHAPES + gallery.BUNDLED_GARMENTS
    assert real[:len(plain)] == plain and len(real) == len(plain) + len(photos.PHOTOS)
    assert not any("photo-" in e.path for e in plain)
    cat = next(e for e in real if e.label == "cat")
    assert cat.path == "bundled/photo-cat.jpg" and "cat" in cat.caption
    with Image.open(cat.file) as im:
        assert im.format == "JPEG" and max(im.size) == photos.SIDE and im.mode == "RGB"


def test_photos_are_the_same_bytes_every_time():
    """Index rows hash the files: a fresh cache must render exactly what an old one holds."""
    for entry, photo in zip(gallery.bundled_entries(True)[-len(photos.PHOTOS):], photos.PHOTOS):
        fresh = io.BytesIO()
        photos.load(photo).save(fresh, format="JPEG", quality=90)
        assert hashlib.sha1(fresh.getvalue()).digest() == hashlib.sha1(entry.file.read_bytes()).digest()


def test_every_photo_names_its_licence():
    for p in photos.PHOTOS:
        assert p.credit and any(word in p.credit for word in ("CC0", "CC BY", "public domain", "no known copyright"))
