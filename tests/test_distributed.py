"""Ray Data build (``--engine ray``) == in-process build, on a local Ray with 2 CPUs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """20 bundled images, one duplicate, one corrupt file and one non-image."""
    from mmdemo.data import gallery

    root = tmp_path_factory.mktemp("raysrc")
    entries = gallery.bundled_entries()[:20]
    for e in entries:
        shutil.copy(e.file, root / e.file.name)
    shutil.copy(entries[0].file, root / "zz-duplicate.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (root / "notes.txt").write_text("hello")
    return root


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(__import__("pathlib").Path(__file__).parent.parent)}})
    yield
    ray.shutdown()


def test_ray_build_matches_in_process(builtin, folder, ray_local):
    from mmdemo import build, distributed
    from mmdemo.data import gallery
    from mmdemo.index import Index

    entries = gallery.folder_entries(folder)
    local = Index.create("a", builtin.spec, builtin.fingerprint, builtin.dim, "Flat")
    r_local = build.build(local, entries, builtin, workers=0)
    seen = []
    remote = Index.create("b", builtin.spec, builtin.fingerprint, builtin.dim, "Flat")
    r_ray = distributed.build(remote, entries, builtin, batch_size=8, progress=lambda d, t: seen.append((d, t)))

    assert [it.id for it in remote.items] == [it.id for it in local.items]
    assert [(it.path, it.label) for it in remote.items] == [(it.path, it.label) for it in local.items]
    assert r_ray.added == r_local.added == 20
    np.testing.assert_allclose(remote.embeddings, local.embeddings, atol=2e-3)
    assert np.mean(remote.embeddings == local.embeddings) > 0.99  # fp16-rounded: nearly all bit-equal
    assert sorted(r_ray.skipped) == sorted(r_local.skipped)
    reasons = dict(r_ray.skipped)
    assert any("broken.png" in p for p in reasons) and any("notes.txt" in p for p in reasons)
    assert any("duplicate" in r for r in reasons.values())
    assert seen and seen[-1] == (23, 23)
    for q in (0, 7, 13):
        assert list(remote.search(local.embeddings[q], 5)[0]) == list(local.search(local.embeddings[q], 5)[0])


def test_shards_are_assembled_in_file_order_from_any_arrival_order(tmp_path):
    """Shards arrive as the pipeline finishes them; the index gets file order, duplicates and
    failures skipped as in process, one shard read at a time into a staging."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mmdemo import distributed, staging
    from mmdemo.build import BuildReport
    from mmdemo.data.gallery import Entry
    from mmdemo.index import Index
    from mmdemo.manifest import new_manifest

    n, dim = 10, 8
    emb = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float16)
    sha1 = [f"{i:040x}" for i in range(n)]
    sha1[8] = sha1[1]  # a duplicate of an earlier file
    reason = ["cannot read image" if i == 4 else "" for i in range(n)]
    entries = [Entry(tmp_path / f"{i}.png", f"{i}.png") for i in range(n)]
    shard_dir = tmp_path / "shards"
    shard_dir.mkdir()
    for k, rows in enumerate(([6, 7, 8, 9], [0, 1, 2], [], [3, 4, 5])):  # an empty shard too
        pq.write_table(pa.table({"row": rows, "sha1": [sha1[r] for r in rows], "reason": [reason[r] for r in rows],
                                 "embedding": pa.array([emb[r] for r in rows], pa.list_(pa.float16(), dim))}),
                       shard_dir / f"part-{k:05d}.parquet")
    manifest = new_manifest("asm", "synthetic", "fp", dim)
    report = BuildReport("asm", total=n)
    with staging.staging(manifest, n) as st:
        distributed.assemble(st, entries, shard_dir, report, chunk=4)
        got = st.to_index()
    keep = [0, 1, 2, 3, 5, 6, 7, 9]
    assert [it.path for it in got.items] == [f"{i}.png" for i in keep] and report.added == len(keep)
    assert got.embeddings.tobytes() == emb[keep].astype(np.float32).tobytes()
    assert report.skipped == [("4.png", "cannot read image"), ("8.png", "duplicate of an image already in the index")]

    (shard_dir / "part-00003.parquet").unlink()
    with pytest.raises(RuntimeError, match="7 of 10 rows"):
        distributed.assemble(Index.create("x", "synthetic", "fp", dim, "Flat"), entries, shard_dir,
                             BuildReport("x", total=n))


def test_build_index_on_ray_equals_in_process(builtin, folder, ray_local):
    """Through the service (staged on disk, then saved), both engines save the same index."""
    from mmdemo import building, service

    local = building.build_index("eng-local", str(folder), "builtin")
    ray_ = building.build_index("eng-ray", str(folder), "builtin", engine="ray")
    assert (ray_["count"], ray_["added"], len(ray_["skipped"])) == (local["count"], local["added"], 3)
    a, b = service.get_index("eng-local"), service.get_index("eng-ray")
    assert [it.id for it in b.items] == [it.id for it in a.items]
    assert np.mean(a.embeddings == b.embeddings) > 0.99


def test_ray_actors_decode_jpegs_on_their_device(builtin, tmp_path, ray_local):
    """With ``on_device`` (a GPU cluster's default; forced on these CPU actors) JPEGs travel as
    bytes and decode in the encoder actor (``device_build.decode_on_device``): the same ids, skip
    reasons and, within the decoders' rounding, embeddings as the in-process CPU build."""
    import odd_files
    from mmdemo import build, distributed
    from mmdemo.data import gallery
    from mmdemo.index import Index

    odd_files.write(tmp_path)
    keep = {"photo.jpg", "rotated.jpg", "transposed.jpg", "grey.jpeg", "duplicate.jpg", "truncated.jpg",
            "cmyk.jpg", "bomb.jpg", "page.jpg", "alpha.png", "notes.txt"}
    entries = [e for e in gallery.folder_entries(tmp_path) if e.file.name in keep]
    local = Index.create("a", builtin.spec, builtin.fingerprint, builtin.dim, "Flat")
    r_local = build.build(local, entries, builtin, workers=0, on_device=False)
    remote = Index.create("b", builtin.spec, builtin.fingerprint, builtin.dim, "Flat")
    r_ray = distributed.build(remote, entries, builtin, batch_size=4, on_device=True)
    assert [it.id for it in remote.items] == [it.id for it in local.items] and r_ray.added == r_local.added
    assert sorted(r_ray.skipped) == sorted(r_local.skipped)
    cos = (remote.embeddings.astype(np.float32) * local.embeddings.astype(np.float32)).sum(1)
    assert cos.min() >= 0.99
