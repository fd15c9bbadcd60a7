"""Builds stage their rows on disk: same index as appending in memory, no scratch left behind."""

from __future__ import annotations

import errno
import json
import os
import shutil

import numpy as np
import pytest

from mmdemo import building, cli, ondisk, paths, service, staging, synthetic
from mmdemo.errors import UserError
from mmdemo.index import Index, Item
from mmdemo.manifest import ONDISK, new_manifest


def _items(n: int, start: int = 0) -> list[Item]:
    return [Item(f"{i:016x}", f"img/{i}.png", f"{i:040x}", caption=f"c{i}", label="l") for i in range(start, start + n)]


def _scratch_left() -> list[str]:
    return [p.name for p in paths.index_dir().glob(staging.PREFIX + "*")]


def test_staging_gives_the_index_appending_in_memory_gives():
    emb = synthetic.clustered(300, 32, n_clusters=5)
    memory = Index.create("m", "synthetic", "fp", 32, "Flat")
    manifest = new_manifest("s", "synthetic", "fp", 32)
    with staging.staging(manifest, 300) as st:
        for s in range(0, 300, 128):
            assert st.add(emb[s:s + 128], _items(len(emb[s:s + 128]), s)) == (len(emb[s:s + 128]), [])
            memory.add(emb[s:s + 128], _items(len(emb[s:s + 128]), s))
        assert len(st) == 300 and st.embeddings.dtype == np.float16
        with pytest.raises(ValueError, match="do not fit"):
            st.add(emb[:1], _items(1, 999))
        staged = st.to_index()
    assert staged.embeddings.tobytes() == memory.embeddings.tobytes()  # both rounded through fp16 once
    assert staged.items == memory.items and staged.manifest.count == 300
    assert staged.search(emb[7], 5)[0].tolist() == memory.search(emb[7], 5)[0].tolist()
    assert not _scratch_left()


def test_scratch_sweeps_only_folders_no_build_holds():
    """A folder is in use while its lock is held (by any process, on any host sharing the
    disk); a folder with no lock file yet is a build starting, unless it is old."""
    import fcntl

    root = paths.index_dir()
    root.mkdir(parents=True, exist_ok=True)
    dead, held, starting, stale = (root / f"{staging.PREFIX}{k}" for k in ("dead", "held", "starting", "stale"))
    for d in (dead, held, starting, stale):
        d.mkdir()
    (dead / staging.IN_USE).touch()
    (held / staging.IN_USE).touch()
    os.utime(stale, (0, 0))
    with open(held / staging.IN_USE) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another open file: excludes the sweep like another process
        with staging.scratch() as mine:
            assert (mine / staging.IN_USE).is_file()
            assert not dead.exists() and not stale.exists() and held.exists() and starting.exists()
            with staging.scratch() as second:  # a concurrent build keeps the first one's folder
                assert mine.exists() and second != mine
    assert not mine.exists()
    for d in (held, starting):
        shutil.rmtree(d)


def test_a_full_disk_is_an_error_before_any_row_is_written(monkeypatch):
    def full(fd, offset, size):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(UserError, match="not enough free disk"):
        building.build_index("stage-full", "bundled", "builtin")
    assert not _scratch_left()


def test_appending_to_a_new_name_keeps_the_factory_asked_for():
    out = building.build_index("stage-append-new", "bundled", "builtin", factory="HNSW32", append=True)
    assert out["factory"] == "HNSW32" and service.get_index("stage-append-new").manifest.factory == "HNSW32"
    again = building.build_index("stage-append-new", "bundled", "builtin", append=True)
    assert again["added"] == 0 and again["count"] == out["count"]


def test_build_over_the_memory_budget_is_served_from_disk(builtin, monkeypatch, capfd):
    """A real build (bundled images, the built-in model) past ``--max-memory`` is an IVF-PQ
    index on disk with the in-memory build's items and fp16 rows, and leaves no scratch; the
    CLI's ``--json`` answer stays JSON (FAISS printfs its list resizes)."""
    small = building.build_index("stage-mem", "bundled", "builtin")
    monkeypatch.setattr(ondisk, "MIN_ONDISK", 256)  # the bundled 880 images count as big
    capfd.readouterr()
    assert cli.main(["build-index", "--name", "stage-disk", "--max-memory", "512k", "--json"]) == 0
    out, err = capfd.readouterr()
    big = json.loads(out)
    assert "resizing" in err
    assert big["factory"].startswith("IVF") and big["count"] == small["count"] == big["added"]
    mem, disk = service.get_index("stage-mem"), service.get_index("stage-disk")
    assert disk.manifest.storage == ONDISK
    assert [it.id for it in disk.items] == [it.id for it in mem.items]
    assert np.asarray(disk.embeddings, np.float32).tobytes() == mem.embeddings.tobytes()
    top = service.retrieve("stage-disk", expression=f"@{mem.items[5].id}", k=1)["results"]
    assert top[0]["id"] == mem.items[5].id
    assert not _scratch_left()


def test_a_failed_build_leaves_no_scratch(tmp_path):
    (tmp_path / "a.png").write_bytes(b"not an image")
    with pytest.raises(Exception, match="no image in the source could be read"):
        building.build_index("stage-none", str(tmp_path), "builtin")
    assert not _scratch_left()


def test_opq_on_disk_build_and_a_bad_budget_refused_before_encoding(builtin, monkeypatch):
    from mmdemo import build

    monkeypatch.setattr(ondisk, "MIN_ONDISK", 256)
    out = building.build_index("stage-opq", "bundled", "builtin", max_memory="512k", opq=True)
    assert out["factory"].startswith("OPQ16,IVF")
    idx = service.get_index("stage-opq")
    first = idx.items[0].id
    assert service.retrieve("stage-opq", expression=f"@{first}", k=1)["results"][0]["id"] == first
    monkeypatch.setattr(build, "build", lambda *a, **k: pytest.fail("encoded before refusing"))
    with pytest.raises(UserError, match="invalid memory size"):
        building.build_index("stage-bad", "bundled", "builtin", max_memory="lots")
    with pytest.raises(UserError, match="give --max-memory"):
        building.build_index("stage-bad", "bundled", "builtin", opq=True)
