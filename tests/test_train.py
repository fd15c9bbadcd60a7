"""The training path of the built-in model, a few steps long (the real run is in the card)."""

import json

import pytest

from mmdemo.data import fashion

pytestmark = pytest.mark.skipif(not (fashion.DEBIAN_DIR / "train-images-idx3-ubyte.gz").exists(),
                                reason="needs Debian's dataset-fashion-mnist (.ci/run installs it)")


def test_train_builtin_writes_loadable_weights_and_a_card(tmp_path):
    from mmdemo import encoders, train
    from mmdemo.encoders import open_clip_backend as ocb
    from mmdemo.encoders.open_clip_backend import BUILTIN_ARCH

    out = tmp_path / "tiny.safetensors"
    cfg = train.TrainConfig(steps=3, batch_size=32, instance_groups=2, init=str(ocb.BUILTIN_WEIGHTS))
    card = train.train(cfg, out, log=lambda s: None)
    saved = json.loads(out.with_suffix(".card.json").read_text())
    assert saved["train"]["steps_done"] == 3 and saved["train"]["seed"] == 0
    assert set(saved["eval_zeroshot"]) >= {"model", "color", "shape", "color_shape", "heldout_pairs", "garment",
                                           "renderer_heldout", "phrasing_heldout", "hint_gain"}
    assert set(saved["data"]["sources"]) == set(train.SOURCES) and saved["data"]["heldout_renderer"] == "mpl"
    assert card["params"] > 1_000_000 and saved["token_table"]["rows"] < 200
    assert len(saved["train"]["init_sha256"]) == 64
    enc = encoders.load(f"open_clip:{BUILTIN_ARCH}@{out}")
    assert enc.fingerprint != encoders.load("builtin").fingerprint
    assert enc.encode_texts(["a red circle"]).shape == (1, 128)


def test_fashion_idx_reader_matches_the_shipped_sample():
    images, labels = fashion.load_split("t10k")
    assert images.shape == (10_000, 28, 28) and labels.max() == 9
    sample, sample_labels = fashion.load_sample()
    assert sample.shape == (1200, 28, 28) and sorted(set(sample_labels.tolist())) == list(range(10))
