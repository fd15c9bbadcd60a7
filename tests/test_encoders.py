"""Each backend's real loading code, on small random models saved through the library's own
save API and loaded back through the spec a user would type."""

import numpy as np
import torch
import pytest
from PIL import Image

import tiny_models
from mmdemo import encoders
from mmdemo.encoders.base import parse_spec
from mmdemo.errors import UserError

IMAGES = [Image.new("RGB", (40 + 3 * i, 50), (20 * i, 90, 200 - 10 * i)) for i in range(5)]
TEXTS = ["a red circle", "make it blue", "", "x" * 5000, "ünïcødé 🙂 text"]


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {
        "open_clip": [f"open_clip:{tiny_models.TINY_ARCH}@{tiny_models.open_clip_weights(d, s)}" for s in (0, 1)],
        "hf": [f"hf:{tiny_models.hf_clip_dir(d / f'hf{s}', s)}" for s in (0, 1)],
        "st": [f"st:{tiny_models.st_clip_dir(d / f'st{s}', s)}" for s in (0, 1)],
    }


@pytest.mark.parametrize("backend", ["builtin", "open_clip", "hf", "st"])
def test_backend_contract(backend, specs):
    spec = "builtin" if backend == "builtin" else specs[backend][0]
    enc = encoders.load(spec)
    assert encoders.load(spec) is enc  # loaded once per process
    img = enc.encode_images(IMAGES, batch_size=2)
    txt = enc.encode_texts(TEXTS)
    assert img.shape == (5, enc.dim) and txt.shape == (5, enc.dim)
    assert img.dtype == np.float32 and txt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1, atol=1e-5)
    # deterministic, and a batch gives what single calls give
    np.testing.assert_allclose(enc.encode_images(IMAGES[:1])[0], img[0], atol=1e-5)
    np.testing.assert_allclose(enc.encode_texts(TEXTS[1:2])[0], txt[1], atol=1e-5)
    np.testing.assert_allclose(enc.encode_images(IMAGES, batch_size=5), img, atol=1e-5)
    assert enc.logit_scale > 0 and len(enc.fingerprint) == 24


@pytest.mark.parametrize("backend", ["open_clip", "hf", "st"])
def test_fingerprint_differs_between_weight_files(backend, specs):
    a, b = (encoders.load(s) for s in specs[backend])
    assert a.fingerprint != b.fingerprint
    assert not np.allclose(a.encode_texts(["a"]), b.encode_texts(["a"]))


def test_builtin_is_the_open_clip_path_with_the_shipped_weights():
    from mmdemo.encoders import open_clip_backend as ocb

    same = encoders.load(f"open_clip:{ocb.BUILTIN_ARCH}@{ocb.BUILTIN_WEIGHTS}")
    assert same.fingerprint == encoders.load("builtin").fingerprint


@pytest.mark.parametrize("spec, message", [
    ("nonsense", "unknown model spec"),
    ("open_clip:", "unknown model spec"),
    ("open_clip:NoSuchArch@/tmp", "not found"),
    ("open_clip:NoSuchArch", "unknown open_clip architecture"),
    ("open_clip:ViT-B-32@/no/such/file.bin", "weights file '/no/such/file.bin' not found"),
    ("hf:/no/such/dir", "directory '/no/such/dir' not found"),
    ("st:./no/such/dir", "not found"),
])
def test_unloadable_specs_give_one_clear_error(spec, message):
    with pytest.raises(UserError, match=message):
        encoders.load(spec)


def test_hub_names_missing_from_the_cache_fail_fast_when_the_hub_is_unreachable(monkeypatch, tmp_path):
    from huggingface_hub import constants

    from mmdemo.encoders import cache

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # not told: a quick connection test tells
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(cache, "_reachable", lambda host: False)
    for spec in ("hf:openai/clip-vit-large-patch14", "open_clip:ViT-B-16/laion2b_s34b_b88k", "st:clip-ViT-L-14"):
        with pytest.raises(UserError, match="cannot reach the hub; run `hf download .*` where"):
            encoders.load(spec)


def test_spec_parsing_round_trips():
    for text in ("builtin", "open_clip:ViT-B-32/laion2b_s34b_b79k", "open_clip:ViT-B-32@/w.bin",
                 "open_clip:hf-hub:org/repo", "hf:openai/clip-vit-base-patch32", "st:/models/x"):
        assert parse_spec(text).text == text
    assert parse_spec(" open_clip:ViT-B-32 / tag ").tag == "tag"


@pytest.mark.parametrize("spec", ["builtin", "open_clip:ViT-B-32"])
def test_the_uint8_split_preprocesses_as_open_clip_does(spec):
    """Resize + crop to uint8 per image, normalise per batch: open_clip's own transform's
    tensors, for portrait, landscape, tiny, odd-mode and already-square images."""
    enc = encoders.load(spec)
    assert enc.pixels is not None and enc.prepare_image is enc.pixels
    odd = [*IMAGES, Image.new("RGB", (300, 97), "red"), Image.new("L", (97, 301), 128),
           Image.new("RGBA", (enc.image_size,) * 2, (9, 200, 30, 255)), Image.new("RGB", (3, 5), "blue")]
    ours = enc.pixels.batch([enc.prepare_image(im) for im in odd], enc.device)
    theirs = torch.stack([enc.transform(im) for im in odd])
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
