"""Evaluate tab: zero-shot accuracy and composed retrieval on held-out data, with the weight
sweep plotted; and the same on your own data, uploaded (``evaluate_own``, also behind the API's
``/evaluate`` with ``data``)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import gradio as gr
import pandas as pd

from mmdemo import access, encoders
from mmdemo.caches import Cache
from mmdemo.data.images import EXTENSIONS
from mmdemo.errors import UserError
from mmdemo.evaluate import figures, public, uploaded
from mmdemo.evaluate import run as run_evaluation
from mmdemo.ui import queues
from mmdemo.ui.common import Settings, file_path, guarded, model_picker, session_of

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


def evaluate_own(settings: Settings, what: str, model: str | None, files: list[Path], session: str,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """``eval WHAT --data`` on the visitor's upload (held in their session's space; with no
    files, on the set it already holds): the same JSON, files named as in the upload. A public
    server takes what a private gallery may hold (200 images, 50 MB by default)."""
    if what not in ("classify", "composed"):
        raise UserError(f"your own data is evaluated as classify or composed, not {str(what)[:40]!r}")
    spec = settings.policy.model(model, settings.model)
    if files:
        lim = settings.galleries.limits
        cap = (lim.images, lim.bytes) if settings.public else (settings.max_upload_files, 500 * 2**20)
        held = uploaded.hold(settings.galleries, session, files, *cap)
    else:
        held = settings.galleries.held(session)
        if held is None:
            raise UserError("upload your data first: a zip of class folders (classify), or images and "
                            "a triplets.csv (composed)")
    return public(uploaded.evaluate(what, encoders.load(spec), held, progress))


def composed_tables(result: dict, datasets=("shapes", "fashion")) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, sweep = [], []
    for dataset in datasets:
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
        shown = "; ".join(f"{s.get('file') or 'row ' + str(s.get('row'))}: {s['reason']}"
                          for s in result["skipped"][:5])
        what = "files or rows" if any("row" in s for s in result["skipped"]) else "files"
        parts.append(f"**{len(result['skipped'])} {what} skipped**, e.g. {shown}")
    for key, value in result.items():
        if isinstance(value, dict) and key != "sweep":
            parts.append(f"**{key}**\n\n" + report(value))
    return "\n\n".join(parts)


def own_outputs(what: str, result: dict) -> tuple:
    """(summary, per-class recall, heat map, strategy table, sweep plot) for an own-data run."""
    hide = gr.update(visible=False)
    if what == "classify":
        support = [sum(row) for row in result["confusion"]]
        recall = pd.DataFrame([{"class": name, "recall": None if r is None else round(r, 3), "images": n}
                               for (name, r), n in zip(result["per_class_recall"].items(), support)])
        brief = {k: v for k, v in result.items() if k not in ("per_class_recall", "confusion", "labels")}
        return (report(brief), gr.update(value=recall, visible=True),
                gr.update(value=figures.confusion(result["labels"], result["confusion"]), visible=True), hide, hide)
    data = result["data"]
    cv = data.get("cv")
    brief = {"model": result["model"], "queries": data["queries"], "gallery": data["gallery"],
             **({"5-fold CV choice (chosen on training folds)": f"{cv['chosen']['mode']} at text weight "
                 f"{cv['chosen']['w_text']:g}: held-out R@10 {cv['mean']:.3f} ± {cv['std']:.3f}"} if cv else {}),
             **({"cross-validation": result["cv_note"]} if "cv_note" in result else {}),
             "skipped": result["skipped"]}
    table, _ = composed_tables(result, ("data",))
    return (report(brief), hide, hide, gr.update(value=table, visible=True),
            gr.update(value=figures.sweep(result, ["data"]), visible=True))


def build_own(settings: Settings, model) -> None:
    """The "your own data" part of the tab."""
    lim = settings.galleries.limits
    caps = (f"at most {lim.images} images and {lim.bytes // 2**20} MB, " if settings.public else "")
    gr.Markdown("### Your own data\nA **zip of class folders** (`cat/1.jpg`, `dog/2.jpg`, …) is classified "
                "zero-shot with the folder names as labels: accuracy, macro-F1, recall per class, the confusion "
                "matrix. **Images plus a `triplets.csv`** (`reference,modifier,target`, paths inside the "
                "upload) is composed retrieval: every fusion strategy swept over the text weight, 5-fold "
                f"cross-validation choosing one. Your upload ({caps}unreadable files and bad rows listed, not "
                "fatal) stays in your session until it ends or you upload another, so you can evaluate it "
                "again with another model.")
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            what = gr.Radio([("classification (zip of class folders)", "classify"),
                             ("composed retrieval (images + triplets.csv)", "composed")], value="classify",
                            label="Your data is for", elem_id="eval-kind")
            files = gr.File(label="Zip (or images and triplets.csv)", file_count="multiple",
                            file_types=[".zip", ".csv", *EXTENSIONS], elem_id="eval-upload", height=140)
            button = gr.Button("Evaluate my data", variant="primary", elem_id="eval-own")
        with gr.Column(scale=3):
            summary = gr.Markdown(elem_id="eval-own-summary")
            recall = gr.Dataframe(label="Recall per class", interactive=False, visible=False, elem_id="eval-recall")
            heat = gr.Plot(label="Confusion matrix (colour: share of the true class)", visible=False,
                           elem_id="eval-confusion")
            table = gr.Dataframe(label="Best text weight per strategy", interactive=False, visible=False,
                                 elem_id="eval-own-table")
            sweep = gr.Plot(label="Recall@10 against the text weight (★ the 5-fold CV choice)", visible=False,
                            elem_id="eval-own-sweep")

    def evaluate_upload(what, uploads, model, request: gr.Request, progress=gr.Progress()):
        paths = [Path(p) for p in map(file_path, uploads or []) if p]
        try:
            result = evaluate_own(settings, what, model, paths, session_of(request),
                                  lambda done, total: progress((done, total), desc="encoding", unit="images"))
        finally:
            access.discard([str(p) for p in paths])  # the session holds its own copy
        return (*own_outputs(what, result), None)

    button.click(guarded(evaluate_upload), [what, files, model], [summary, recall, heat, table, sweep, files],
                 api_visibility="private", **queues.HEAVY)


def build(settings: Settings) -> None:
    model = model_picker(settings, "eval-model")
    gr.Markdown("Held-out data, generated from a seed training never used. **Composed retrieval**: a "
                "reference image plus a modification (\"make it blue\", \"as a star\", \"in red\") must "
                "find the target; every fusion strategy is swept over the text weight, 5-fold "
                "cross-validation picks mode and weight on training folds only, and a small learned "
                "combiner (model-level fusion) is trained on other images and compared, also on queries "
                "whose attribute pairs were never seen in training.")
    with gr.Row():
        zs = gr.Button("Zero-shot accuracy")
        clf = gr.Button("Classification metrics")
        comp = gr.Button("Composed retrieval + 5-fold CV + learned fusion (≈ 1-2 min on the built-in model; "
                         "~20,000 images to encode: far longer on a real CLIP)", variant="primary")
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

    def checked(model) -> str:  # a picked model is input like any other
        return settings.policy.model(model, settings.model)

    def run_simple(what, model):
        return report(evaluate(what, checked(model))), *(gr.update(visible=False),) * 3

    def run_composed(model):
        result = evaluate("composed", checked(model))
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
        saved = composed.save_to_index(evaluate_full("composed", checked(model)), name)
        service.forget_index(name)
        gr.Info(f"saved to index {name!r}: {', '.join(saved)}")
        return report({f"saved to index {name!r}": saved})

    zs.click(guarded(lambda m: run_simple("zeroshot", m)), model, outputs, api_visibility="private", **queues.HEAVY)
    clf.click(guarded(lambda m: run_simple("classify", m)), model, outputs, api_visibility="private", **queues.HEAVY)
    comp.click(guarded(run_composed), model, outputs, api_visibility="private", **queues.HEAVY)
    save.click(guarded(save_to), [target, model], summary, api_visibility="private", **queues.HEAVY)
    build_own(settings, model)
