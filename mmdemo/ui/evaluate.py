"""Evaluate tab: zero-shot accuracy and composed retrieval, with the weight sweep plotted."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from mmdemo import encoders
from mmdemo.evaluate import public
from mmdemo.evaluate import run as run_evaluation
from mmdemo.caches import Cache
from mmdemo.ui import queues
from mmdemo.ui.common import Settings, guarded

_RESULTS = Cache(8)  # (what, fingerprint) -> result: deterministic per model; computed once (single flight)
SWEEP_CAPTION = ("Recall@10 (0 to 1) of each fusion mode on the held-out shapes and fashion sets as the "
                 "text weight goes from 0 to 1; the table below lists every point.")
STRATEGIES = ("image_only", "text_only", "early", "late", "rrf", "delta", "learned", "learned_multitask")


def evaluate_full(what: str, model: str) -> dict:
    """``eval WHAT`` (composed: with 5-fold CV and the learned combiners), cached per model."""
    encoder = encoders.load(model)
    return _RESULTS.get_or_make((what, encoder.fingerprint), lambda: run_evaluation(what, encoder, folds=5))


def evaluate(what: str, model: str) -> dict:
    """The same JSON as ``python -m mmdemo eval WHAT --json``."""
    return public(evaluate_full(what, model))


def composed_tables(result: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, sweep = [], []
    for dataset in ("shapes", "fashion"):
        unseen = result[dataset].get("unseen", {})
        for name in STRATEGIES:
            if name not in result[dataset]:
                continue
            r = result[dataset][name]
            rows.append({"data": dataset, "strategy": name, "R@1": round(r["R@1"], 3), "R@10": round(r["R@10"], 3),
                         "attr@1": round(r["attr@1"], 3), "w_text": r.get("w_text", ""),
                         "unseen R@1": round(unseen[name]["R@1"], 3) if name in unseen else ""})
        for mode, points in result[dataset]["sweep"].items():
            for p in points:
                sweep.append({"w_text": p["w_text"], "R@10": p["R@10"], "series": f"{dataset} · {mode}"})
    return pd.DataFrame(rows), pd.DataFrame(sweep)


def report(result: dict) -> str:
    """An evaluation's JSON as Markdown: one row per number (3 decimals), the confusion matrix as
    a table, skipped files counted; nested sections recurse under their own heading."""
    rows, parts = [], []
    for key, value in result.items():
        if key in ("labels", "confusion", "skipped", "sweep") or isinstance(value, (list, dict)):
            continue
        rows.append(f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |")
    if rows:
        parts.append("| metric | value |\n| --- | --- |\n" + "\n".join(rows))
    if "confusion" in result:
        labels = result["labels"]
        head = "| true \\ predicted | " + " | ".join(labels) + " |\n|" + " --- |" * (len(labels) + 1)
        body = "\n".join(f"| **{name}** | " + " | ".join(str(c) for c in row) + " |"
                         for name, row in zip(labels, result["confusion"]))
        parts.append("**Confusion matrix**\n\n" + head + "\n" + body)
    if result.get("skipped"):
        shown = "; ".join(f"{s['file']}: {s['reason']}" for s in result["skipped"][:5])
        parts.append(f"**{len(result['skipped'])} files skipped**, e.g. {shown}")
    for key, value in result.items():
        if isinstance(value, dict) and key != "sweep":
            parts.append(f"**{key}**\n\n" + report(value))
    return "\n\n".join(parts)


def build(settings: Settings) -> None:
    model = gr.State(settings.model)
    gr.Markdown("Held-out data, generated from a seed training never used. **Composed retrieval**: a "
                "reference image plus a modification (\"make it blue\", \"as a star\", \"in red\") must "
                "find the target; every fusion strategy is swept over the text weight, 5-fold "
                "cross-validation picks mode and weight on training folds only, and a small learned "
                "combiner (model-level fusion) is trained on other images and compared, also on queries "
                "whose attribute pairs were never seen in training.")
    with gr.Row():
        zs = gr.Button("Zero-shot accuracy")
        clf = gr.Button("Classification metrics")
        comp = gr.Button("Composed retrieval + 5-fold CV + learned fusion (≈ 1-2 min)", variant="primary")
    with gr.Row():
        target = gr.Dropdown([settings.index], value=settings.index, allow_custom_value=True, scale=2,
                             label="Index to keep the learned combiner and the CV weights (as its defaults)")
        save = gr.Button("Save to index", scale=1)
    summary = gr.Markdown("Pick an evaluation above; its results appear here.", elem_id="eval-summary")
    metrics = gr.Dataframe(label="Best weight per strategy", interactive=False, visible=False)
    # No fixed height: at 380 px the legend and the caption were cut off below the axis.
    plot = gr.LinePlot(x="w_text", y="R@10", color="series", y_lim=[0, 1], visible=False,
                       label="Recall@10 against text weight", elem_id="eval-sweep", caption=SWEEP_CAPTION)
    points = gr.Dataframe(label="The sweep as a table: Recall@10 per text weight (rows) and series (columns)",
                          interactive=False, visible=False, elem_id="eval-sweep-table")
    outputs = [summary, metrics, plot, points]

    def run_simple(what, model):
        return report(evaluate(what, model)), *(gr.update(visible=False),) * 3

    def run_composed(model):
        result = evaluate("composed", model)
        table, sweep = composed_tables(result)
        brief = {**({"cross-validation (mode and text weight chosen on training folds; held-out R@10)":
                     result["cv"]} if result.get("cv") else {}),
                 **{d: {"unseen-pair queries": result[d]["unseen"]["queries"]} for d in ("shapes", "fashion")}}
        wide = sweep.pivot(index="w_text", columns="series", values="R@10").round(3).reset_index()
        return report(brief), *(gr.update(value=v, visible=True) for v in (table, sweep, wide))

    def save_to(name, model):
        from mmdemo import service
        from mmdemo.evaluate import composed

        settings.policy.require_write(None, "saving to a shared index")
        saved = composed.save_to_index(evaluate_full("composed", model), name)
        service.forget_index(name)
        gr.Info(f"saved to index {name!r}: {', '.join(saved)}")
        return report({f"saved to index {name!r}": saved})

    zs.click(guarded(lambda m: run_simple("zeroshot", m)), model, outputs, api_visibility="private", **queues.HEAVY)
    clf.click(guarded(lambda m: run_simple("classify", m)), model, outputs, api_visibility="private", **queues.HEAVY)
    comp.click(guarded(run_composed), model, outputs, api_visibility="private", **queues.HEAVY)
    save.click(guarded(save_to), [target, model], summary, api_visibility="private", **queues.HEAVY)
