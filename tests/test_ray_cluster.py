"""``build-index --engine ray --ray-address``: the CLI joins a running two-node Ray cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("ray")


def test_cli_joins_a_two_node_cluster_and_builds_the_in_process_index(builtin, tmp_path):
    from ray.cluster_utils import Cluster

    from mmdemo import building, paths, service
    from mmdemo.data import gallery

    src = tmp_path / "src"
    src.mkdir()
    for e in gallery.bundled_entries()[:24]:
        shutil.copy(e.file, src / e.file.name)
    (src / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    local = building.build_index("cluster-local", str(src), "builtin")

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)  # one CPU a node: the decode and encoder actors land on different nodes
    try:
        cluster.wait_for_nodes()
        env = {**os.environ, "MMDEMO_INDEX_DIR": str(paths.index_dir())}
        done = subprocess.run([sys.executable, "-m", "mmdemo", "build-index", "--source", str(src), "--name",
                               "cluster-ray", "--engine", "ray", "--ray-address", cluster.address, "--json"],
                              env=env, capture_output=True, text=True, timeout=300)
    finally:
        cluster.shutdown()
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert (report["count"], report["added"]) == (local["count"], local["added"]) == (24, 24)
    assert [s["file"] for s in report["skipped"]] == [s["file"] for s in local["skipped"]]
    a, b = service.get_index("cluster-local"), service.get_index("cluster-ray")
    assert [it.id for it in b.items] == [it.id for it in a.items]
    assert (a.embeddings == b.embeddings).mean() > 0.99
