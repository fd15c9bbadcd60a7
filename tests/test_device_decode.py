"""The device build path (``data.device_decode`` through ``build.device_batches``), run here
with ``device="cpu"``: the same functions a GPU runs, the same files indexed and skipped with
the same reasons as the CPU path, embeddings and thumbnails equal within tolerance."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

import odd_files
from mmdemo import encoders
from mmdemo.build import build
from mmdemo.data import device_decode, gallery, thumbs
from mmdemo.index import Index

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def entries(tmp_path_factory):
    folder = odd_files.write(tmp_path_factory.mktemp("odd-device"))
    return gallery.folder_entries(folder) + gallery.bundled_entries()[:24]


def _build(enc, entries, on_device: bool, cache: Path, monkeypatch):
    monkeypatch.setenv("MMDEMO_CACHE_DIR", str(cache))
    idx = Index.create("device", enc.spec, enc.fingerprint, enc.dim, "Flat")
    report = build(idx, entries, enc, batch_size=16, on_device=on_device)
    return report, idx


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation):
    ex = Image.Exif()
    ex[0x0112] = orientation
    buf = io.BytesIO()
    odd_files.photo(320, 200, orientation).save(buf, "JPEG", quality=95, exif=ex)
    data = buf.getvalue()
    got = device_decode.decode_all([device_decode.jpeg(data)], CPU)[0].permute(1, 2, 0).numpy()
    want = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data)).convert("RGB")))
    assert got.shape == want.shape and np.array_equal(got, want)


@pytest.mark.parametrize("spec", ["builtin", "open_clip:ViT-B-32"])
def test_device_build_indexes_and_skips_what_the_cpu_build_does(spec, entries, tmp_path, monkeypatch):
    """Same ids, same skip reasons; cosine ≥ 0.99 per item; the JPEGs really went through the
    batched device decode."""
    enc = encoders.load(spec)
    seen = []
    decode_all = device_decode.decode_all
    monkeypatch.setattr(device_decode, "decode_all", lambda files, dev: seen.extend(files) or decode_all(files, dev))
    cpu_report, cpu_idx = _build(enc, entries, False, tmp_path / "cpu", monkeypatch)
    assert not seen
    dev_report, dev_idx = _build(enc, entries, True, tmp_path / "dev", monkeypatch)
    assert dev_report.skipped == cpu_report.skipped and dev_report.added == cpu_report.added
    assert len(seen) >= 9  # photo, progressive, grey, rotated, transposed, camera, panorama, ...
    rows = {it.id: i for i, it in enumerate(dev_idx.items)}
    assert set(rows) == {it.id for it in cpu_idx.items}
    cos = {it.path: float(cpu_idx.embeddings[i].astype(np.float32) @ dev_idx.embeddings[rows[it.id]].astype(np.float32))
           for i, it in enumerate(cpu_idx.items)}
    assert min(cos.values()) >= 0.99, cos


def test_a_file_the_device_decoder_refuses_is_prepared_on_the_cpu(entries, builtin, tmp_path, monkeypatch):
    """nvJPEG refuses some files libjpeg takes (the batched call then fails whole): the batch is
    retried file by file, and the refused file is indexed from the CPU's decode."""
    refused = (next(e for e in entries if e.file.name == "progressive.jpg").file).read_bytes()
    real = device_decode.decode_jpeg

    def picky(data, **kw):
        batch = data if isinstance(data, list) else [data]
        if any(t.numel() == len(refused) and bytes(t.numpy()) == refused for t in batch):
            raise RuntimeError("nvjpeg: unsupported")
        return real(data, **kw)

    files = [e for e in entries if e.file.suffix in (".jpg", ".jpeg")]
    cpu_report, cpu_idx = _build(builtin, files, False, tmp_path / "cpu", monkeypatch)
    monkeypatch.setattr(device_decode, "decode_jpeg", picky)
    assert device_decode.decode_all([device_decode.jpeg(refused)], CPU) == [None]
    dev_report, dev_idx = _build(builtin, files, True, tmp_path / "dev", monkeypatch)
    assert dev_report.skipped == cpu_report.skipped
    assert [it.id for it in dev_idx.items] == [it.id for it in cpu_idx.items]
    assert np.allclose(dev_idx.embeddings[[it.path.endswith("progressive.jpg") for it in dev_idx.items]],
                       cpu_idx.embeddings[[it.path.endswith("progressive.jpg") for it in cpu_idx.items]], atol=1e-3)


def test_device_thumbnails_look_like_the_cpu_ones(entries, builtin, tmp_path, monkeypatch):
    files = [e for e in entries if e.file.name in ("photo.jpg", "rotated.jpg", "panorama.jpg", "camera.jpg")]
    for name in ("cpu", "dev"):
        _build(builtin, files, name == "dev", tmp_path / name, monkeypatch)
    made = {name: sorted((tmp_path / name / "thumbs").rglob("*.jpg")) for name in ("cpu", "dev")}
    assert [p.name for p in made["cpu"]] == [p.name for p in made["dev"]] and len(made["cpu"]) == 4
    for a, b in zip(made["cpu"], made["dev"]):
        ia, ib = Image.open(a), Image.open(b)
        assert ib.format == "JPEG" and max(ib.size) <= thumbs.SIDE
        assert abs(ia.size[0] - ib.size[0]) <= 1 and abs(ia.size[1] - ib.size[1]) <= 1
        diff = np.abs(np.asarray(ia.resize(ib.size), np.float32) - np.asarray(ib, np.float32)).mean()
        assert diff < 6, f"{a.name}: device thumbnail differs from the CPU one by {diff:.1f}"


def test_a_batch_split_by_the_pixel_budget_decodes_the_same(entries, monkeypatch):
    files = [device_decode.jpeg(e.file.read_bytes()) for e in entries if e.file.name in
             ("photo.jpg", "grey.jpeg", "rotated.jpg", "camera.jpg", "panorama.jpg")]
    whole = device_decode.decode_all(files, CPU)
    monkeypatch.setattr(device_decode, "PIXEL_BUDGET", 1_000_000)
    assert len(device_decode._by_pixels(files)) >= 3
    split = device_decode.decode_all(files, CPU)
    assert all(torch.equal(a, b) for a, b in zip(whole, split))


def test_files_the_device_path_leaves_to_the_cpu(entries):
    """Truncated, CMYK, non-JPEG and bomb-sized files are never handed to the device decoder."""
    by_name = {e.file.name: e.file.read_bytes() for e in entries}
    for name in ("truncated.jpg", "cmyk.jpg", "bomb.jpg", "big-claim.jpg", "photo.webp", "page.jpg", "alpha.png"):
        assert device_decode.jpeg(by_name[name]) is None, name
    assert device_decode.jpeg(by_name["photo.jpg"]) is not None


def test_staging_hands_rows_over_unchanged():
    rows = [np.full((4, 4, 3), v, np.uint8) for v in (0, 7, 255)]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    staging = device_decode.Staging(torch.device(dev))
    for _ in range(2):  # the second call reuses the buffer
        out = staging.to_device(rows)
        assert all(np.array_equal(o.cpu().numpy(), r) for o, r in zip(out, rows))
