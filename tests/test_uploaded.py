"""Your own data, uploaded for evaluation: read safely with its layout, held in the visitor's
session space (replaced by their next upload, deleted with the session), reported with the
upload's own names, never a server path."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from PIL import Image

import own_data
from mmdemo import access, sessions
from mmdemo.data import uploads
from mmdemo.errors import UserError
from mmdemo.evaluate import uploaded


def tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 0, 0)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("member, kept", [("a/b.png", "a/b.png"), ("./a//b.png", "a/b.png"), ("../b.png", None),
                                          ("/etc/b.png", None), ("C:/x/b.png", None), ("a\\..\\b.png", None),
                                          ("/".join("d" * 9) + ".png", None), ("x" * 121 + ".png", None)])
def test_member_paths_are_kept_only_when_they_cannot_leave_their_folder(member, kept):
    assert uploads.safe_path(member) == kept


def test_a_zip_keeps_its_layout_and_triplets_csv_and_counts_only_images(tmp_path):
    z = tmp_path / "set.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(3):
            zf.writestr(f"set/img/{i}.png", tiny_png())
        zf.writestr("set/triplets.csv", "reference,modifier,target\n")
        zf.writestr("../../escape.png", tiny_png())
        zf.writestr("__MACOSX/set/._0.png", b"junk")
    got = uploads.collect([z], max_files=4, max_bytes=2**20, keep=uploaded.KEEP)
    assert sorted(u.path for u in got.uploads) == ["escape.png", "set/img/0.png", "set/img/1.png", "set/img/2.png",
                                                   "set/triplets.csv"]
    with pytest.raises(UserError, match="at most 3 per upload"):
        uploads.collect([z], max_files=3, max_bytes=2**20, keep=uploaded.KEEP)
    uploads.write_tree(got.uploads, tmp_path / "out")
    assert (tmp_path / "out" / "set" / "triplets.csv").is_file() and (tmp_path / "out" / "escape.png").is_file()
    assert not (tmp_path / "escape.png").exists()


def test_the_set_lives_in_the_session_space_and_goes_with_it(tmp_path):
    lim = sessions.Limits(idle_s=0.3)
    spaces = sessions.Galleries(tmp_path / "thumbs", lim, data_root=tmp_path / "data")
    first = uploaded.hold(spaces, "a", [own_data.classify_zip(tmp_path / "c.zip", per_class=2)], 200, 2**20)
    assert first.images == 6 and first.name == "c.zip" and spaces.held("a") == first
    assert {s["file"] for s in first.skipped} == {"shapes/star/broken.png", "shapes/README.txt"}
    assert not any(first.folder.is_relative_to(p) for p in access.served_paths())
    second = uploaded.hold(spaces, "a", [own_data.triplets_zip(tmp_path / "t.zip", bases=1)], 200, 2**20)
    assert not first.folder.exists() and second.folder.exists()  # the next upload replaces it
    assert spaces.get("a").index is None  # evaluating made no private gallery
    spaces.drop("a")
    assert not second.folder.exists() and spaces.held("a") is None
    third = uploaded.hold(spaces, "b", [own_data.classify_zip(tmp_path / "c.zip", per_class=2)], 200, 2**20)
    time.sleep(0.4)
    assert spaces.held("b") is None and not third.folder.exists()  # idle sessions go, their data too
    with pytest.raises(UserError, match="needs a session"):
        uploaded.hold(spaces, "", [tmp_path / "c.zip"], 200, 2**20)


def test_evaluation_sets_count_against_the_global_cap(tmp_path):
    spaces = sessions.Galleries(tmp_path / "thumbs", sessions.Limits(total_images=10), data_root=tmp_path / "data")
    a = uploaded.hold(spaces, "a", [own_data.classify_zip(tmp_path / "c.zip", per_class=2)], 200, 2**20)
    uploaded.hold(spaces, "b", [own_data.classify_zip(tmp_path / "c.zip", per_class=2)], 200, 2**20)
    assert spaces.held("a") is None and not a.folder.exists() and spaces.held("b") is not None


def test_messages_and_skipped_files_name_the_upload_not_the_server(tmp_path, builtin):
    spaces = sessions.Galleries(tmp_path / "thumbs", data_root=tmp_path / "data")
    one = tmp_path / "one-class.zip"
    with zipfile.ZipFile(one, "w") as zf:
        zf.writestr("pets/cat/1.png", tiny_png())
        zf.writestr("pets/cat/2.png", tiny_png())
    with pytest.raises(UserError) as err:
        uploaded.evaluate("classify", builtin, uploaded.hold(spaces, "s", [one], 200, 2**20))
    assert str(err.value) == "one-class.zip needs at least two class folders (class_name/image.jpg)"
    with pytest.raises(UserError, match="^triplets.csv not found: a CSV with reference,modifier,target"):
        uploaded.evaluate("composed", builtin, spaces.held("s"))
    held = uploaded.hold(spaces, "s", [own_data.triplets_zip(tmp_path / "t.zip", bases=1)], 200, 2**20)
    out = uploaded.evaluate("composed", builtin, held)  # 4 usable triplets: too few for 5 folds
    assert "cv" not in out["data"] and "needs at least 5 usable triplets; this set has 4" in out["cv_note"]
    assert str(tmp_path) not in str(out) and {s.get("row") for s in out["skipped"]} >= {6, 7}
