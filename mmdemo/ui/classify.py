"""Classify tab: zero-shot labels for an image, fused with an optional text hint, live."""

from __future__ import annotations

import functools

import gradio as gr

from mmdemo import querymap, service
from mmdemo.classify import templates_for
from mmdemo.data.vocab import GARMENTS, SHAPES
from mmdemo.ui import bars, queues
from mmdemo.ui import map as map_ui
from mmdemo.ui.common import Settings, file_path, guarded, image_input, model_picker

DEFAULT_LABELS = "\n".join(SHAPES + GARMENTS)
PLOT = "Class probabilities"
EMPTY = bars.bar_list([], PLOT, "The probabilities appear with an image or a text hint.")


def classify_image(image, labels, text, w_image, w_text, templates, model):
    image = file_path(image)
    temps = [t.strip() for t in (templates or "").splitlines() if t.strip()] or None
    if not image and not (text or "").strip():
        return (EMPTY, "Give an image (and optionally a text hint).",
                map_ui.svg(querymap.classification_map(None, labels, None, templates=temps, model=model)))
    out = service.classify(image, labels, text, w_image, w_text, temps, model=model)
    space = querymap.classification_map(image, labels, text, w_image, w_text, temps, model, result=out)
    plot = bars.bar_list([(r["label"], r["score"]) for r in out["labels"]], PLOT)
    top = out["labels"][0]
    w = out["weights"]
    return plot, (f"**{top['label']}** ({top['score']:.1%}) · effective weights image {w['image']:.2f}, "
                f"text {w['text']:.2f} · model `{out['model']}`"), map_ui.svg(space, "labels")


def build(settings: Settings) -> None:
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            model = model_picker(settings, "classify-model")
            image, _ = image_input("Image", "classify-image")
            text = gr.Textbox(label="Text hint (fused with the image)", placeholder="e.g. it is a star")
            with gr.Row():
                w_image = gr.Slider(0, 1, 1.0, step=0.05, label="Image weight")
                w_text = gr.Slider(0, 1, 0.5, step=0.05, label="Text weight", elem_id="classify-w-text")
            labels = gr.Textbox(DEFAULT_LABELS, lines=6, max_lines=12, label="Labels (one per line)")
            templates = gr.Textbox("\n".join(templates_for(settings.model)), lines=3,
                                   label="Prompt templates ({} = label; embeddings are averaged)")
            button = gr.Button("Classify", variant="primary")
        with gr.Column(scale=3):
            summary = gr.Markdown()
            plot = gr.HTML(EMPTY, label=PLOT, show_label=True, container=True, padding=True,
                           css_template=bars.CSS, elem_id="classify-plot")
            space = gr.HTML(map_ui.EMPTY, label="Map of the labels", elem_id="classify-map")
    inputs = [image, labels, text, w_image, w_text, templates, model]

    @functools.wraps(classify_image)  # its name is the handler's api_name
    def checked(image, labels, text, w_image, w_text, templates, model):
        return classify_image(image, labels, text, w_image, w_text, templates,
                              settings.policy.model(model, settings.model))  # a picked model is input too

    handler = guarded(checked)
    button.click(handler, inputs, [plot, summary, space], api_visibility="private", **queues.LIGHT)
    for live in (w_image, w_text, image):
        live.change(handler, inputs, [plot, summary, space], trigger_mode="always_last", api_visibility="private",
                    show_progress="hidden", **queues.LIGHT)
    text.submit(handler, inputs, [plot, summary, space], api_visibility="private", **queues.LIGHT)
    if isinstance(model, gr.Dropdown):  # another model family brings its own prompt templates
        model.change(lambda m: "\n".join(templates_for(m)), model, templates, api_visibility="private",
                     show_progress="hidden", **queues.LIGHT)
