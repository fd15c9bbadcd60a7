"""What the tabs print: evaluation reports as tables, contributions without "-0.000", class
probabilities as named bars."""

from __future__ import annotations

import re

from mmdemo.ui.bars import SHOWN, bar_list
from mmdemo.ui.evaluate import report
from mmdemo.ui.results_view import signed


def test_evaluation_report_is_a_table_with_three_decimals_and_a_confusion_matrix():
    text = report({"model": "builtin", "accuracy": 0.9965277777777778, "top5": None, "labels": ["a", "b"],
                   "confusion": [[5, 1], [0, 6]], "skipped": [{"file": "x.txt", "reason": "not an image"}],
                   "shapes": {"R@1": 0.25}})
    assert "| accuracy | 0.997 |" in text and "0.99652" not in text
    assert "| **a** | 5 | 1 |" in text and "| **b** | 0 | 6 |" in text
    assert "1 files skipped" in text and "**shapes**" in text and "| R@1 | 0.250 |" in text


def test_contributions_never_print_negative_zero():
    assert signed(-0.0001) == "+0.000" and signed(-0.0126) == "-0.013" and signed(0.5) == "+0.500"


def test_class_probabilities_are_named_bars_best_first_with_values_and_the_rest_folded():
    rows = [(f"label {i}", i / 100) for i in range(12)] + [("<b>bold</b>", 0.5)]
    html = bar_list(rows, "Class probabilities")
    names = re.findall(r'class="mm-bars-name">([^<]*)<', html)
    assert names[:3] == ["&lt;b&gt;bold&lt;/b&gt;", "label 11", "label 10"] and len(names) == 13
    assert re.findall(r'class="mm-bars-value">([^<]*)<', html)[:2] == ["50.0%", "11.0%"]
    shown, rest = html.split("<details")
    assert shown.count("<li>") == SHOWN and "3 more</summary>" in rest and 'start="11"' in rest
    assert 'aria-label="Class probabilities, highest first"' in shown and 'aria-hidden="true"' in shown
    assert 'style="width:50.0%"' in html and "Nothing yet" in bar_list([], "x", "Nothing yet")


def test_learned_fusion_is_offered_only_where_a_combiner_was_trained(bundled_index, tmp_path):
    from PIL import Image

    from mmdemo import building, service
    from mmdemo.sessions import PRIVATE
    from mmdemo.ui.retrieve import fusion_modes

    assert fusion_modes("bundled", "learned") == {"choices": list(service.MODES), "value": "learned", "info": None}
    for colour in ("red", "blue"):
        Image.new("RGB", (16, 16), colour).save(tmp_path / f"{colour}.png")
    building.build_index("ui-no-combiner", str(tmp_path))
    bare = fusion_modes("ui-no-combiner", "learned")
    assert "learned" not in bare["choices"] and bare["value"] == "early"
    assert "`mmdemo train-combiner --index ui-no-combiner`" in bare["info"]
    assert "learned" not in fusion_modes(PRIVATE, "delta")["choices"] and fusion_modes(PRIVATE, "delta")["value"] == "delta"
    building.remove_index("ui-no-combiner")
