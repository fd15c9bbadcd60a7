import json
import subprocess
import sys

import pytest
from PIL import Image

from mmdemo.cli import main
from mmdemo.data import gallery

LABELS = "a red circle,a blue square,a green triangle,a yellow star"


def test_classify_json_ranks_labels_with_probabilities(bundled_index, capsys):
    red_circle = next(e.file for e in gallery.bundled_entries() if e.label == "red circle")
    assert main(["classify", "--image", str(red_circle), "--labels", LABELS, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"model", "labels"} and out["model"] == "builtin"
    assert out["labels"][0]["label"] == "a red circle"
    assert sum(r["score"] for r in out["labels"]) == pytest.approx(1.0, abs=1e-5)


def test_unreadable_image_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    assert main(["classify", "--image", str(bad), "--labels", LABELS]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: notes.png") and "\n" not in err and "Traceback" not in err


def test_the_real_entry_point_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mmdemo", "classify", "--image", str(tmp_path / "none.png"),
                           "--labels", LABELS], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_build_folder_reports_bad_files_and_search_json(tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.new("RGB", (40, 40), (220, 30, 30)).save(folder / "red.png")
    Image.new("RGB", (40, 40), (30, 30, 220)).save(folder / "sub" / "blue.jpg")
    Image.new("RGB", (40, 40), (220, 30, 30)).save(folder / "copy-of-red.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (folder / "readme.txt").write_text("hello")
    assert main(["build-index", "--source", str(folder), "--name", "photos", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == 2 and report["count"] == 2 and report["total"] == 5
    reasons = {s["file"].rsplit("/", 1)[-1]: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"broken.jpg", "readme.txt", "red.png"}  # red.png duplicates copy-of-red.png
    assert "duplicate" in reasons["red.png"] and "not an image" in reasons["readme.txt"]

    assert main(["search", "--index", "photos", "--text", "a blue one", "-k", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"][0]["path"].endswith("blue.jpg")
    assert set(out["results"][0]) >= {"id", "path", "score", "parts"} and "weights" in out

    Image.new("RGB", (40, 40), (30, 200, 30)).save(folder / "green.png")
    assert main(["build-index", "--source", str(folder), "--name", "photos", "--append", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 3


def test_search_rejects_bad_weights(bundled_index, capsys):
    assert main(["search", "--text", "red", "--w-text", "nan"]) == 2
    assert "finite" in capsys.readouterr().err
