"""Every attack from issue #9, performed over raw HTTP against a public-mode server.

Each test asserts: refused with a clear message, the server still alive, the shared indexes
unchanged, and no secret or server path in what came back.
"""

from __future__ import annotations

import io
import json
import re
import time
import traceback
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import mmdemo

from attack import SECRET, TOKEN, tree_digest

pytestmark = pytest.mark.usefixtures("public_server")


@pytest.fixture
def unchanged(public_server):
    """The shared indexes are byte-identical after the test, and the server is alive."""
    before = tree_digest(public_server.app / "indexes")
    yield
    assert public_server.alive(), public_server.log.read_text()[-2000:]
    assert tree_digest(public_server.app / "indexes") == before


def png(tmp_path, name="query.png", colour=(220, 40, 40)):
    path = tmp_path / name
    Image.new("RGB", (64, 64), colour).save(path)
    return path


def retrieve_args(**kw):
    """/retrieve's inputs in order (a raw HTTP call sends every one; so do /compare and /paths,
    which take one more at the end)."""
    order = ["index", "image", "text", "negative", "w_image", "w_text", "w_negative", "fusion", "quality", "k",
             "threshold", "expression", "source", "examples", "region", "center"]
    defaults = {"w_image": 0.5, "w_text": 0.5, "w_negative": 0.5, "fusion": "early", "quality": False, "k": 5,
                "center": False}
    return [kw.get(n, defaults.get(n)) for n in order]


def run_args(**kw):
    """The Retrieve tab's handler inputs, in its order: the controls, then the steering state
    (examples, 8 example weights, region, region weight)."""
    order = ["index", "image", "text", "negative", "w_image", "w_text", "w_negative", "fusion", "quality", "k",
             "threshold", "expression", "source", "center", "texts", "opened", "examples"]
    defaults = {"w_image": 0.5, "w_text": 0.5, "w_negative": 0.5, "fusion": "early", "quality": False, "k": 5,
                "threshold": -1, "center": False, "texts": False, "opened": {}, "examples": []}
    return [kw.get(n, defaults.get(n)) for n in order] + kw.get("weights", [0.5] * 8) + [kw.get("region"), 0.5]


def build_args(**kw):
    order = ["name", "source", "model", "factory", "append", "files", "private", "token"]
    defaults = {"source": "bundled", "append": False, "private": False}
    return [kw.get(n, defaults.get(n)) for n in order]


def test_files_route_serves_no_secret_source_or_index(public_server, unchanged):
    app, home = public_server.app, public_server.home
    for target in (app / ".env", home / ".cache/huggingface/token", app / "indexes/bundled/manifest.json",
                   public_server.log, __file__):
        status, body = public_server.get(f"/gradio_api/file={target}")
        assert status in (403, 404) and SECRET.encode() not in body, target
    status, _ = public_server.get(f"/gradio_api/file={app}/.cache/bundled/shape-0001.png")
    assert status == 200  # what results show is served


@pytest.mark.parametrize("factory", ["HNSW1", "HNSW0", "RR0,Flat", "PQ1x0", "IVF0,Flat", "IDMap,Flat",
                                     "HNSW32,PQ3"])
def test_crashing_factory_strings_are_refused_even_for_the_operator(public_server, unchanged, factory):
    kind, msg = public_server.call("build_index", build_args(name="attack", factory=factory, token=TOKEN))
    assert kind == "error" and ("not accepted" in str(msg) or "needs" in str(msg) or "divide" in str(msg)), msg


def test_shared_indexes_cannot_be_written_without_the_token(public_server, unchanged, tmp_path):
    refused = "not allowed on this public server"
    for args in (build_args(name="bundled"), build_args(name="bundled", source=str(public_server.app))):
        kind, msg = public_server.call("build_index", args)
        assert kind == "error" and refused in str(msg), msg
    kind, msg = public_server.call("delete_index", ["bundled", None])
    assert kind == "error" and refused in str(msg)
    kind, msg = public_server.call("delete_index", ["bundled", "wrong-token-wrong-token"])
    assert kind == "error" and refused in str(msg)
    # The UI's handlers are callable too: build (bundled, folder, shared upload), delete, save.
    for source in ("bundled gallery", "server folder", "upload to a shared index"):
        kind, out = public_server.join("do_build", ["builtin", "bundled", source, str(public_server.home), None,
                                                    "", False, ""])
        assert kind == "complete" and out[0] == {"__type__": "update"}, out  # a warning toast; nothing changed
    kind, out = public_server.join("do_delete", ["bundled", ""])
    assert kind == "complete" and out[0] == {"__type__": "update"}, out
    kind, msg = public_server.join("save_to", ["bundled", "builtin"])
    assert kind == "error" and refused in str(msg), msg


def test_models_outside_the_allow_list_are_refused(public_server, unchanged):
    for api, args in (("embed", [None, "x", "open_clip:RN50"]), ("embed", [None, "x", "hf:openai/clip-vit-large"]),
                      ("classify", [None, "a,b", "x", 1.0, 0.5, "st:clip-ViT-L-14"]),
                      ("evaluate", ["zeroshot", "open_clip:ViT-bigG-14/laion2b", None])):
        kind, msg = public_server.call(api, args)
        assert kind == "error" and "not offered on this server" in str(msg), msg


