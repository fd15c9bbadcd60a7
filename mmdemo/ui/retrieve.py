"""Retrieve tab: a fused query whose weights re-rank live as sliders move."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from mmdemo import limits, querymap, service
from mmdemo.data import gallery as gallery_mod
from mmdemo.errors import UserError
from mmdemo.ui import map as map_ui
from mmdemo.ui import queues
from mmdemo.ui.common import Settings, file_path, guarded, image_input, resolve_index, shown

HELP = """**How fusion works here.** Image and text are embedded in one shared space.
*early* averages the embeddings by weight, `q = normalize(Σ wᵢ·eᵢ)`, then searches with `q`;
*late* scores each part separately, z-normalises each part's scores over the candidates and
sums them by weight (without that normalisation it would rank exactly like early);
*rrf* sums `wᵢ / (60 + rankᵢ)`; *delta* moves the image along the text direction,
`q = w_img·e_img + w_txt·(t_target − t_source)`, with the source guessed from the image when
not given; *learned* composes image and text with a small trained combiner (model-level
fusion; the bundled index has one from the first start, others get one from
`mmdemo train-combiner --index NAME`; the sliders do not apply). A missing image or text hands
its weight to the part you gave. Negative text is subtracted. The map below the results is
the index drawn in 2-D (PCA): ■ image, ▲ text, ✕ negative, ★ the fused query, top-k ringed.
*Quality-aware* scales each weight by a measured confidence (image sharpness and size; how
clearly the text singles out some gallery items)."""

EMPTY = pd.DataFrame(columns=["#", "score", "caption", "contributions", "id"])
COLUMN_WIDTHS = ["7%", "10%", "28%", "40%", "15%"]  # fixed, so the rank header no longer wraps
CSS = """
#space-map svg { display: block; }
.space-map-note { font-size: 11px; color: #555; margin-top: 2px; }
/* Phones: the query, then the results, then the weights right below them, then the map, so a
   slider move changes what is in view; the rest follows. */
@media (max-width: 720px) {
  #retrieve-main { flex-direction: column; }
  #retrieve-controls, #retrieve-output { display: contents; }
  #retrieve-query { order: 1; } #retrieve-results { order: 2; } #retrieve-weights { order: 3; }
  #retrieve-map { order: 4; } #retrieve-more { order: 5; } #retrieve-details { order: 6; }
  #retrieve-gallery { height: 300px !important; }
  #retrieve-gallery .caption-label { white-space: nowrap !important; overflow: hidden; text-overflow: ellipsis;
                                     max-width: 95%; font-size: 10px !important; }
}
"""


def signed(value: float) -> str:
    """``+0.123``; tiny values print as +0.000, never -0.000."""
    return f"{round(value, 3) + 0.0:+.3f}"


def search(settings: Settings, index, image, text, negative, w_image, w_text, w_negative, fusion, quality,
           k, threshold, expression, source, request: gr.Request | None = None):
    """Run one fused query and place it on the map; an empty query clears the results (sliders
    move freely). A user mistake clears them too, with the message in their place, so what is
    shown always belongs to the controls as they are. A visitor's ``my-uploads`` is their
    private gallery."""
    image = file_path(image)
    idx, thumbs = resolve_index(settings, index, request)
    threshold = limits.threshold(threshold)
    args = (idx, image, text, negative, w_image, w_text, w_negative, fusion, quality, limits.k(k),
            None if threshold is None or threshold <= -1 else threshold, expression, source)
    if not image and not (text or "").strip() and not (expression or "").strip():
        return ([], "Give an image, a text, or both (or a multi-term query under Advanced).", EMPTY,
                map_ui.svg(querymap.retrieval_map(*args)))
    try:
        out = service.retrieve(*args, thumb_root=thumbs)
        space = querymap.retrieval_map(*args, result=out)
    except UserError as exc:
        gr.Warning(shown(str(exc)))
        return [], f"**Not searched:** {shown(str(exc))}", EMPTY, map_ui.EMPTY
    items, rows = [], []
    for rank, r in enumerate(out["results"], 1):
        contrib = "  ".join(f"{name} {signed(c)}" for name, c in r["parts"].items())
        head = " ".join(x for x in (f"#{rank}", f"{r['score']:.3f}", r["caption"] or r["name"]) if x)
        items.append((r["file"], f"{head} · {contrib}"))
        rows.append({"#": rank, "score": round(r["score"], 4), "caption": r["caption"] or r["name"],
                     "contributions": contrib, "id": r["id"]})
    parts = ", ".join(f"{p['name']} ({p['kind']}) w={p['weight']:+.3f}"
                      + (f" q={p['quality']:.2f}" if "quality" in p else "") for p in out["parts"])
    w = out["weights"]
    info = (f"`{out['formula']}`  \n**effective weights** image {w['image']:.2f} · text {w['text']:.2f} · "
            f"negative {w['negative']:.2f}  \n**parts** {parts}  \n"
            + (f"**delta source** {out['source']!r}  \n" if out["fusion"] == "delta" else "")
            + (f"**index defaults** {defaults_for(out['index'])}  \n" if defaults_for(out["index"]) else "")
            + f"{len(out['results'])} results from {out['candidates']} candidates in `{out['index']}` "
              f"({out['model']})")
    return items, info, pd.DataFrame(rows) if rows else EMPTY, map_ui.svg(space)


def defaults_for(index: str) -> dict:
    """Fusion defaults stored in the index's manifest (e.g. chosen by cross-validation)."""
    from mmdemo.index import read_manifest

    try:
        return read_manifest(index).defaults or {}
    except Exception:  # a missing or unreadable index simply has no defaults
        return {}


