"""Public vs admin mode, uploads-only file parameters, private galleries."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mmdemo import access, sessions
from mmdemo.errors import UserError
from mmdemo.index import Index


@pytest.mark.parametrize("env, host, mode", [
    ({}, None, "admin"), ({}, "127.0.0.1", "admin"), ({}, "::1", "admin"), ({}, "0.0.0.0", "public"),
    ({"SPACE_ID": "me/demo"}, None, "public"), ({"MMDEMO_MODE": "public"}, "127.0.0.1", "public"),
    ({"GRADIO_SERVER_NAME": "0.0.0.0"}, None, "public"), ({"MMDEMO_MODE": "admin", "SPACE_ID": "x"}, None, "admin"),
])
def test_mode_from_environment(env, host, mode):
    assert access.policy_from_env("builtin", host, env).mode == mode


def test_public_policy_allow_list_token_and_folders():
    p = access.policy_from_env("builtin", "0.0.0.0", {"MMDEMO_MODELS": "open_clip:ViT-B-32@/w.bin",
                                                       "MMDEMO_ADMIN_TOKEN": "t" * 20})
    assert p.models == ("builtin", "open_clip:ViT-B-32@/w.bin") and p.folder_roots == ()
    assert p.model(None, "builtin") == "builtin" and p.model(" open_clip:ViT-B-32@/w.bin", "x")
    with pytest.raises(UserError, match="not offered"):
        p.model("open_clip:RN50", "builtin")
    assert not p.may_write(None) and not p.may_write("t" * 19) and p.may_write("t" * 20)
    with pytest.raises(UserError, match="not allowed on this public server"):
        access.server_folder("/", p)
    with pytest.raises(UserError, match="at least 16"):
        access.policy_from_env("builtin", None, {"MMDEMO_ADMIN_TOKEN": "short"})


def test_uploaded_file_accepts_only_gradio_uploads(tmp_path, monkeypatch):
    uploads = tmp_path / "gradio"
    (uploads / "abc").mkdir(parents=True)
    (uploads / "abc" / "x.png").write_bytes(b"png")
    (uploads / "link.png").symlink_to(tmp_path / "secret")
    (tmp_path / "secret").write_text("s")
    monkeypatch.setattr(access, "upload_dir", lambda: uploads.resolve())
    meta = {"_type": "gradio.FileData"}
    good = str(uploads / "abc" / "x.png")
    assert access.uploaded_file(good) == Path(good) and access.uploaded_file({"path": good, "meta": meta})
    assert access.uploaded_file(None) is None
    (uploads / "mmdemo-private" / "f00d").mkdir(parents=True)  # deeper than gradio's <hash>/<name>
    (uploads / "mmdemo-private" / "f00d" / "thumb.png").write_bytes(b"png")
    for bad in (str(tmp_path / "secret"), str(uploads / "abc/../../secret"), str(uploads / "link.png"),
                {"path": good}, {"path": str(tmp_path / "secret"), "meta": meta},
                str(uploads / "mmdemo-private" / "f00d" / "thumb.png")):
        with pytest.raises(UserError, match="server paths are not accepted"):
            access.uploaded_file(bad)
    with pytest.raises(UserError, match="server paths are not accepted"):
        access.uploaded_file(good, strict=True)  # the API takes FileData with meta only
    with pytest.raises(UserError, match="upload is gone"):
        access.uploaded_file(str(uploads / "abc" / "gone.png"))


def test_scrub_hides_server_folders():
    import tempfile

    msg = f"cannot read {Path.home()}/x and {tempfile.gettempdir()}/y and /srv/data/z.png"
    out = access.scrub(msg)
    assert str(Path.home()) not in out and "/srv/data" not in out and tempfile.gettempdir() not in out
    assert out == "cannot read <path> and <path> and <path>"  # one placeholder: no layout oracle


def test_private_thumbnails_are_served_but_never_taken_as_uploads(tmp_path, monkeypatch):
    monkeypatch.setattr(access, "upload_dir", lambda: (tmp_path / "gradio").resolve())
    root = sessions.default_root().resolve()
    assert not root.is_relative_to(access.upload_dir())
    assert any(root.is_relative_to(p) for p in access.served_paths())


def test_thumbnail_folders_left_by_a_previous_process_are_swept_once_idle(tmp_path):
    import os

    (tmp_path / "old").mkdir()
    (tmp_path / "fresh").mkdir()
    os.utime(tmp_path / "old", (time.time() - 100, time.time() - 100))
    sessions.Galleries(tmp_path, sessions.Limits(idle_s=50))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh"]


def test_private_galleries_caps_idle_eviction_and_global_cap(tmp_path, builtin):
    def make():
        return Index.create(sessions.PRIVATE, builtin.spec, builtin.fingerprint, builtin.dim, "Flat")

    lim = sessions.Limits(images=3, bytes=1000, idle_s=0.2, total_images=4)
    g = sessions.Galleries(tmp_path, lim)
    with pytest.raises(UserError, match="at most 3 images"):
        g.room("a", 4, 10)
    with pytest.raises(UserError, match="MB"):
        g.room("a", 1, 2000)
    a = g.open("a", make)
    import numpy as np

    from mmdemo.index import Item

    def fill(gal, n, tag):
        vecs = np.eye(builtin.dim, dtype=np.float32)[:n]
        gal.index.add(vecs, [Item(f"{tag}{i}", f"upload/{tag}{i}.png", f"{tag}{i}" * 8) for i in range(n)])
        g.added(gal, 10)

    fill(a, 3, "a")
    b = g.open("b", make)
    fill(b, 3, "b")  # 6 > 4 images in all: the least recently used gallery (a) goes
    assert g.get("a") is None and g.get("b") is b and not a.folder.exists()
    assert g.get("c") is None
    time.sleep(0.3)
    assert g.get("b") is None and len(g) == 0  # idle
