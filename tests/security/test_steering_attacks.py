"""Wave 3's inputs under attack on a public server: examples, regions, strategies, path steps,
the map's events and its hover function. Each is refused with a clear message (or an error entry),
reads nothing it was not given, and leaves the server up and the shared indexes unchanged."""

from __future__ import annotations

import json
import time

import pytest

from attack import SECRET
from test_public_mode import retrieve_args, run_args, unchanged  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("public_server")


def steering(**kw):
    return retrieve_args(text="a red one", **kw)


@pytest.mark.parametrize("kw, words", [
    ({"examples": [{"id": "../../../etc/passwd", "weight": 1}]}, "is no item of index"),
    ({"examples": [{"id": {"$ne": None}, "weight": 1}]}, "must be an item id"),
    ({"examples": [{"id": "a" * 10_000, "weight": 1}]}, "at most 64 characters"),
    ({"examples": [{"id": str(i), "weight": 1} for i in range(10_000)]}, "at most 8"),
    ({"examples": [{"id": "x", "weight": "1e309"}]}, "between -10 and 10"),
    ({"examples": "DROP TABLE"}, "must be a list"),
    ({"region": {"ids": [str(i) for i in range(50_000)], "weight": 1}}, "at most 4,000"),
    ({"region": {"ids": "x" * 100}}, "needs"),
    ({"region": [1, 2, 3]}, "must be an object"),
])
def test_hostile_examples_and_regions_are_refused_fast(public_server, unchanged, kw, words):
    start = time.perf_counter()
    kind, msg = public_server.call("retrieve", steering(**kw))
    assert kind == "error" and words in str(msg), msg
    assert time.perf_counter() - start < 5 and SECRET not in str(msg)


def test_paths_and_compare_caps(public_server, unchanged):
    base = retrieve_args(text="make it blue")
    for steps in (10**9, -5, "lots", 202):
        kind, msg = public_server.call("paths", base + [steps])
        assert kind == "error" and "steps must" in str(msg), msg
    kind, out = public_server.call("paths", base + [201])
    assert kind == "complete" and "unavailable" in out[0]  # a text alone has no path: a reason, no error
    for strategies in (["early"] * 100, ["early", "__import__('os')"], {"a": 1}):
        kind, msg = public_server.call("compare", base + [strategies])
        assert kind == "error" and "strateg" in str(msg), msg


def test_map_events_take_rows_of_the_index_searched_only(public_server, unchanged):
    """The map's click and box events carry rows from the page: hostile ones change nothing
    (every output a no-op update) and say why in a warning."""
    def refused(kind, out, words):
        changes = [o for o in out if isinstance(o, dict) and set(o) - {"__type__"}]
        return kind == "complete" and not changes and any(words in w for w in public_server.warnings)

    weights = [0.5] * 8
    for data, words in ((None, "names its row"), ({"row": "0; rm -rf /"}, "names its row"),
                        ({"row": True}, "names its row"), ({"row": 10**12}, "is not in index"),
                        ({"row": -1}, "is not in index")):
        kind, out = public_server.join("clicked", ["bundled", [], *weights], event_data=data)
        assert refused(kind, out, words), (data, out, public_server.warnings)
    for data, words in (({"rows": list(range(5000))}, "1 to 4,000"), ({"rows": "all"}, "1 to 4,000"),
                        ({"rows": []}, "1 to 4,000"), ({"rows": [10**9]}, "names rows of index")):
        kind, out = public_server.join("boxed", ["bundled"], event_data=data)
        assert refused(kind, out, words), (data, out, public_server.warnings)
    # another visitor's gallery: this session has none, so it has no rows to click
    kind, out = public_server.join("clicked", ["my-uploads", [], *weights], event_data={"row": 0}, session="mallory")
    assert refused(kind, out, "no private gallery"), out
    # the steering state lives on the server: a forged one in the request is ignored
    kind, plain = public_server.join("run", run_args(text="a red one"))
    kind, forged = public_server.join("run", run_args(text="a red one", examples=[{"id": "x" * 64, "weight": 9}]))
    assert kind == "complete" and "example" not in json.dumps(forged[1]) and forged[2] == plain[2]


def test_hover_details_refuse_everything_but_a_row_of_a_shared_index(public_server, unchanged):
    good = public_server.component_server("space-map", "item_info", {"index": "bundled", "row": 3})
    assert good["image"].startswith("gradio_api/file=") and "/" not in good["image"].split("=", 1)[1][:1]
    assert str(public_server.app) not in json.dumps(good)
    for data in (None, "bundled", {"index": "bundled"}, {"index": "bundled", "row": True},
                 {"index": "bundled", "row": 10**9}, {"index": "../../etc", "row": 0},
                 {"index": "my-uploads", "row": 0}, {"index": "x" * 10_000, "row": 0}):
        out = public_server.component_server("space-map", "item_info", data)
        assert set(out) == {"error"} and SECRET not in out["error"] and str(public_server.app) not in out["error"], out
    assert public_server.alive()