@pytest.mark.parametrize("shape", ["plain", "bare-dict", "filedata", "filedata-dotdot"])
def test_file_parameters_take_only_uploads_and_do_not_reveal_existence(public_server, unchanged, shape):
    """Refused whatever the shape, and in the same words for a secret that exists and a path that
    does not (gradio refuses FileData outside its upload folder itself, echoing the path given)."""
    upload_dir = public_server.app.parent / "gradio-tmp"
    answers = []
    for path in (str(public_server.home / ".cache/huggingface/token"), str(public_server.home / "no-such-file")):
        if shape == "filedata-dotdot":
            path = f"{upload_dir}/../..{path}"
        value = {"plain": path, "bare-dict": {"path": path}}.get(
            shape, {"path": path, "meta": {"_type": "gradio.FileData"}})
        for api, args in (("classify", [value, "a,b", None, 1.0, 0.5, None]), ("embed", [value, None, None]),
                          ("retrieve", retrieve_args(image=value, text="x"))):
            kind, msg = public_server.call(api, args)
            assert kind == "error" and SECRET not in str(msg), msg
            assert "not uploaded" in str(msg) or "server paths are not accepted" in str(msg), msg
            answers.append(re.sub(r"/\S+", "<path given>", str(msg)))
    assert answers[:3] == answers[3:]


def test_expression_image_terms_read_no_server_file(public_server, unchanged):
    secret = public_server.home / ".cache/huggingface/token"
    answers = []
    for ref in (secret, str(secret) + "-missing", "../../etc/passwd"):
        kind, msg = public_server.call("retrieve", retrieve_args(expression=f"a red one + @{ref}"))
        assert kind == "error" and "server paths are not accepted" in str(msg), msg
        answers.append(str(msg).split(":", 1)[1])
    assert len(set(answers)) == 1  # the same words whether or not the file exists
    kind, out = public_server.call("retrieve", retrieve_args(expression="a red one + 0.5:@shape-0001.png"))
    assert kind == "complete" and out[0]["results"]


def test_zip_bomb_and_html_members_are_refused_and_nothing_is_left(public_server, unchanged, tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("huge.png", b"\0" * (60 * 2**20))  # declared honestly, but far over the budget
    assert bomb.stat().st_size < 200_000
    kind, msg = public_server.call("build_index", build_args(files=public_server.upload(bomb)))
    assert kind == "error" and "MB" in str(msg), msg
    mixed = tmp_path / "mixed.zip"
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 200, 0)).save(buf, "PNG")
    with zipfile.ZipFile(mixed, "w") as z:
        z.writestr("../../evil/page.html", "<script>alert(1)</script>")
        z.writestr("dir/green.png", buf.getvalue())
    kind, out = public_server.call("build_index", build_args(files=public_server.upload(mixed)))
    assert kind == "complete" and out[0]["added"] == 1 and out[0]["private"], out
    assert [s["file"] for s in out[0]["skipped"]] == ["page.html"]
    stray = [p for p in public_server.app.rglob("*") if p.suffix == ".html" or "evil" in p.parts]
    assert not stray and not (public_server.app / ".cache" / "uploads").exists()


def test_unbounded_inputs_are_capped_fast(public_server, unchanged):
    cases = [("retrieve", retrieve_args(expression=" + ".join(["a"] * 10_000)), "limit"),
             ("retrieve", retrieve_args(expression=" + ".join(f"t{i}" for i in range(17))), "16"),
             ("retrieve", retrieve_args(text="x" * 1001), "limit is 1000"),
             ("retrieve", retrieve_args(text="x", negative=",".join(f"n{i}" for i in range(5000))), "limit is 1000"),
             ("retrieve", retrieve_args(text="x", negative=",".join(f"n{i}" for i in range(17))), "limit is 16"),
             ("retrieve", retrieve_args(text="x", threshold="nan"), "threshold must"),
             ("retrieve", retrieve_args(text="x", k=201), "k must be"),
             ("retrieve", retrieve_args(text="x", w_text=1e308 * 10), "finite"),
             ("retrieve", retrieve_args(text="x", w_text=11), "≤ 10"),
             ("retrieve", retrieve_args(expression="1e9:red"), "≤ 10"),
             ("classify", [None, "\n".join(f"label {i}" for i in range(3000)), "x", 1.0, 0.5, None], "limit is 200"),
             ("classify", [None, "a\n" + "b" * 101, "x", 1.0, 0.5, None], "limit is 100")]
    for api, args, words in cases:
        start = time.perf_counter()
        kind, msg = public_server.call(api, args)
        assert kind == "error" and words in str(msg), (api, msg)
        assert time.perf_counter() - start < 5
    # A format-string bomb in a prompt template is plain text: replaced, never formatted.
    kind, out = public_server.join("classify_image", [None, "circle\nsquare", "it is a star", 1.0, 0.5,
                                              "{:>100000000}{{}}", "builtin"])
    assert kind == "complete", out


