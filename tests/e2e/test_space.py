"""A simulated Hugging Face Space (``space_server``): SPACE_ID set, no MMDEMO_MODEL, the
recommended model's weights in the hub cache, the hub offline. It serves that model by default
and the built-in model on request, over gradio_client and raw HTTP."""

from __future__ import annotations

import json
import urllib.request

import pytest
from gradio_client import Client, handle_file

from mmdemo.access import SPACE_MODEL
from mmdemo.data import gallery, photos

SPACE_INDEX = "bundled-open_clip-ViT-B-32-laion2b_s34b_b79k"


@pytest.fixture(scope="module")
def space(space_server):
    url, log = space_server
    return Client(url, verbose=False), url, log


def test_the_recommended_model_is_served_by_default_and_the_builtin_on_request(space):
    client, _, _ = space
    image = handle_file(str(gallery.bundled_dir() / "shape-0001.png"))
    assert client.predict(image=image, labels="cat\ndog", api_name="/classify")["model"] == SPACE_MODEL
    assert client.predict(image=image, labels="cat\ndog", model="builtin", api_name="/classify")["model"] == "builtin"
    with pytest.raises(Exception, match="not offered on this server"):
        client.predict(text="a cat", model="hf:openai/clip-vit-base-patch32", api_name="/embed")
    assert client.predict(text="a cat", api_name="/embed")["dim"] == 32  # the shrunk ViT-B-32


def test_first_start_built_the_served_models_gallery_with_the_real_photos(space):
    client, _, log = space
    listed = {m["name"]: m for m in client.predict(api_name="/list_indexes")}
    assert listed[SPACE_INDEX]["model"] == SPACE_MODEL and listed["bundled"]["model"] == "builtin"
    assert listed[SPACE_INDEX]["count"] == listed["bundled"]["count"] + len(photos.PHOTOS)
    assert f"building index '{SPACE_INDEX}'" in log.read_text()  # with a progress bar
    out = client.predict(text="a cat", k=3, api_name="/retrieve")
    assert out["index"] == SPACE_INDEX and out["model"] == SPACE_MODEL
    assert client.predict(index="bundled", text="a red circle", k=1, api_name="/retrieve")["model"] == "builtin"


def test_learned_fusion_without_a_combiner_is_a_clear_refusal_naming_the_command(space):
    client, _, _ = space
    with pytest.raises(Exception, match=f"mmdemo train-combiner --index {SPACE_INDEX}"):
        client.predict(image=handle_file(str(gallery.bundled_dir() / "shape-0001.png")), text="make it blue",
                       fusion="learned", api_name="/retrieve")


def test_the_header_names_both_models_and_no_fallback(space):
    _, url, _ = space
    config = json.loads(urllib.request.urlopen(url + "/config", timeout=30).read())
    header = next(c["props"]["value"] for c in config["components"] if c["props"].get("elem_id") == "header")
    assert f"`{SPACE_MODEL}` (default), `builtin`" in header and "mode: `public`" in header
    assert "Note" not in header
