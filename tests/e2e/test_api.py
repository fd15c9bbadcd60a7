"""The named endpoints, called with gradio_client over loopback as a script would."""

from __future__ import annotations

import json

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from mmdemo.data import gallery


@pytest.fixture(scope="module")
def client(server):
    # The default client: each result's "image" (FileData) is downloaded, the rest is kept.
    return Client(server, verbose=False)


def img(name):
    return handle_file(str(gallery.bundled_dir() / name))


def test_named_endpoints_are_listed(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/retrieve", "/classify", "/build_index", "/list_indexes", "/evaluate", "/embed"} <= names


def test_retrieve_contract_and_weights_move_the_ranking(client):
    out = client.predict(text="a red circle", k=5, api_name="/retrieve")
    assert set(out) >= {"results", "weights"}
    first = out["results"][0]
    assert set(first) >= {"id", "name", "image", "score", "parts"} and first["caption"].endswith("red circle")
    assert "path" not in first and Image.open(first["image"]).size == (128, 128)
    low = client.predict(image=img("shape-0001.png"), text="make it blue", w_image=0.9, w_text=0.1, k=12,
                         api_name="/retrieve")
    high = client.predict(image=img("shape-0001.png"), text="make it blue", w_image=0.3, w_text=0.7, k=12,
                          api_name="/retrieve")

    def blue(o):
        return sum(" blue " in r["caption"] for r in o["results"])

    assert blue(low) < blue(high)


def test_classify_contract(client):
    out = client.predict(image=img("shape-0001.png"), labels="circle\nsquare\nhexagon\nstar",
                         api_name="/classify")
    assert out["labels"][0]["label"] == "hexagon"
    assert abs(sum(r["score"] for r in out["labels"]) - 1) < 1e-4
    hinted = client.predict(image=img("shape-0001.png"), labels="circle\nsquare\nhexagon\nstar",
                            text="it is a star", w_image=0.2, w_text=0.8, api_name="/classify")
    assert hinted["labels"][0]["label"] == "star"


def test_bad_image_and_bad_weights_come_back_as_clear_errors(client, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(Exception, match="not a readable image"):
        client.predict(image=handle_file(str(bad)), labels="a,b", api_name="/classify")
    with pytest.raises(Exception, match="≥ 0"):
        client.predict(text="red", w_text=-1, api_name="/retrieve")
    with pytest.raises(Exception, match="all weights are zero"):
        client.predict(text="red", w_image=0, w_text=0, w_negative=0, api_name="/retrieve")


def test_build_list_embed_and_evaluate(client, isolated_dirs):
    folder = isolated_dirs / "api-photos"
    folder.mkdir(exist_ok=True)
    for name, colour in (("red.png", (220, 30, 30)), ("blue.png", (30, 30, 220))):
        Image.new("RGB", (32, 32), colour).save(folder / name)
    report = client.predict(name="api-photos", source=str(folder), api_name="/build_index")
    assert report["added"] == 2 and report["count"] == 2
    assert "api-photos" in {m["name"] for m in client.predict(api_name="/list_indexes")}
    out = client.predict(index="api-photos", text="a blue one", k=1, api_name="/retrieve")
    assert out["results"][0]["name"] == "blue.png"
    thumb = Image.open(out["results"][0]["image"])  # its thumbnail: a JPEG, within JPEG's rounding
    assert thumb.format == "JPEG" and max(abs(a - b) for a, b in zip(thumb.getpixel((0, 0)), (30, 30, 220))) <= 3
    with pytest.raises(Exception, match="not a folder this server may read"):
        client.predict(name="etc", source="/etc", api_name="/build_index")
    emb = client.predict(text="a red circle", api_name="/embed")
    assert emb["dim"] == len(emb["embedding"]) == 128
    zs = client.predict(what="zeroshot", api_name="/evaluate")
    assert set(zs) == {"model", "color", "shape", "color_shape", "heldout_pairs", "garment",
                       "renderer_heldout", "phrasing_heldout", "hint_gain", "centered"}


def test_evaluate_takes_your_own_data_and_answers_as_the_cli_does(client, tmp_path, capsys):
    """An ImageFolder zip and a triplets set through /evaluate's `data`: the keys of
    `eval … --data DIR --json`, files named as in the upload, bad files and rows listed."""
    import zipfile

    import own_data
    from mmdemo.cli import main

    zipped = own_data.classify_zip(tmp_path / "shapes.zip")
    out = client.predict(what="classify", data=handle_file(str(zipped)), api_name="/evaluate")
    zipfile.ZipFile(zipped).extractall(tmp_path / "unzipped")
    assert main(["eval", "classify", "--data", str(tmp_path / "unzipped" / "shapes"), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert set(out) == set(cli) and out["data"] == "shapes.zip" and out["n"] == cli["n"] == 12
    assert out["labels"] == cli["labels"] == sorted(own_data.CLASSES)
    assert out["accuracy"] == cli["accuracy"] and set(out["per_class_recall"]) == set(cli["labels"])
    assert {s["file"] for s in out["skipped"]} == {"shapes/star/broken.png", "shapes/README.txt"}

    trip = client.predict(what="composed", data=handle_file(str(own_data.triplets_zip(tmp_path / "t.zip"))),
                          api_name="/evaluate")
    assert set(trip) == {"model", "data", "skipped"} and trip["data"]["queries"] == 12
    assert trip["data"]["cv"]["k"] == 5 and {"early", "late", "rrf", "delta", "sweep"} <= set(trip["data"])
    assert {s.get("row") for s in trip["skipped"]} >= {14, 15}
    assert not any("/tmp" in json.dumps(x) or "sessions" in json.dumps(x) for x in (out, trip))
    with pytest.raises(Exception, match="classify or composed"):
        client.predict(what="zeroshot", data=handle_file(str(zipped)), api_name="/evaluate")
