"""Retrieve tab: a fused query whose weights re-rank live as sliders move."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from mmdemo import service
from mmdemo.data import gallery as gallery_mod
from mmdemo.ui import queues
from mmdemo.ui.common import Settings, file_path, guarded, image_input, resolve_index

HELP = """**How fusion works here.** Image and text are embedded in one shared space.
*early* averages the embeddings by weight, `q = normalize(Σ wᵢ·eᵢ)`, then searches with `q`;
*late* scores each part separately, z-normalises each part's scores over the candidates and
sums them by weight (without that normalisation it would rank exactly like early);
*rrf* sums `wᵢ / (60 + rankᵢ)`; *delta* moves the image along the text direction,
`q = w_img·e_img + w_txt·(t_target − t_source)`, with the source guessed from the image when
not given; *learned* composes image and text with a small trained combiner (model-level
fusion; train it in the Evaluate tab; the sliders do not apply). A missing image or text hands its weight to the part you gave. Negative text is
subtracted. *Quality-aware* scales each weight by a measured confidence (image sharpness and
size; how clearly the text singles out some gallery items)."""

EMPTY = pd.DataFrame(columns=["rank", "score", "caption", "contributions", "id"])


def search(settings: Settings, index, image, text, negative, w_image, w_text, w_negative, fusion, quality,
           k, threshold, expression, source, request: gr.Request | None = None):
    """Run one fused query; an empty query just clears the results (sliders move freely)."""
    image = file_path(image)
    if not image and not (text or "").strip() and not (expression or "").strip():
        return [], "Give an image, a text, or both (or a multi-term query under Advanced).", EMPTY
    idx, thumbs = resolve_index(settings, index, request)
    out = service.retrieve(idx, image, text, negative, w_image, w_text, w_negative, fusion, quality,
                           int(k), None if threshold is None or threshold <= -1 else threshold,
                           expression, source, thumb_root=thumbs)
    items, rows = [], []
    for rank, r in enumerate(out["results"], 1):
        contrib = "  ".join(f"{name} {c:+.3f}" for name, c in r["parts"].items())
        items.append((r["file"], f"#{rank} {r['score']:.3f} · {r['caption'] or r['name']} · {contrib}"))
        rows.append({"rank": rank, "score": round(r["score"], 4), "caption": r["caption"] or r["name"],
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
    return items, info, pd.DataFrame(rows) if rows else EMPTY


def defaults_for(index: str) -> dict:
    """Fusion defaults stored in the index's manifest (e.g. chosen by cross-validation)."""
    from mmdemo.index import read_manifest

    try:
        return read_manifest(index).defaults or {}
    except Exception:  # a missing or unreadable index simply has no defaults
        return {}


def build(settings: Settings, index_choices: list[str]) -> dict:
    """Lay out the tab; return the components other tabs need."""
    start = defaults_for(settings.index)
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            index = gr.Dropdown(index_choices, value=settings.index, label="Index", allow_custom_value=True,
                                elem_id="retrieve-index")
            image = image_input("Query image", "retrieve-image")
            text = gr.Textbox(label="Query text", placeholder="e.g. make it blue", elem_id="retrieve-text")
            negative = gr.Textbox(label="Negative text (comma-separated)", placeholder="e.g. striped")
            with gr.Row():
                w_image = gr.Slider(0, 1, start.get("w_image", 0.5), step=0.05, label="Image weight",
                                    elem_id="w-image")
                w_text = gr.Slider(0, 1, start.get("w_text", 0.5), step=0.05, label="Text weight",
                                   elem_id="w-text")
                w_negative = gr.Slider(0, 1, 0.5, step=0.05, label="Negative weight", elem_id="w-negative")
            with gr.Row():
                fusion = gr.Radio(list(service.MODES), value=start.get("fusion", "early"), label="Fusion",
                                  elem_id="fusion")
                quality = gr.Checkbox(False, label="Quality-aware weights")
            with gr.Row():
                k = gr.Slider(1, 50, 12, step=1, label="Results (k)")
                threshold = gr.Slider(-1, 1, -1, step=0.01, label="Minimum score (-1 = off)")
            with gr.Accordion("Advanced: multi-term query, delta source", open=False):
                expression = gr.Textbox(label="Multi-term query (@image = the query image, @ID = an item)",
                                        placeholder='2:a red circle + 0.5:@image - striped')
                source = gr.Textbox(label="Delta: what the image is now (blank = guess)", placeholder="red")
            button = gr.Button("Search", variant="primary", elem_id="retrieve-button")
        with gr.Column(scale=3):
            results = gr.Gallery(label="Results", columns=4, height=520, object_fit="contain",
                                 elem_id="retrieve-gallery")
            info = gr.Markdown(elem_id="retrieve-info")
            table = gr.Dataframe(EMPTY, label="Per-item contributions", interactive=False, wrap=True)
    def apply_defaults(name):
        d = defaults_for(name)
        return (gr.update(value=d["w_image"]) if "w_image" in d else gr.update(),
                gr.update(value=d["w_text"]) if "w_text" in d else gr.update(),
                gr.update(value=d["fusion"]) if "fusion" in d else gr.update())

    index.change(apply_defaults, index, [w_image, w_text, fusion], api_visibility="private")
    inputs = [index, image, text, negative, w_image, w_text, w_negative, fusion, quality, k, threshold,
              expression, source]
    outputs = [results, info, table]
    def run(index, image, text, negative, w_image, w_text, w_negative, fusion, quality, k, threshold,
            expression, source, request: gr.Request):
        return search(settings, index, image, text, negative, w_image, w_text, w_negative, fusion, quality,
                      k, threshold, expression, source, request)

    run = guarded(run)
    button.click(run, inputs, outputs, api_visibility="private", **queues.LIGHT)
    text.submit(run, inputs, outputs, api_visibility="private", **queues.LIGHT)
    for live in (w_image, w_text, w_negative, fusion, quality, k, threshold, image):
        live.change(run, inputs, outputs, trigger_mode="always_last", api_visibility="private",
                    show_progress="hidden", **queues.LIGHT)
    examples = _examples()
    if examples:
        gr.Examples(examples, [image, text, w_text, fusion], label="Try one", examples_per_page=6)
    gr.Markdown(HELP)
    return {"index": index}


def _examples() -> list[list]:
    """Bundled images with modification texts that show what fusion does."""
    folder = gallery_mod.bundled_dir()
    picks = [("shape-0001.png", "make it blue", 0.6, "early"), ("shape-0002.png", "as a star", 0.6, "early"),
             ("shape-0003.png", "make it green", 0.5, "delta"), ("garment-0000.png", "in red", 0.6, "early"),
             (None, "a yellow triangle", 1.0, "early"), ("garment-0005.png", "make it pink", 0.5, "late")]
    return [[str(folder / f) if f else None, t, w, m] for f, t, w, m in picks
            if f is None or (folder / f).exists()]