def fusion_modes(index: str, value: str) -> dict:
    """The fusion choices for an index: ``learned`` only where a combiner was trained for it;
    else the radio says why and which command trains one, instead of an error after a click."""
    from mmdemo.evaluate import learned
    from mmdemo.sessions import PRIVATE

    ready = learned.ready(index) and index != PRIVATE
    modes = [m for m in service.MODES if ready or m != "learned"]
    info = None if ready else ("learned fusion needs a shared index with a trained combiner" if index == PRIVATE
                               else learned.unavailable(index))
    return {"choices": modes, "value": value if value in modes else "early", "info": info}


def build(settings: Settings, index_choices: list[str]) -> dict:
    """Lay out the tab; return the components other tabs need."""
    start = defaults_for(settings.index)
    with gr.Row(elem_id="retrieve-main"):
        with gr.Column(scale=2, min_width=320, elem_id="retrieve-controls"):
            with gr.Column(elem_id="retrieve-query"):
                index = gr.Dropdown(index_choices, value=settings.index, label="Index", allow_custom_value=True,
                                    elem_id="retrieve-index")
                image, preview = image_input("Query image", "retrieve-image")
                text = gr.Textbox(label="Query text", placeholder="e.g. make it blue", elem_id="retrieve-text")
                negative = gr.Textbox(label="Negative text (comma-separated)", placeholder="e.g. striped",
                                      elem_id="retrieve-negative")
            with gr.Row(elem_id="retrieve-weights"):
                w_image = gr.Slider(0, 1, start.get("w_image", 0.5), step=0.05, label="Image weight",
                                    elem_id="w-image")
                w_text = gr.Slider(0, 1, start.get("w_text", 0.5), step=0.05, label="Text weight",
                                   elem_id="w-text")
                w_negative = gr.Slider(0, 1, 0.5, step=0.05, label="Negative weight", elem_id="w-negative")
            with gr.Column(elem_id="retrieve-more"):
                with gr.Row():
                    fusion = gr.Radio(label="Fusion", elem_id="fusion",
                                      **fusion_modes(settings.index, start.get("fusion", "early")))
                    quality = gr.Checkbox(False, label="Quality-aware weights")
                with gr.Row():
                    k = gr.Slider(1, 50, 12, step=1, label="Results (k)")
                    threshold = gr.Slider(-1, 1, -1, step=0.01, label="Minimum score (-1 = off)")
                with gr.Accordion("Advanced: multi-term query, delta source", open=False):
                    expression = gr.Textbox(label="Multi-term query (@image = the query image, @ID = an item)",
                                            placeholder='2:a red circle + 0.5:@image - striped')
                    source = gr.Textbox(label="Delta: what the image is now (blank = guess)", placeholder="red")
                button = gr.Button("Search", variant="primary", elem_id="retrieve-button")
        with gr.Column(scale=3, elem_id="retrieve-output"):
            with gr.Column(elem_id="retrieve-results"):
                results = gr.Gallery(label="Results", columns=4, height=520, object_fit="contain",
                                     elem_id="retrieve-gallery")
            with gr.Column(elem_id="retrieve-map"):
                space = gr.HTML(map_ui.EMPTY, label="Map of the shared space", elem_id="space-map")
            with gr.Column(elem_id="retrieve-details"):
                info = gr.Markdown(elem_id="retrieve-info")
                table = gr.Dataframe(EMPTY, label="Per-item contributions", interactive=False, wrap=True,
                                     column_widths=COLUMN_WIDTHS)

    def apply_defaults(name, current):
        d = defaults_for(name)
        return (gr.update(value=d["w_image"]) if "w_image" in d else gr.update(),
                gr.update(value=d["w_text"]) if "w_text" in d else gr.update(),
                gr.update(**fusion_modes(name, d.get("fusion", current))))

    index.change(apply_defaults, [index, fusion], [w_image, w_text, fusion], api_visibility="private")
    inputs = [index, image, text, negative, w_image, w_text, w_negative, fusion, quality, k, threshold,
              expression, source]
    outputs = [results, info, table, space]

    def run(index, image, text, negative, w_image, w_text, w_negative, fusion, quality, k, threshold,
            expression, source, request: gr.Request):
        return search(settings, index, image, text, negative, w_image, w_text, w_negative, fusion, quality,
                      k, threshold, expression, source, request)

    run = guarded(run)
    button.click(run, inputs, outputs, api_visibility="private", **queues.LIGHT)
    for box in (text, negative, expression, source):
        box.submit(run, inputs, outputs, api_visibility="private", **queues.LIGHT)
    for live in (w_image, w_text, w_negative, fusion, quality, k, threshold, image):
        live.change(run, inputs, outputs, trigger_mode="always_last", api_visibility="private",
                    show_progress="hidden", **queues.LIGHT)
    examples = _examples()
    if examples:
        gr.Examples(examples, [preview, image, text, w_image, w_text, fusion], label="Try one",
                    examples_per_page=6)
    gr.Markdown(HELP)
    return {"index": index}


def _examples() -> list[list]:
    """Bundled images with modification texts that show what fusion does."""
    folder = gallery_mod.bundled_dir()
    picks = [("shape-0001.png", "make it blue", 0.6, "early"), ("shape-0002.png", "as a star", 0.6, "early"),
             ("shape-0003.png", "make it green", 0.5, "delta"), ("garment-0000.png", "in red", 0.6, "early"),
             (None, "a yellow triangle", 1.0, "early"), ("garment-0005.png", "make it pink", 0.5, "late")]
    return [[str(folder / f) if f else None, str(folder / f) if f else None, t, round(1 - w, 2), w, m]
            for f, t, w, m in picks
            if f is None or (folder / f).exists()]
