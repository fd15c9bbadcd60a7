"""``/compare``, ``/paths`` and steering over loopback with the default ``gradio_client.Client``:
results keep /retrieve's shape (their images downloaded, the rest kept)."""

from __future__ import annotations

import os

import pytest
from gradio_client import Client, handle_file

from mmdemo.data import gallery


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


def hexagon():
    return handle_file(str(gallery.bundled_dir() / "shape-0001.png"))


def test_compare_gives_a_column_per_strategy_shaped_like_retrieve(client):
    out = client.predict(image=hexagon(), text="make it blue", w_image=0.4, w_text=0.6, k=6,
                         strategies=["early", "delta", "rrf"], api_name="/compare")
    assert list(out["columns"]) == ["early", "delta", "rrf"] and set(out["agreement"]) == {"overlap", "rbo"}
    first = out["columns"]["delta"][0]
    assert set(first) >= {"id", "name", "image", "score", "parts", "caption", "label", "only"}
    assert os.path.isfile(first["image"]) and "path" not in first  # downloaded: the default client
    alone = client.predict(image=hexagon(), text="make it blue", w_image=0.4, w_text=0.6, k=6, fusion="delta",
                           api_name="/retrieve")
    assert [r["id"] for r in out["columns"]["delta"]] == [r["id"] for r in alone["results"]]
    assert out["agreement"]["rbo"]["early"]["rrf"] < 1.0
    with pytest.raises(Exception, match="unknown strategy"):
        client.predict(text="a red circle", strategies=["early", "magic"], api_name="/compare")


def test_paths_ranks_stable_intervals_and_the_current_weight(client):
    out = client.predict(image=hexagon(), text="make it blue", w_image=0.4, w_text=0.6, k=5, steps=21,
                         api_name="/paths")
    assert len(out["weights"]) == 21 and out["current"] == pytest.approx(0.6) and out["axis"]["scale"] == 1.0
    item = out["items"][0]
    assert len(item["ranks"]) == 21 and item["stable"] and os.path.isfile(item["image"])
    at = out["weights"].index(0.6)
    now = client.predict(image=hexagon(), text="make it blue", w_image=0.4, w_text=0.6, k=5, api_name="/retrieve")
    by_rank = sorted((it["ranks"][at], it["id"]) for it in out["items"] if it["ranks"][at])
    assert [i for _, i in by_rank] == [r["id"] for r in now["results"]]
    with pytest.raises(Exception, match="steps must be between 2 and 201"):
        client.predict(image=hexagon(), text="make it blue", steps=500, api_name="/paths")


def test_examples_region_and_centering_through_the_api(client):
    base = client.predict(text="a blue one", k=8, api_name="/retrieve")
    third = base["results"][2]["id"]
    more = client.predict(text="a blue one", k=8, examples=[{"id": third, "weight": 0.5}], api_name="/retrieve")
    assert [r["id"] for r in more["results"]].index(third) < 2
    assert more["parts"][-1]["kind"] == "example"
    stars = [r["id"] for r in client.predict(text="a green star", k=20, api_name="/retrieve")["results"]]
    pulled = client.predict(text="a red one", k=8, region={"ids": stars, "weight": 2.0}, api_name="/retrieve")
    assert sum("green" in r["caption"] for r in pulled["results"]) > sum("green" in r["caption"] for r in base["results"])
    centred = client.predict(text="a red circle", k=5, center=True, api_name="/retrieve")
    assert centred["centered"] and centred["results"]
    gap = client.predict(text="a red circle", texts=True, center=True, api_name="/map")
    assert gap["gap"]["norm"] > 0 and gap["gap"]["centered"] and len(gap["texts"]["x"]) == len(gap["texts"]["text"])
    with pytest.raises(Exception, match="is no item of index"):
        client.predict(text="a red one", examples=[{"id": "0000000000000000", "weight": 1}], api_name="/retrieve")
