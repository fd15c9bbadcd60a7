"""Strategies side by side and rank paths through the service: each column and each grid weight
is exactly what /retrieve answers, on shared, private and on-disk indexes."""

from __future__ import annotations

import pytest

from mmdemo import service, views
from mmdemo.data import gallery
from mmdemo.errors import UserError
from mmdemo.request import Query
from test_steer import on_disk, private_copy  # noqa: F401  (fixture and helper shared)



def pink_hexagon() -> str:
    return str(gallery.bundled_dir() / "shape-0001.png")  # in the session's cache folder


def ids(rows):
    return [r["id"] for r in rows]


def test_every_column_is_what_retrieve_answers_for_that_strategy(bundled_index):
    query = Query.make(pink_hexagon(), "make it blue", negative="striped", w_image=0.4, w_text=0.6, k=8)
    out = views.compare_query(bundled_index, query)
    assert list(out["columns"]) == list(views.STRATEGIES) and not out["unavailable"]
    for mode, rows in out["columns"].items():
        alone = service.retrieve(bundled_index, pink_hexagon(), "make it blue", "striped", 0.4, 0.6, fusion_mode=mode, k=8)
        assert ids(rows) == ids(alone["results"]), mode
        assert [r["score"] for r in rows] == pytest.approx([r["score"] for r in alone["results"]], abs=2e-6)  # both rounded to 6 places
    agree = out["agreement"]
    assert agree["overlap"]["early"]["early"] == 1.0 and agree["rbo"]["late"]["rrf"] == agree["rbo"]["rrf"]["late"]
    for mode, only in out["only"].items():
        others = {i for m, rows in out["columns"].items() if m != mode for i in ids(rows)}
        assert set(only) == set(ids(out["columns"][mode])) - others
        assert all(r["only"] == (r["id"] in only) for r in out["columns"][mode])


def test_strategies_that_cannot_apply_are_absent_with_a_reason(bundled_index):
    out = views.compare_query(bundled_index, Query.make(text="a red circle", k=5))
    assert set(out["columns"]) == {"early", "late", "rrf"}
    assert "image and a text" in out["unavailable"]["delta"] and "learned" in out["unavailable"]
    private = private_copy(service.get_index(bundled_index))  # no combiner was trained for it
    mine = views.compare_query(private, Query.make(pink_hexagon(), "make it blue", k=5), ["early", "learned"])
    assert list(mine["columns"]) == ["early"] and "train-combiner" in mine["unavailable"]["learned"]
    with pytest.raises(UserError, match="unknown strategy"):
        views.compare_query(bundled_index, Query.make(text="x"), ["early", "best"])
    with pytest.raises(UserError, match="at most 5"):
        views.compare_query(bundled_index, Query.make(text="x"), ["early"] * 6)


@pytest.mark.parametrize("mode", ["early", "late", "rrf", "delta"])
def test_path_ranks_are_retrieve_at_each_grid_weight(bundled_index, mode):
    out = views.paths_query(bundled_index, Query.make(pink_hexagon(), "make it blue", fusion=mode, k=6), steps=11)
    assert len(out["weights"]) == 11 and out["axis"]["low"] == "image" and out["current"] == 0.5
    for j, w in enumerate(out["weights"]):
        alone = service.retrieve(bundled_index, pink_hexagon(), "make it blue", w_image=1 - w, w_text=w, fusion_mode=mode, k=6)
        by_rank = sorted((it["ranks"][j], it["id"]) for it in out["items"] if it["ranks"][j])
        assert [i for _, i in by_rank] == ids(alone["results"]), (mode, w)
    for it in out["items"]:
        for lo, hi in it["stable"]:
            assert 0 <= lo <= hi <= 1


def test_paths_on_disk_and_private_and_queries_without_one(bundled_index, on_disk):
    disk = views.paths_query(on_disk, Query.make(pink_hexagon(), "make it blue", k=5), steps=5)
    assert disk["items"] and len(disk["items"][0]["ranks"]) == 5
    private = private_copy(service.get_index(bundled_index))
    assert views.paths_query(private, Query.make(pink_hexagon(), "make it blue", k=5), steps=3)["items"]
    none = views.paths_query(bundled_index, Query.make(text="a red circle"), steps=3)
    assert "two positive parts" in none["unavailable"] and none["items"] == []
    learned = views.paths_query(bundled_index, Query.make(pink_hexagon(), "make it blue", fusion="learned"), steps=3)
    assert "does not use the weights" in learned["unavailable"]
    for steps in (1, 202, "many"):
        with pytest.raises(UserError, match="steps"):
            views.paths_query(bundled_index, Query.make(pink_hexagon(), "make it blue"), steps=steps)
