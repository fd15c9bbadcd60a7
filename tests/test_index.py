import json

import faiss
import numpy as np
import pytest

from mmdemo import index as index_mod
from mmdemo import locks
from mmdemo.errors import UserError
from mmdemo.index import Index, Item, delete_index, list_indexes


def unit_rows(n, d=16, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def items(n, start=0):
    return [Item(f"{i:016x}", f"/img/{i}.png", f"{i:040x}", f"caption {i}") for i in range(start, start + n)]


def make(name="t", n=200, factory=None, seed=0):
    idx = Index.create(name, "fake:model", "fp-a", 16, factory)
    idx.add(unit_rows(n, seed=seed), items(n))
    return idx


def test_save_load_roundtrip_gives_identical_results(tmp_path):
    idx = make()
    q = unit_rows(5, seed=9)
    before = [idx.search(v, 10) for v in q]
    idx.save(tmp_path)
    again = Index.load("t", tmp_path, fingerprint="fp-a")
    for v, (rows, scores) in zip(q, before):
        r2, s2 = again.search(v, 10)
        assert r2.tolist() == rows.tolist()
        assert np.array_equal(s2, scores)
    assert [it.id for it in again.items] == [it.id for it in idx.items]
    assert np.array_equal(again.embeddings, idx.embeddings)
    m = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert {"format_version", "model", "fingerprint", "dim", "count", "factory", "created", "updated"} <= set(m)
    assert m["count"] == 200 and m["factory"] == "Flat" and m["dim"] == 16


def test_crash_mid_save_leaves_the_previous_index_loadable(tmp_path, monkeypatch):
    idx = make()
    idx.save(tmp_path)
    first = json.loads((tmp_path / "t" / "manifest.json").read_text())["data"]
    idx.add(unit_rows(50, seed=1), items(50, start=1000))

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated crash)")

    monkeypatch.setattr(np, "save", crash)  # embeddings are written after the FAISS file
    with pytest.raises(OSError, match="simulated"):
        idx.save(tmp_path)
    monkeypatch.undo()
    old = Index.load("t", tmp_path)
    assert len(old) == 200
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "t").iterdir())
    idx.save(tmp_path)  # the next save succeeds and cleans up the half-written generation
    assert len(Index.load("t", tmp_path)) == 250
    data = json.loads((tmp_path / "t" / "manifest.json").read_text())["data"]
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == sorted(  # the new one and its previous
        ["manifest.json"] + [f"{kind}-{d}.{ext}" for d in (first, data)
                             for kind, ext in (("embeddings", "npy"), ("items", "jsonl"), ("vectors", "faiss"))])


def test_crash_while_replacing_the_manifest_keeps_the_old_one(tmp_path, monkeypatch):
    idx = make()
    idx.save(tmp_path)
    idx.add(unit_rows(10, seed=2), items(10, start=500))
    real = locks.os.replace

    def replace(src, dst):
        if str(dst).endswith("manifest.json"):
            raise OSError("power cut (simulated)")
        return real(src, dst)

    monkeypatch.setattr(locks.os, "replace", replace)
    with pytest.raises(OSError):
        idx.save(tmp_path)
    monkeypatch.undo()
    assert len(Index.load("t", tmp_path)) == 200


def test_incremental_add_and_duplicate_skip(tmp_path):
    idx = make(n=20)
    added, skipped = idx.add(unit_rows(5, seed=3), items(3, start=18) + items(2, start=100))
    assert added == 3 and [s.id for s in skipped] == [f"{18:016x}", f"{19:016x}"]
    assert len(idx) == 23 and idx.vectors.ntotal == 23
    rows, scores = idx.search(idx.embeddings[21], 1)
    assert rows.tolist() == [21] and scores[0] == pytest.approx(1.0, abs=1e-3)


def test_remove_by_id(tmp_path):
    idx = make(n=30)
    assert idx.remove([f"{3:016x}", "nope"]) == 1
    assert len(idx) == 29 and idx.vectors.ntotal == 29
    assert f"{3:016x}" not in {it.id for it in idx.items}


def test_model_mismatch_is_refused_naming_both_models(tmp_path):
    make().save(tmp_path)
    with pytest.raises(UserError, match=r"built with model 'fake:model'.*'other:model'"):
        Index.load("t", tmp_path, model="other:model", fingerprint="fp-b")


@pytest.mark.parametrize("name", ["../evil", "a/b", "/abs", "..", ".hidden", "", "a" * 65, "x..y"])
def test_index_names_are_validated(tmp_path, name):
    with pytest.raises(UserError, match="invalid index name"):
        Index.create(name, "m", "f", 4)
    with pytest.raises(UserError):
        Index.load(name, tmp_path)


def test_ann_factories_and_candidate_union(tmp_path):
    emb = unit_rows(2000, seed=4)
    for factory in ("HNSW32", "IVF16,Flat"):
        idx = Index.create("ann", "fake:model", "fp-a", 16, factory)
        idx.add(emb, items(2000))
        assert not idx.exact
        v = emb[[7, 8]]
        cand = idx.candidates(v, np.array([1.0, -1.0]), pool=50)
        assert 7 in cand.rows and len(cand.rows) <= 50
        np.testing.assert_allclose(cand.scores, v @ idx.embeddings[cand.rows].T, rtol=1e-6)
        idx.save(tmp_path)
        assert Index.load("ann", tmp_path).search(emb[7], 1)[0].tolist() == [7]


def test_bad_factory_and_too_little_training_data():
    with pytest.raises(UserError, match="invalid FAISS factory"):
        make(factory="NoSuchIndex")
    with pytest.raises(UserError, match="needs training data"):
        make(n=10, factory="IVF4,Flat")


def test_default_factory_is_exact_below_the_limit():
    assert index_mod.default_factory(10) == "Flat"
    assert index_mod.default_factory(index_mod.EXACT_LIMIT) == "HNSW32"


def test_list_and_delete(tmp_path):
    make("one").save(tmp_path)
    make("two").save(tmp_path)
    (tmp_path / "junk").mkdir()
    assert [m.name for m in list_indexes(tmp_path)] == ["one", "two"]
    delete_index("one", tmp_path)
    assert [m.name for m in list_indexes(tmp_path)] == ["two"]
    with pytest.raises(UserError, match="no index named"):
        delete_index("one", tmp_path)


def test_gpu_is_used_only_when_faiss_sees_one():
    assert index_mod._use_gpu("Flat") == (hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0)
    assert not index_mod._use_gpu("HNSW32")
