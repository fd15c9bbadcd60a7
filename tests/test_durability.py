"""Many writers and readers at once, across processes, and kill -9 in the middle of a write.

Child processes come from a forkserver that preloaded mmdemo and the built-in model
(tests/crash_worker.py), so the dozen children here cost seconds, not minutes.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing as mp
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmdemo import index as index_mod
from mmdemo import building, locks, service
from mmdemo.caches import Cache
from mmdemo.index import Index, Item, delete_index, set_defaults

_CTX = mp.get_context("forkserver")


@pytest.fixture(scope="module", autouse=True)
def forkserver():
    """Start the forkserver with crash_worker preloaded. Python 3.11's forkserver ignores the
    parent's sys.path, so it finds tests/ and mmdemo through PYTHONPATH, set only meanwhile."""
    from multiprocessing import forkserver as fs

    here = Path(__file__).resolve().parent
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(here), str(here.parent)] + ([old] if old else []))
    try:
        _CTX.set_forkserver_preload(["crash_worker"])
        fs.ensure_running()
    finally:
        os.environ.pop("PYTHONPATH") if old is None else os.environ.update(PYTHONPATH=old)


def images(folder: Path, n: int, seed: int) -> list[str]:
    """``n`` distinct small noise images (distinct content, so none is a duplicate)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        path = folder / f"img-{seed}-{i}.png"
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path)
        out.append(str(path))
    return out


def child(target: str, root: Path, name: str, files: list[str], pause_at: str = "", pause_file: str = ""):
    import crash_worker

    env = {"MMDEMO_INDEX_DIR": str(root), "MMDEMO_PAUSE_AT": pause_at, "MMDEMO_PAUSE_FILE": pause_file}
    p = _CTX.Process(target=getattr(crash_worker, target), args=(env, name, files))
    p.start()
    return p


def state(root: Path, name: str) -> dict[str, np.ndarray]:
    """The index as item id -> stored embedding."""
    idx = Index.load(name, root)
    return {it.id: idx.embeddings[i] for i, it in enumerate(idx.items)}


def data_ids(folder: Path) -> set[str]:
    """Generations with any file on disk, temp files of a crashed writer included."""
    ids = set()
    for f in folder.iterdir():
        stem = f.name.lstrip(".").split(".")[0]
        if stem.startswith(("vectors-", "embeddings-", "items-")):
            ids.add(stem.split("-", 1)[1])
    return ids


@pytest.fixture(scope="module")
def galleries(tmp_path_factory):
    root = tmp_path_factory.mktemp("galleries")
    return {name: images(root / name, n, seed) for name, n, seed in
            (("a", 12, 1), ("a2", 6, 2), ("b", 70, 3), ("b1", 30, 4), ("b2", 30, 5), ("c", 12, 6))}


@pytest.fixture
def index_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MMDEMO_INDEX_DIR", str(tmp_path / "indexes"))
    return tmp_path / "indexes"


def test_concurrent_appends_from_two_processes_both_land(index_root, galleries):
    building.build_index("shared", galleries["a"])
    procs = [child("append", index_root, "shared", galleries[g]) for g in ("b1", "b2")]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(state(index_root, "shared")) == 12 + 30 + 30


def test_defaults_set_during_a_build_survive_it(index_root, galleries):
    building.build_index("d", galleries["a"])
    set_defaults("d", {"w_text": 0.3})

    def meanwhile(done, total):  # Evaluate → "Save to index" lands while the append encodes
        set_defaults("d", {"w_text": 0.7, "fusion": "late"})

    building.build_index("d", galleries["a2"], append=True, progress=meanwhile)
    building.build_index("d", galleries["c"])  # a rebuild keeps them too
    assert index_mod.read_manifest("d").defaults == {"w_text": 0.7, "fusion": "late"}


def test_delete_never_races_a_save(tmp_path, monkeypatch):
    def make(seed):
        x = np.random.default_rng(seed).normal(size=(20, 8)).astype(np.float32)
        idx = Index.create("d", "fake", "fp", 8)
        idx.add(x / np.linalg.norm(x, axis=1, keepdims=True),
                [Item(f"{seed}-{i}", f"/{i}.png", f"{seed:08x}{i:032x}") for i in range(20)])
        return idx

    make(1).save(tmp_path)
    newer, saved, errors = make(2), threading.Event(), []

    def save_newer():
        try:
            newer.save(tmp_path)
        except Exception as exc:
            errors.append(exc)
        saved.set()

    real_unlink, deleter, calls = Path.unlink, threading.current_thread(), []

    def unlink(self, missing_ok=False):
        if threading.current_thread() is deleter:
            calls.append(self.name)
            if len(calls) == 2:  # the manifest is gone, the data files are not yet: save now
                threading.Thread(target=save_newer).start()
                saved.wait(2)
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    delete_index("d", tmp_path)
    assert saved.wait(30) and not errors
    monkeypatch.undo()
    got = Index.load("d", tmp_path)  # the save came after the delete: a whole index
    assert [it.id for it in got.items] == [it.id for it in newer.items]
    assert data_ids(tmp_path / "d") == {got.manifest.data}


def test_no_stale_scores_after_a_rebuild_in_another_process(index_root, galleries):
    building.build_index("s", galleries["a"])
    before = service.retrieve("s", text="a red circle", k=5)
    p = child("rebuild", index_root, "s", galleries["c"])  # same size, so the same generation and count
    p.join(60)
    assert p.exitcode == 0
    out = service.retrieve("s", text="a red circle", k=5)
    idx = Index.load("s", index_root)
    q = service.text_vector(service.encoders.load("builtin"), "a red circle")
    rows = {it.id: i for i, it in enumerate(idx.items)}
    for r in out["results"]:
        assert r["score"] == pytest.approx(float(idx.embeddings[rows[r["id"]]] @ q), abs=1e-5)
    assert {r["id"] for r in out["results"]}.isdisjoint(r["id"] for r in before["results"])


def test_a_load_survives_writers_moving_on(tmp_path, monkeypatch):
    idx = Index.create("r", "fake", "fp", 4)
    idx.add(np.eye(4, dtype=np.float32), [Item(str(i), "", f"{i:040x}") for i in range(4)])
    idx.save(tmp_path)
    stale = index_mod.manifest_mod.read(tmp_path / "r")
    idx.save(tmp_path)
    idx.save(tmp_path)  # generation 1's files are gone now
    real, reads = index_mod.manifest_mod.read, []

    def read(folder):  # the reader's first look was before the two saves
        reads.append(1)
        return stale if len(reads) == 1 else real(folder)

    monkeypatch.setattr(index_mod.manifest_mod, "read", read)
    assert len(Index.load("r", tmp_path)) == 4 and len(reads) >= 2


POINTS = ["encode:1", "encode:2", "locked", "pruned", "write:vectors", "replace:vectors", "write:embeddings",
          "replace:embeddings", "write:items", "replace:items", "write:manifest", "replace:manifest", "committed"]


def test_kill_9_at_any_point_of_an_append_leaves_old_or_new(tmp_path, index_root, galleries):
    base = tmp_path / "base"
    building.build_index("k", galleries["a"])
    building.build_index("k", galleries["a2"], append=True)  # two generations on disk, as in use
    shutil.copytree(index_root, base)
    old = state(base, "k")
    full = tmp_path / "full"
    shutil.copytree(base, full)
    p = child("append", full, "k", galleries["b"])
    p.join(60)
    assert p.exitcode == 0
    new = state(full, "k")
    assert len(new) == len(old) + 70

    for point in POINTS:
        root = tmp_path / point.replace(":", "-")
        shutil.copytree(base, root)
        paused = tmp_path / f"{root.name}.paused"
        p = child("append", root, "k", galleries["b"], point, str(paused))
        deadline = time.monotonic() + 60
        while not paused.exists() and p.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert paused.exists(), f"{point}: never reached"
        p.kill()  # SIGKILL: no cleanup handler runs
        p.join(10)
        assert p.exitcode == -9
        got = state(root, "k")  # loads
        expected = new if point in ("replace:manifest", "committed") else old
        assert got.keys() == expected.keys(), point
        assert all(np.array_equal(got[k], expected[k]) for k in got), point
        current = json.loads((root / "k" / "manifest.json").read_text())["data"]
        ids = data_ids(root / "k")
        assert current in ids and len(ids) <= 2, (point, ids)
        with open(locks.lock_path(root / "k"), "a") as f:  # the kernel released the dead writer's lock
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_cache_single_flight_and_byte_bound():
    cache, calls, start = Cache(4 * 400, sized=True), [], threading.Barrier(4)

    def make():
        calls.append(1)
        time.sleep(0.2)
        return np.zeros(100, np.float32)  # 400 bytes

    def ask():
        start.wait()
        cache.get_or_make("x", make)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    for i in range(10):
        cache.get_or_make(i, lambda: np.zeros(100, np.float32))
    assert cache.size <= 4 * 400 and 9 in cache.data and 0 not in cache.data
    cache.get_or_make("huge", lambda: np.zeros(10_000, np.float32))  # over budget: served, not kept
    assert "huge" not in cache.data


def test_model_cache_keeps_the_first_model():
    models = Cache(1, keep_first=True)
    models.get_or_make("default", lambda: "d")
    models.get_or_make("other", lambda: "o")
    models.get_or_make("third", lambda: "t")
    assert "default" in models.pinned and list(models.data) == ["third"]
