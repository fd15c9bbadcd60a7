import json

import numpy as np
import pytest

from mmdemo.cli import main
from mmdemo.evaluate import composed


def test_eval_zeroshot_json_has_exactly_the_promised_keys(builtin, capsys):
    assert main(["eval", "zeroshot", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"model", "color", "shape", "color_shape", "heldout_pairs", "garment"}
    assert all(0 <= out[k] <= 1 for k in out if k != "model")
    assert out["color"] >= 0.99  # regression guard on the shipped weights


def test_composed_scores_every_strategy_and_fusion_beats_single_modalities(builtin):
    task = composed.shapes_task(builtin, n_bases=6, per_base=4)
    assert len(task.gallery) == 6 * 48 and len(task.targets) == 24
    # targets differ from references in exactly the attribute the text names
    for ref, text, target in zip(task.refs, task.texts, task.targets):
        changed = {k for k in task.attrs[ref] if task.attrs[ref][k] != task.attrs[target][k]}
        assert len(changed) == 1 and task.attrs[target][changed.pop()] in text
    out = composed.score_task(builtin, task)
    for name in ("image_only", "text_only", "early", "late", "rrf", "delta"):
        assert set(out[name]) >= {"R@1", "R@10", "attr@1"}
    assert [p["w_text"] for p in out["sweep"]["early"]] == pytest.approx(list(np.arange(11) / 10))
    best_single = max(out["image_only"]["R@10"], out["text_only"]["R@10"])
    assert out["early"]["R@10"] > best_single
    assert out["image_only"]["R@1"] == 0  # the reference itself ranks first, never the target


@pytest.mark.slow
def test_full_composed_benchmark(builtin):
    out = composed.evaluate(builtin)
    assert out["shapes"]["early"]["R@10"] >= 0.95
