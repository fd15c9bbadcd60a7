"""Reduced-size decoding (``data.decode``): the same files indexed and skipped as by the full
decode, embeddings equal within tolerance, JPEG thumbnails, and older indexes' sha1 ids kept."""

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

import odd_files
from mmdemo import encoders, service
from mmdemo.build import Overlap, build, need_of
from mmdemo.data import decode, gallery, images, thumbs
from mmdemo.index import Index

JPEGS = ("photo.jpg", "progressive.jpg", "grey.jpeg", "rotated.jpg", "transposed.jpg", "subsampled-444.jpg",
         "tiny.jpg", "panorama.jpg", "camera.jpg")


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    return odd_files.write(tmp_path_factory.mktemp("odd"))


def test_a_folder_of_every_kind_of_file_builds_as_it_did_before(odd):
    """Same files indexed, same files skipped with the same reasons, as the full-decode build
    recorded in tests/snapshots/odd_folder_build.json."""
    assert odd_files.build_outcome(odd) == json.loads(odd_files.SNAPSHOT.read_text())
    shown = [service.item_view(it)["file"] for it in service.get_index("odd").items]
    assert shown and all(str(p).endswith(".jpg") and Image.open(p).format == "JPEG" for p in shown)
    assert all(max(Image.open(p).size) <= thumbs.SIDE for p in shown)


@pytest.mark.parametrize("name", JPEGS)
def test_reduced_decode_shows_the_same_picture(odd, name):
    """Orientation, colour and framing match the full decode (compared at the reduced size)."""
    data = (odd / name).read_bytes()
    small = decode.reduced(data, name, decode.Need(short=64))
    full = images.decode(data, name, 4096)
    assert abs(small.width / small.height - full.width / full.height) < 0.02
    assert min(small.size) >= min(64, min(full.size)) and max(small.size) >= min(thumbs.SIDE, max(full.size))
    a = np.asarray(small, np.float32)
    b = np.asarray(full.resize(small.size, Image.Resampling.BOX), np.float32)
    assert np.abs(a - b).mean() < 4, f"{name}: the reduced decode differs from the full one"


@pytest.mark.parametrize("spec", ["builtin", "open_clip:ViT-B-32"])
def test_embeddings_match_the_full_decode(odd, spec, tmp_path):
    """cosine ≥ 0.99 to the embedding of the fully decoded file, for every photo-like JPEG and
    for the bundled gallery (whose PNGs take the unchanged path: equal)."""
    enc = encoders.load(spec)  # open_clip:ViT-B-32 without a tag: random weights, no download
    files = [odd / n for n in JPEGS] + [e.file for e in gallery.bundled_entries()[:12]]
    need = need_of(enc)
    reduced = enc.encode_prepared([decode.load(f, enc.prepare_image, need, thumbnail=False)[0] for f in files])
    full = enc.encode_images([images.open_image(f) for f in files])
    cos = (reduced * full).sum(1)
    assert cos.min() >= 0.99, dict(zip((f.name for f in files), cos.round(4)))
    assert np.allclose(cos[len(JPEGS):], 1, atol=1e-5)  # bundled PNGs: the very same pixels


def test_an_older_index_keeps_its_sha1_ids_and_finds_duplicates(builtin, odd, tmp_path):
    """Items hashed with sha1 (indexes built before XXH3): a build joining them hashes with sha1,
    so a file already there is a duplicate and a new one gets a sha1 id; new indexes use XXH3."""
    photo, other = (odd / "photo.jpg"), (odd / "grey.jpeg")
    old = hashlib.sha1(photo.read_bytes()).hexdigest()
    entries = gallery.file_entries([photo, other])
    idx = Index.create("legacy", builtin.spec, builtin.fingerprint, builtin.dim, "Flat")
    report = build(idx, entries, builtin, known={old: 0}, thumb_root=tmp_path)
    assert report.skipped == [(entries[0].path, "duplicate of an image already in the index")]
    assert idx.items[0].sha1 == hashlib.sha1(other.read_bytes()).hexdigest() and idx.items[0].id == idx.items[0].sha1[:16]
    fresh = Index.create("fresh", builtin.spec, builtin.fingerprint, builtin.dim, "Flat")
    build(fresh, entries, builtin, thumb_root=tmp_path)
    assert [it.sha1 for it in fresh.items] == [decode.digest(f.read_bytes()) for f in (photo, other)]
    assert all(len(it.sha1) == 32 for it in fresh.items)


def test_an_older_build_s_png_thumbnail_is_still_served(tmp_path):
    key = "ab" * 20
    legacy = thumbs.path_for(key, tmp_path, ".png")
    Image.new("RGB", (8, 8), "red").save(legacy)
    assert thumbs.existing(key, tmp_path) == legacy
    assert thumbs.save(key, Image.new("RGB", (8, 8), "blue"), tmp_path) == legacy  # not made twice
    assert gallery.display_file("/gone/photo.jpg", key, tmp_path) == legacy


@pytest.mark.skipif(torch.get_num_threads() < 2, reason="needs two torch threads")
def test_concurrent_builds_leave_torch_s_threads_as_they_were():
    """torch's thread count is process-wide: a build that starts while another has lowered it
    must not take the lowered count for the one to restore."""
    threads = torch.get_num_threads()
    first = Overlap(True)
    for _ in range(3):
        first.tick(decode_s=1e9)  # decoding "dominates": batch 3 runs on one thread fewer
    assert torch.get_num_threads() == threads - 1
    second = Overlap(True)
    assert not second.enabled
    first.close()
    second.close()
    assert torch.get_num_threads() == threads
    after = Overlap(True)  # the next build may tune again
    assert after.enabled
    after.close()
