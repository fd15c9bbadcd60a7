"""Out-of-core index: IVF-PQ merged on disk, mmap'd fp16 embeddings, fused queries vs exact."""

from __future__ import annotations

import numpy as np
import pytest

from mmdemo import fusion, gpu, loader, ondisk, querymap, spacemap, synthetic
from mmdemo.index import Index, Item
from mmdemo.manifest import Manifest
from mmdemo.fusion import Part

N, DIM = 12_000, 64


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("ondisk")
    emb = synthetic.clustered(N, DIM, n_clusters=60)
    items = ({"id": f"{i:016x}", "path": f"img/{i}.jpg", "sha1": f"{i:040x}", "caption": f"c{i}"} for i in range(N))
    plan = ondisk.plan(N, DIM, max_memory=1 << 20)
    old = ondisk.SHARD_ROWS
    ondisk.SHARD_ROWS = 5_000  # three shards, merged on disk
    try:
        m = ondisk.write(root / "big", Manifest("big", "synthetic", "fp", DIM, ""), emb, items, plan)
    finally:
        ondisk.SHARD_ROWS = old
    return root, emb, m


def test_plan_by_budget():
    assert ondisk.plan(10_000, 512, ondisk.parse_bytes("1G")) is None  # fits in memory: Flat
    p = ondisk.plan(1_000_000, 512, ondisk.parse_bytes("1.5G"))
    assert p.factory == "IVF1024,PQ64" and p.nprobe >= 32
    assert ondisk.plan(1_000_000, 512, ondisk.parse_bytes("1.5G"), opq=True).factory.startswith("OPQ64,")
    with pytest.raises(Exception, match="memory size"):
        ondisk.parse_bytes("lots")


def test_layout_and_load(built):
    root, emb, m = built
    assert m.storage == "ondisk" and m.count == N
    idx = loader.load("big", root)
    assert isinstance(idx, ondisk.OnDiskIndex)
    assert isinstance(idx.embeddings, np.memmap) and idx.embeddings.dtype == np.float16
    np.testing.assert_array_equal(idx.embeddings[123], emb[123].astype(np.float16))
    ivf = __import__("faiss").extract_index_ivf(idx.vectors)
    faiss = __import__("faiss")
    assert isinstance(faiss.downcast_InvertedLists(ivf.invlists), faiss.OnDiskInvertedLists) and ivf.ntotal == N
    assert idx.items[77].path == "img/77.jpg" and idx.items[-1].id == f"{N - 1:016x}"
    assert len(idx) == N and sum(1 for _ in idx.items) == N
    with pytest.raises(Exception, match="read-only"):
        idx.add(emb[:1], [Item("x", "x", "x")])


def test_fused_query_recall_vs_exact(built):
    root, emb, _ = built
    idx = loader.load("big", root)
    exact = Index(Manifest("flat", "synthetic", "fp", DIM, "Flat"), [Item(str(i), "", str(i)) for i in range(N)],
                  emb.astype(np.float16).astype(np.float32))
    rng = np.random.default_rng(1)
    hits = 0
    for q in range(20):
        a, b = emb[rng.integers(N)], emb[rng.integers(N)]
        parts = [Part("a", "image", a), Part("b", "text", b)]
        vectors, directions = np.stack([a, b]), np.ones(2)
        got = fusion.fuse(idx.candidates(vectors, directions), parts, {"image": 0.5, "text": 0.5}, k=10)
        want = fusion.fuse(exact.candidates(vectors, directions), parts, {"image": 0.5, "text": 0.5}, k=10)
        hits += len(set(got.rows.tolist()) & set(want.rows.tolist()))
        exact_of = dict(zip(want.rows.tolist(), want.scores.tolist()))
        for row, score in zip(got.rows.tolist(), got.scores.tolist()):  # re-scored exactly
            assert row not in exact_of or abs(exact_of[row] - score) < 1e-5
    assert hits / 200 >= 0.9, hits / 200


def test_rows_are_read_exactly_without_the_map(built):
    root, emb, _ = built
    idx = loader.load("big", root)
    rows = np.array([0, 5, 4_999, 5_000, N - 1])
    np.testing.assert_array_equal(idx.read_rows(rows), emb[rows].astype(np.float16))
    assert idx.read_rows(np.zeros(0, np.int64)).shape == (0, DIM)


def test_map_of_an_on_disk_index_reads_only_its_sample(built):
    root, emb, _ = built
    idx = loader.load("big", root)
    proj, labels = querymap.projection(idx)
    assert len(proj.rows) == len(proj.coords) == len(labels) == spacemap.MAX_POINTS < N and proj.count == N
    assert labels[:3] == [f"c{r}" for r in proj.rows[:3]]
    np.testing.assert_allclose(proj.coords[:5], proj.place(emb[proj.rows[:5]].astype(np.float16)), atol=1e-4)
    outside = next(r for r in range(N) if r not in set(proj.rows.tolist()))  # a top result the sample missed
    items = querymap._items(proj, labels, [(outside, np.array([0.5, -0.5]), "top")])
    assert outside in items["rows"] and items["rows"] == sorted(items["rows"])
    assert items["label"][items["rows"].index(outside)] == "top" and len(items["rows"]) == spacemap.MAX_POINTS + 1
    assert spacemap.fit(emb[:3]).rows.tolist() == [0, 1, 2]  # a small index: every item drawn


def test_appending_to_an_on_disk_index_is_refused_before_encoding(builtin, monkeypatch):
    from mmdemo import build, building, paths

    n = ondisk.MIN_ONDISK
    emb = synthetic.clustered(n, builtin.dim, n_clusters=20)
    items = ({"id": f"{i:016x}", "path": f"img/{i}.jpg", "sha1": f"{i:040x}"} for i in range(n))
    ondisk.write(paths.index_dir() / "big-builtin", Manifest("big-builtin", builtin.spec, builtin.fingerprint,
                 builtin.dim, ""), emb, items, ondisk.plan(n, builtin.dim, 1 << 20))
    monkeypatch.setattr(build, "build", lambda *a, **k: pytest.fail("encoded before refusing"))
    with pytest.raises(Exception, match="read-only"):
        building.build_index("big-builtin", "bundled", "builtin", append=True)


def test_torch_scoring_matches_numpy():
    pytest.importorskip("torch")
    emb = synthetic.clustered(3000, 32, n_clusters=10).astype(np.float16)
    q = synthetic.clustered(3, 32, n_clusters=10, seed=5)
    scorer = gpu.Scorer(emb, device="cpu")
    np.testing.assert_allclose(scorer.all(q), q @ emb.astype(np.float32).T, atol=1e-3)
    rows = np.array([5, 17, 2999])
    np.testing.assert_allclose(scorer.rows(q, rows), gpu.score(q, emb, rows), atol=1e-3)
    scorer.resident = None  # the streamed (not device-resident) path
    np.testing.assert_allclose(scorer.all(q), q @ emb.astype(np.float32).T, atol=1e-3)
