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
