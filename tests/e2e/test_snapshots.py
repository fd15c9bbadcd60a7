"""Golden snapshots of fixed fused queries on the bundled gallery (rclip-style).

A change in ranking shows up as a diff of tests/e2e/output_snapshots/*.json in review.
Regenerate deliberately with ``MMDEMO_UPDATE_SNAPSHOTS=1 pytest tests/e2e/test_snapshots.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mmdemo import service
from mmdemo.data import gallery

SNAPSHOTS = Path(__file__).parent / "output_snapshots"
QUERIES = {
    "text-red-circle": {"text": "a red circle"},
    "pink-hexagon-make-it-blue-early": {"image": "shape-0001.png", "text": "make it blue", "w_image": 0.4,
                                        "w_text": 0.6},
    "pink-hexagon-make-it-blue-delta": {"image": "shape-0001.png", "text": "make it blue", "w_image": 0.5,
                                        "w_text": 0.5, "fusion_mode": "delta"},
    "garment-in-red-late": {"image": "garment-0000.png", "text": "in red", "fusion_mode": "late"},
    "star-not-yellow-rrf": {"text": "a star", "negative": "yellow", "fusion_mode": "rrf"},
    "multi-term": {"expression": "2:a green one + as a triangle"},
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_snapshot(bundled_index, name):
    q = dict(QUERIES[name])
    if "image" in q:
        q["image"] = str(gallery.bundled_dir() / q["image"])
    out = service.retrieve(k=8, **q)
    got = {"query": QUERIES[name], "weights": out["weights"], "source": out["source"],
           "results": [{"id": r["id"], "caption": r["caption"], "score": round(r["score"], 3)}
                       for r in out["results"]]}
    path = SNAPSHOTS / f"{name}.json"
    if os.environ.get("MMDEMO_UPDATE_SNAPSHOTS") or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
        if not os.environ.get("MMDEMO_UPDATE_SNAPSHOTS"):
            pytest.fail(f"snapshot {path.name} was missing and has been written: review and commit it")
    want = json.loads(path.read_text())
    assert [r["id"] for r in got["results"]] == [r["id"] for r in want["results"]], \
        f"ranking of {name!r} changed; if intended, regenerate with MMDEMO_UPDATE_SNAPSHOTS=1"
    for g, w in zip(got["results"], want["results"]):
        assert g["score"] == pytest.approx(w["score"], abs=2e-3)
    assert got["weights"] == want["weights"] and got["source"] == want["source"]
