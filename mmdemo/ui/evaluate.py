"""Evaluate tab: zero-shot accuracy and composed retrieval, with the weight sweep plotted."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from mmdemo import encoders
from mmdemo.service import LRU
from mmdemo.ui.common import Settings, guarded

_RESULTS = LRU(8)  # (what, fingerprint) -> result: evaluation is deterministic per model
STRATEGIES = ("image_only", "text_only", "early", "late", "rrf", "delta")


def evaluate(what: str, model: str) -> dict:
    """The same JSON as ``python -m mmdemo eval WHAT --json``, cached per model."""
    encoder = encoders.load(model)

    def run():
        if what == "zeroshot":
            from mmdemo.evaluate import zeroshot

            return zeroshot.evaluate(encoder)
        if what == "composed":
            from mmdemo.evaluate import composed

            return composed.evaluate(encoder)
        raise gr.Error(f"unknown evaluation {what!r}: zeroshot or composed")

    return _RESULTS.get_or_make((what, encoder.fingerprint), run)


def composed_tables(result: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, sweep = [], []
    for dataset in ("shapes", "fashion"):
        for name in STRATEGIES:
            r = result[dataset][name]
            rows.append({"data": dataset, "strategy": name, "R@1": r["R@1"], "R@10": r["R@10"],
                         "attr@1": r["attr@1"], "w_text": r.get("w_text", "")})
        for mode, points in result[dataset]["sweep"].items():
            for p in points:
                sweep.append({"w_text": p["w_text"], "R@10": p["R@10"], "series": f"{dataset} · {mode}"})
    return pd.DataFrame(rows), pd.DataFrame(sweep)


def build(settings: Settings) -> None:
    model = gr.State(settings.model)
    gr.Markdown("Held-out data, generated from a seed training never used. **Composed retrieval**: a "
                "reference image plus a modification (\"make it blue\", \"as a star\", \"in red\") must "
                "find the target; every fusion strategy is swept over the text weight.")
    with gr.Row():
        zs = gr.Button("Zero-shot accuracy")
        comp = gr.Button("Composed retrieval (≈ 1 min on 2 cores)", variant="primary")
    summary = gr.JSON(label="Result")
    metrics = gr.Dataframe(label="Best weight per strategy", interactive=False)
    plot = gr.LinePlot(x="w_text", y="R@10", color="series", height=380, y_lim=[0, 1],
                       label="Recall@10 against text weight", elem_id="eval-sweep")

    def run_zeroshot(model):
        return evaluate("zeroshot", model), gr.update(), gr.update()

    def run_composed(model):
        result = evaluate("composed", model)
        table, sweep = composed_tables(result)
        brief = {d: {s: result[d][s] for s in STRATEGIES} for d in ("shapes", "fashion")}
        return brief, table, sweep

    zs.click(guarded(run_zeroshot), model, [summary, metrics, plot], api_visibility="private")
    comp.click(guarded(run_composed), model, [summary, metrics, plot], api_visibility="private")
