"""Models loaded by the hub name a user types, from a prepared Hugging Face cache, with
HF_HUB_OFFLINE set and every connection off loopback refused (``offline`` fails the test if
anything tries one). The cache holds tiny random models under the real repo names
(``tiny_models.hub_cache``); the open_clip one is a shrunk config registered as ViT-B-32."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import tiny_models
from mmdemo import encoders
from mmdemo.cli import main
from mmdemo.encoders import cache, pixels, registry
from mmdemo.errors import UserError

HUB = {"open_clip": "open_clip:ViT-B-32/laion2b_s34b_b79k", "hf": f"hf:{tiny_models.HF_REPO}",
       "st": f"st:{tiny_models.ST_REPO}"}
FETCH = {"open_clip": f"hf download {tiny_models.OPEN_CLIP_REPO} open_clip_model.safetensors",
         "hf": f"hf download {tiny_models.HF_REPO}", "st": f"hf download {tiny_models.ST_REPO}"}


def sources(hub_home) -> dict[str, str]:
    """The same tiny models by local path: what the hub names must load, weight for weight."""
    work = hub_home / "sources"
    return {"open_clip": f"open_clip:{tiny_models.TINY_ARCH}@{work / 'tiny-0.pt'}", "hf": f"hf:{work / 'hf'}",
            "st": f"st:{work / 'st'}"}


@pytest.fixture
def shrunk(monkeypatch):
    """The tiny config as open_clip's ViT-B-32, for this test only (restored after)."""
    import open_clip.factory

    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, "ViT-B-32", tiny_models.TINY_OPEN_CLIP)


@pytest.fixture
def forget():
    """The registry keeps a model per spec for the process: later tests must not get these."""
    yield
    registry._CACHE.discard(lambda spec: spec not in HUB.values())


@pytest.mark.parametrize("backend", list(HUB))
def test_each_backend_loads_by_its_hub_name_offline(backend, builtin, hub_home, offline, shrunk, forget):
    offline(hub_home)
    enc = encoders.load(HUB[backend])
    same = encoders.load(sources(hub_home)[backend])
    assert enc.spec == HUB[backend] and enc.fingerprint == same.fingerprint  # the cached weights
    images = [Image.new("RGB", (40, 30), (200, 30, 30)), Image.new("RGB", (30, 40), (30, 30, 200))]
    np.testing.assert_allclose(enc.encode_images(images), same.encode_images(images), atol=1e-5)
    np.testing.assert_allclose(enc.encode_texts(["a red circle"]), same.encode_texts(["a red circle"]), atol=1e-5)


def test_open_clip_from_the_cache_preprocesses_as_open_clip_does_for_the_tag(builtin, hub_home, offline,
                                                                            shrunk, forget):
    import open_clip

    offline(hub_home)
    enc = encoders.load(HUB["open_clip"])
    _, _, theirs = open_clip.create_model_and_transforms("ViT-B-32", pretrained="laion2b_s34b_b79k")
    assert repr(enc.transform) == repr(theirs)
    assert enc.prepare_image == pixels.from_transform(theirs) is not None  # its uint8 split, same sizes


@pytest.mark.parametrize("backend", list(HUB))
def test_a_cache_miss_offline_is_one_line_naming_the_download(backend, tmp_path, offline):
    offline(tmp_path)  # an empty cache
    with pytest.raises(UserError) as err:
        encoders.load(HUB[backend])
    message = str(err.value)
    assert "\n" not in message and f"`{FETCH[backend]}`" in message and "not in the Hugging Face cache" in message


def test_the_cli_says_so_and_exits_2(tmp_path, offline, capsys):
    offline(tmp_path)
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(image)
    assert main(["classify", "--model", HUB["open_clip"], "--image", str(image), "--labels", "a,b"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and FETCH["open_clip"] in err


def test_an_incomplete_snapshot_is_not_taken_for_a_model(tmp_path, offline, hub_home):
    offline(tmp_path)
    hub = tmp_path / "hub"
    tiny_models.write_hub_repo(hub, tiny_models.HF_REPO, {"config.json": hub_home / "sources" / "hf" / "config.json"},
                               "4" * 40)
    tiny_models.write_hub_repo(hub, tiny_models.ST_REPO, {"modules.json": hub_home / "sources" / "st" / "modules.json"},
                               "5" * 40)
    for backend in ("hf", "st"):
        where = cache.locate(HUB[backend])
        assert where.path is None and not where.loads_offline and where.fetch == FETCH[backend]
    assert cache.cached_specs() == []


def test_models_lists_what_loads_now_with_sizes(hub_home, offline, capsys):
    offline(hub_home)
    local = sources(hub_home)["hf"]
    assert main(["models", "--json", local, "st:/no/such/model"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {m["spec"]: m for m in out["models"]}
    assert list(rows)[0] == "builtin" and rows["builtin"]["offline"]
    for backend, spec in HUB.items():
        assert rows[spec]["offline"] and rows[spec]["source"] == "hub" and rows[spec]["size"] > 0
    assert rows[HUB["open_clip"]]["size"] == (hub_home / "sources" / "open_clip_model.safetensors").stat().st_size
    assert rows[local]["source"] == "local" and rows[local]["offline"]
    assert not rows["st:/no/such/model"]["offline"]
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert f"{tiny_models.OPEN_CLIP_REPO} (hub cache)" in table and " MB " in table


def test_models_reads_HF_HOME_like_the_libraries(hub_home):
    env = {**os.environ, "HF_HOME": str(hub_home), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run([sys.executable, "-m", "mmdemo", "models", "--json"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = {m["spec"] for m in json.loads(proc.stdout)["models"] if m["offline"]}
    assert set(HUB.values()) <= listed
