"""Retrieve tab: a fused query whose weights re-rank live, and why it ranks what it ranks.

Below the results: the map of the shared space (hover an item for its thumbnail, click it to
steer by it, drag a box to select a region; the modality-gap layer on request), then two views
that open on demand: every strategy side by side with how much they agree, and each result's
rank across the text weight. One prepared query feeds them all: a slider move re-weights cached
part scores for every view, and nothing is re-encoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from mmdemo import querymap, service, views
from mmdemo.data import gallery as gallery_mod
from mmdemo.errors import UserError
from mmdemo.request import Query
from mmdemo.ui import compare_view, paths_view, queues, results_view, steer
from mmdemo.ui import map as map_ui
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
its weight to the part you gave. Negative text is subtracted. *More / less like this* (pick a
result, or click a map point) adds that item as an image term with its own weight (Rocchio
feedback); a box drawn on the map adds the centroid of what it holds. The map is the index in
2-D (PCA): ■ image, ▲ text, ✕ negative, ○ example, ★ the fused query, top-k ringed; its *texts
layer* shows the modality gap, and *center modalities* moves texts across it before fusing.
*Quality-aware* scales each weight by a measured confidence (image sharpness and size; how
clearly the text singles out some gallery items)."""

CSS = """
#space-map svg { display: block; }
.space-map-note { font-size: 11px; color: var(--body-text-color-subdued); margin-top: 2px; }
.map-table table, .paths-table table { font-size: 11px; border-collapse: collapse; margin: 4px 0; }
.map-table td, .map-table th, .paths-table td, .paths-table th { border: 1px solid var(--border-color-primary); padding: 1px 5px; }
.map-table caption { text-align: left; font-weight: 600; }
/* Phones: the query, then the results, then the weights right below them, then the map, so a
   slider move changes what is in view; the rest follows. */
@media (max-width: 720px) {
  #retrieve-main { flex-direction: column; }
  #retrieve-controls, #retrieve-output { display: contents; }
  #retrieve-query { order: 1; } #retrieve-results { order: 2; } #retrieve-weights { order: 3; }
  #retrieve-map { order: 4; } #retrieve-more { order: 5; } #retrieve-views { order: 6; } #retrieve-details { order: 7; }
  #retrieve-gallery { height: 300px !important; }
  #retrieve-gallery .caption-label { display: -webkit-box !important; -webkit-line-clamp: 3; -webkit-box-orient: vertical;
                                     overflow: hidden; white-space: normal !important; max-width: 95%;
                                     font-size: 10px !important; }
}
""" + compare_view.CSS
PATH_STEPS = 101


@dataclass
class View:
    """What the tab shows for one state of its controls."""

    index: str | None
    query: Query
    texts: bool = False  # the modality-gap layer on the map
    compare: bool = False  # the strategies view is open
    paths: bool = False  # the rank-path view is open


def search(settings: Settings, view: View, request: gr.Request | None = None) -> tuple:
    """(tiles, details, table, map, strategies, paths) for one view. An empty query clears the
    results (sliders move freely); a user's mistake clears them too, with the message in their
    place, so what is shown always belongs to the controls as they are."""
    idx_or_name, thumbs = resolve_index(settings, view.index, request)
    idx = service.resolve(idx_or_name)
    q = view.query
    if not q.given:
        return ([], "Give an image, a text, or both (or a multi-term query under Advanced).", results_view.EMPTY,
                _map(settings, idx, querymap.retrieval_map(idx, texts=view.texts), thumbs),
                compare_view.EMPTY, paths_view.EMPTY)
    try:
        prepared = service.prepare(idx, q)
        fused = service.score(prepared)
        answer = service.answer(prepared, fused, thumbs)
        path = views.paths_prepared(prepared, PATH_STEPS, thumbs)
        space = querymap.retrieval_map(idx, prepared, fused, texts=view.texts)
        strategies = (compare_view.html_for(views.compare_prepared(
            service.prepare(idx, q.with_(fusion="early"), delta_form=True), list(views.STRATEGIES), thumbs))
            if view.compare else gr.skip())
    except UserError as exc:
        gr.Warning(shown(str(exc)))
        return ([], f"**Not searched:** {shown(str(exc))}", results_view.EMPTY, map_ui.EMPTY,
                compare_view.EMPTY, paths_view.EMPTY)
    stable = {it["id"]: it["stable"] for it in path["items"]}
    return (results_view.tiles(answer), results_view.details(answer, defaults_for(answer["index"])),
            results_view.table(answer, stable), _map(settings, idx, space, thumbs), strategies,
            paths_view.svg(path) if view.paths else gr.skip())


