"""Evaluation: zero-shot accuracy, classification metrics and composed retrieval on data
training never saw (or on your own)."""

from __future__ import annotations

from typing import Callable

from mmdemo.errors import UserError

WHATS = ("zeroshot", "composed", "classify")
Progress = Callable[[int, int], None]


def run(what: str, encoder, data: str | None = None, folds: int = 0, learned: bool = True,
        progress: Progress | None = None) -> dict:
    """The result of ``eval WHAT``: one dispatch for the CLI, the Evaluate tab and the API.
    ``progress(done, total)`` counts the images of ``data`` as they are encoded."""
    if what == "zeroshot":
        from mmdemo.evaluate import zeroshot

        return zeroshot.evaluate(encoder)
    if what == "classify":
        from mmdemo.evaluate import classify

        return classify.evaluate(encoder, data, progress)
    if what == "composed":
        from mmdemo.evaluate import composed

        if data:
            task, skipped = composed.folder_task(encoder, data, progress)
            n = len(task.targets)
            out = {"model": encoder.spec, "data": composed.score_task(encoder, task, folds=folds if n >= folds else 0),
                   "skipped": skipped}
            if n < folds:
                out["cv_note"] = f"{folds}-fold cross-validation needs at least {folds} usable triplets; this set has {n}"
            return out
        return composed.evaluate(encoder, folds=folds, learned=learned)
    raise UserError(f"unknown evaluation {what!r}: choose one of {', '.join(WHATS)}")


def public(result: dict, sweep: bool = True) -> dict:
    """What gets printed or served: private keys (the trained combiner) dropped, and the
    per-weight sweeps too unless asked for."""
    out = {k: v for k, v in result.items() if not k.startswith("_")}
    if not sweep:
        out = {k: {kk: vv for kk, vv in v.items() if kk != "sweep"} if isinstance(v, dict) else v
               for k, v in out.items()}
    return out
