"""``/map`` over loopback with gradio_client: coordinates, labels and query points."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

from mmdemo.data import gallery


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False, download_files=False)


def test_map_returns_items_query_points_and_the_top_k(client):
    image = handle_file(str(gallery.bundled_dir() / "shape-0001.png"))
    near_image = client.predict(image=image, text="make it blue", w_image=0.9, w_text=0.1, k=5, api_name="/map")
    near_text = client.predict(image=image, text="make it blue", w_image=0.1, w_text=0.9, k=5, api_name="/map")
    items = near_image["items"]
    assert len(items["x"]) == len(items["y"]) == len(items["label"]) == 880 and "blue hexagon" in items["label"]
    assert near_image["projection"] == "pca" and len(near_image["explained"]) == 2
    kinds = [q["kind"] for q in near_image["queries"]]
    assert kinds == ["image", "text", "fused"] and len(near_image["top"]) == 5

    def fused(m):
        return next((q["x"], q["y"]) for q in m["queries"] if q["kind"] == "fused")

    assert fused(near_image) != fused(near_text)
    retrieved = client.predict(image=image, text="make it blue", w_image=0.1, w_text=0.9, k=5, api_name="/retrieve")
    assert [t["id"] for t in near_text["top"]] == [r["id"] for r in retrieved["results"]]


def test_map_of_an_empty_query_is_just_the_items_and_errors_are_messages(client):
    plain = client.predict(api_name="/map")
    assert plain["queries"] == [] and len(plain["items"]["x"]) == 880
    with pytest.raises(Exception, match="unknown fusion mode"):
        client.predict(text="a red circle", fusion="nope", api_name="/map")