def _map(settings: Settings, idx, space: dict, thumbs) -> str:
    """The map's HTML: a shared index's hover details come from ``item_info``; a private
    gallery (small, and only its owner's) carries them inline."""
    if thumbs is None:
        return map_ui.svg(space, index=idx.manifest.name)
    rows = space["items"]["rows"][:map_ui.MAX_INLINE]
    return map_ui.svg(space, inline={r: map_ui.hover(service.item_view(idx.items[r], thumbs)) for r in rows})


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
    opened = gr.State({"compare": False, "paths": False})
    with gr.Row(elem_id="retrieve-main"):
        with gr.Column(scale=2, min_width=320, elem_id="retrieve-controls"):
            with gr.Column(elem_id="retrieve-query"):
                index = gr.Dropdown(index_choices, value=settings.index, label="Index", allow_custom_value=True,
                                    elem_id="retrieve-index")
                image, preview = image_input("Query image", "retrieve-image")
                text = gr.Textbox(label="Query text", placeholder="e.g. make it blue", elem_id="retrieve-text")
                negative = gr.Textbox(label="Negative text (comma-separated)", placeholder="e.g. striped",
                                      elem_id="retrieve-negative")
            with gr.Column(elem_id="retrieve-weights"):
                with gr.Row():
                    w_image = gr.Slider(0, 1, start.get("w_image", 0.5), step=0.05, label="Image weight",
                                        elem_id="w-image")
                    w_text = gr.Slider(0, 1, start.get("w_text", 0.5), step=0.05, label="Text weight",
                                       elem_id="w-text")
                    w_negative = gr.Slider(0, 1, 0.5, step=0.05, label="Negative weight", elem_id="w-negative")
                parts = steer.terms_block()
            with gr.Column(elem_id="retrieve-more"):
                with gr.Row():
                    fusion = gr.Radio(label="Fusion", elem_id="fusion",
                                      **fusion_modes(settings.index, start.get("fusion", "early")))
                    quality = gr.Checkbox(False, label="Quality-aware weights")
                    center = gr.Checkbox(False, label="Center modalities (close the gap)", elem_id="center")
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
                parts.update(steer.picked_block())
            with gr.Column(elem_id="retrieve-map"):
                space = map_ui.component("space-map", "Map of the shared space")
                parts.update(steer.offer_block())
                texts = gr.Checkbox(False, label="Texts layer: captions and the modality gap", elem_id="map-texts")
            with gr.Column(elem_id="retrieve-views"):
                with gr.Accordion("Strategies side by side", open=False, elem_id="compare-view") as compare_acc:
                    strategies = gr.HTML(compare_view.EMPTY, elem_id="compare")
                with gr.Accordion("Rank paths across the text weight", open=False, elem_id="paths-view") as paths_acc:
                    paths = gr.HTML(paths_view.EMPTY, elem_id="paths", js_on_load=map_ui.JS)
            with gr.Column(elem_id="retrieve-details"):
                info = gr.Markdown(elem_id="retrieve-info")
                table = gr.Dataframe(results_view.EMPTY, label="Per-item contributions", interactive=False, wrap=True,
                                     column_widths=results_view.COLUMN_WIDTHS, elem_id="retrieve-table")

    terms = steer.Steer(**parts)
    controls = dict(index=index, image=image, text=text, negative=negative, w_image=w_image, w_text=w_text,
                    w_negative=w_negative, fusion=fusion, quality=quality, k=k, threshold=threshold,
                    expression=expression, source=source, center=center, texts=texts, opened=opened)
    inputs = [*controls.values(), *terms.inputs]
    outputs = [results, info, table, space, strategies, paths]

    def run(request: gr.Request, *values):  # gradio injects special arguments before *values only
        data = dict(zip(inputs, values))
        v = {name: data[c] for name, c in controls.items()}
        chosen, region = terms.values(data)
        try:
            query = Query.make(file_path(v["image"]), v["text"], v["negative"], v["w_image"], v["w_text"],
                               v["w_negative"], v["fusion"], v["quality"], v["k"],
                               None if v["threshold"] is None or float(v["threshold"]) <= -1 else v["threshold"],
                               v["expression"], v["source"], chosen, region, v["center"])
        except UserError as exc:
            gr.Warning(shown(str(exc)))
            return ([], f"**Not searched:** {shown(str(exc))}", results_view.EMPTY, map_ui.EMPTY,
                    compare_view.EMPTY, paths_view.EMPTY)
        opened = v["opened"] or {}
        return search(settings, View(v["index"], query, bool(v["texts"]), opened.get("compare", False),
                                     opened.get("paths", False)), request)

    run = guarded(run)
    live = dict(trigger_mode="always_last", api_visibility="private", show_progress="hidden", **queues.LIGHT)
    button.click(run, inputs, outputs, api_visibility="private", **queues.LIGHT)
    for box in (text, negative, expression, source):
        box.submit(run, inputs, outputs, api_visibility="private", **queues.LIGHT)
    for control in (w_image, w_text, w_negative, fusion, quality, center, k, threshold, image, texts,
                    *terms.sliders, terms.region_slider):
        control.change(run, inputs, outputs, **live)

    def toggle(view: str, is_open: bool):
        return lambda state: {**(state or {}), view: is_open}

    for acc, view in ((compare_acc, "compare"), (paths_acc, "paths")):
        acc.expand(toggle(view, True), opened, opened, api_visibility="private").then(run, inputs, outputs, **live)
        acc.collapse(toggle(view, False), opened, opened, api_visibility="private")
    steer.wire(settings, terms, index, space, results, table, run, inputs, outputs)
    index.change(apply_defaults, [index, fusion], [w_image, w_text, fusion], api_visibility="private")
    examples = _examples()
    if examples:
        gr.Examples(examples, [preview, image, text, w_image, w_text, fusion], label="Try one",
                    examples_per_page=6)
    gr.Markdown(HELP)
    return {"index": index}


def apply_defaults(name, current):
    """The sliders and mode an index stored as its defaults, and the modes it offers; steering
    terms belong to the previous index, so the index change drops them (see ``steer.wire``)."""
    d = defaults_for(name)
    return (gr.update(value=d["w_image"]) if "w_image" in d else gr.update(),
            gr.update(value=d["w_text"]) if "w_text" in d else gr.update(),
            gr.update(**fusion_modes(name, d.get("fusion", current))))


def _examples() -> list[list]:
    """Bundled images with modification texts that show what fusion does."""
    folder = gallery_mod.bundled_dir()
    picks = [("shape-0001.png", "make it blue", 0.6, "early"), ("shape-0002.png", "as a star", 0.6, "early"),
             ("shape-0003.png", "make it green", 0.5, "delta"), ("garment-0000.png", "in red", 0.6, "early"),
             (None, "a yellow triangle", 1.0, "early"), ("garment-0005.png", "make it pink", 0.5, "late")]
    return [[str(folder / f) if f else None, str(folder / f) if f else None, t, round(1 - w, 2), w, m]
            for f, t, w, m in picks
            if f is None or (folder / f).exists()]
