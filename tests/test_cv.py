import numpy as np
import pytest

from mmdemo.evaluate import cv


def table(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return {(m, w): rng.random(n) for m in ("early", "late") for w in (0.2, 0.5, 0.8)}


def test_choice_uses_training_folds_only():
    """Leak test: rewriting every held-out score never changes what a fold chose."""
    per_query = table()
    base = cv.cross_validate(per_query, k=5, seed=3)
    from sklearn.model_selection import KFold

    splits = list(KFold(5, shuffle=True, random_state=3).split(np.arange(50)))
    for fold, (train, test) in zip(base["folds"], splits):
        poisoned = {c: v.copy() for c, v in per_query.items()}
        for c in poisoned:  # make a different config look perfect on the test rows only
            poisoned[c][test] = 1.0 if c != (fold["mode"], fold["w_text"]) else 0.0
        again = cv.cross_validate(poisoned, k=5, seed=3)
        i = base["folds"].index(fold)
        assert (again["folds"][i]["mode"], again["folds"][i]["w_text"]) == (fold["mode"], fold["w_text"])
        assert cv.choose(per_query, train) == (fold["mode"], fold["w_text"])


def test_report_has_mean_and_spread_and_picks_the_true_best():
    n = 100
    per_query = {("early", w): (np.arange(n) % 10 < round(10 * (1 - abs(w - 0.6)))).astype(float)
                 for w in (0.2, 0.4, 0.6, 0.8)}
    out = cv.cross_validate(per_query, k=5)
    assert out["chosen"] == {"mode": "early", "w_text": 0.6}
    assert out["mean"] == pytest.approx(1.0) and out["std"] == pytest.approx(0.0)
    assert len(out["folds"]) == 5 and sum(f["size"] for f in out["folds"]) == n


def test_bad_k():
    with pytest.raises(ValueError, match="2 ≤ k"):
        cv.cross_validate(table(n=3), k=5)