def test_private_gallery_is_seen_by_its_session_only(public_server, unchanged, tmp_path):
    files = public_server.upload(png(tmp_path, "mine.png", (250, 20, 20)))
    kind, out = public_server.join("do_build", ["builtin", "", "upload to my private gallery", "", files, "", False,
                                                ""], session="alice")
    assert kind == "complete" and out[0]["private"] and out[0]["count"] == 1, out
    kind, out = public_server.join("run", run_args(index="my-uploads", text="a red one"), session="alice")
    assert kind == "complete" and len(out[0]) == 1 and "mine.png" in out[0][0]["caption"], out
    kind, msg = public_server.join("run", run_args(index="my-uploads", text="a red one"), session="bob")
    assert kind == "error" and "no private gallery" in str(msg), msg


def test_default_client_keeps_the_retrieve_contract_without_server_paths(public_server, unchanged, tmp_path):
    from gradio_client import Client, handle_file

    kind, raw = public_server.call("retrieve", retrieve_args(text="a red circle"))
    text = json.dumps(raw)
    for place in (public_server.app, public_server.home):
        assert str(place) not in text
    assert all("path" not in r for r in raw[0]["results"])
    client = Client(public_server.url, verbose=False)  # the default: download_files on
    out = client.predict(image=handle_file(str(png(tmp_path))), text="make it blue", k=3, api_name="/retrieve")
    first = out["results"][0]
    assert set(first) >= {"id", "name", "image", "score", "parts", "caption"} and isinstance(first["score"], float)
    assert Image.open(first["image"]).size[0] > 0  # downloaded to the caller's machine


def test_mistakes_log_one_line_and_internal_errors_show_no_internals(public_server):
    """Runs last in this file: by now every attack above has been logged."""
    kind, msg = public_server.call("retrieve", retrieve_args(text="x", k="many"))
    assert kind == "error" and "whole number" in str(msg)
    log = public_server.log.read_text()
    # gradio prints a traceback for the uploads it refuses itself (FileData outside its upload
    # folder, before any mmdemo code runs); none may come from a mmdemo handler.
    tracebacks = log.split("Traceback (most recent call last):")[1:]
    assert all("InvalidPathError: Cannot move" in t and not own_frames(t) for t in tracebacks), log[-3000:]
    assert "refused: k must be a whole number" in log


def own_frames(traceback: str) -> list[str]:
    """The frames of a traceback whose file lies in the mmdemo package. Matching the text
    "mmdemo/" would also match every frame of a checkout (and its venv) in a folder so named."""
    package = Path(mmdemo.__file__).resolve().parent
    return [f for f in re.findall(r'File "([^"]+)", line \d+', traceback)
            if Path(f).resolve().is_relative_to(package)]


def test_own_frames_are_the_package_s_not_a_checkout_folder_named_mmdemo():
    from mmdemo import limits
    from mmdemo.errors import UserError

    try:
        limits.k("many")
    except UserError:
        ours = traceback.format_exc()
    venv = ('  File "/home/me/mmdemo/.venv/lib/python3.11/site-packages/gradio/route_utils.py", line 3, '
            'in call\n')
    assert own_frames(ours) and not own_frames(venv)


def test_own_data_evaluation_is_capped_held_privately_and_serves_nothing(public_server, unchanged, tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 200, 0)).save(buf, "PNG")
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as z:
        for i in range(201):
            z.writestr(f"c{i % 2}/{i}.png", buf.getvalue())
    kind, msg = public_server.call("evaluate", ["classify", None, public_server.upload(many)])
    assert kind == "error" and "at most 200" in str(msg), msg
    kind, msg = public_server.call("evaluate", ["classify", None, {"path": str(many)}])
    assert kind == "error" and "must be a file uploaded" in str(msg), msg
    kind, msg = public_server.call("evaluate", ["classify", "hf:openai/clip-vit-base-patch32",
                                                public_server.upload(many)])
    assert kind == "error" and "not offered" in str(msg), msg
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as z:
        for i in range(4):
            z.writestr(f"red/{i}.png", buf.getvalue())
            z.writestr(f"blue/{i}.png", buf.getvalue())
        z.writestr("../../evil/page.html", "<script>alert(1)</script>")
    kind, out = public_server.call("evaluate", ["classify", None, public_server.upload(two)])
    assert kind == "complete" and out[0]["n"] == 8 and out[0]["data"] == "two.zip", out
    assert [s["file"] for s in out[0]["skipped"]] == ["page.html"] and "/" not in json.dumps(out[0]["skipped"])
    held = [p for p in (public_server.app / ".cache" / "sessions").rglob("*") if p.is_file()]
    assert len(held) == 8 and not any(p.suffix == ".html" for p in public_server.app.rglob("*"))
    status, _ = public_server.get(f"/gradio_api/file={held[0]}")
    assert status in (403, 404)  # held for the session's own evaluations, never served
