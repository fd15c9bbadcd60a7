import numpy as np
import pytest

from mmdemo.evaluate import metrics

# 3 queries over a gallery of 5; targets 2, 0, 4
SCORES = np.array([[0.1, 0.2, 0.9, 0.3, 0.0],   # target 2 ranked 1st
                   [0.5, 0.9, 0.1, 0.8, 0.2],   # target 0 ranked 3rd
                   [0.9, 0.8, 0.7, 0.6, 0.5]])  # target 4 ranked 5th
TARGETS = [2, 0, 4]


def test_recall_at_k_by_hand():
    assert metrics.recall_at_k(SCORES, TARGETS, 1) == pytest.approx(1 / 3)
    assert metrics.recall_at_k(SCORES, TARGETS, 3) == pytest.approx(2 / 3)
    assert metrics.recall_at_k(SCORES, TARGETS, 5) == 1.0


def test_mrr_by_hand():
    assert metrics.mrr(SCORES, TARGETS) == pytest.approx((1 + 1 / 3 + 1 / 5) / 3)


def test_map_at_k_by_hand():
    # query 0: relevant {2, 3}: ranks 1 and 2 -> AP = (1/1 + 2/2) / 2 = 1
    # query 1: relevant {0, 4}: ranks 3 and 4 -> top-3 has one hit at 3 -> (1/3) / 2
    relevant = [[2, 3], [0, 4]]
    assert metrics.map_at_k(SCORES[:2], relevant, 3) == pytest.approx((1 + (1 / 3) / 2) / 2)


def test_classification_by_hand():
    y = [0, 0, 1, 2]
    scores = np.array([[.8, .1, .1], [.2, .7, .1], [.1, .8, .1], [.3, .3, .4]])
    out = metrics.classification(y, scores, ["a", "b", "c"])
    assert out["accuracy"] == 0.75
    # precision: a 1/1, b 1/2, c 1/1 -> 5/6; recall: a 1/2, b 1, c 1 -> 5/6
    assert out["precision"] == pytest.approx(5 / 6) and out["recall"] == pytest.approx(5 / 6)
    assert out["f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert out["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert out["top5"] is None  # meaningless with ≤ 5 classes
    # 6 classes, 2 samples of class 0: ranked 2nd (in the top 5) and 6th (out of it)
    six = np.array([[.5, .6, .1, .1, .1, .1], [.0, .6, .5, .4, .3, .2]])
    assert metrics.classification([0, 0], six, list("abcdef"))["top5"] == 0.5
