"""A plain Gradio app with the Retrieve tab's page shape, for ``bench/slider_latency.py``.

    python bench/bare_app.py --port 7861 [--shape plain|views|steer]

Same outputs (a 12-image captioned gallery, the info text, the contributions table, the space
map, the strategies and the rank paths) as mmdemo's Retrieve tab after the "make it blue"
example, but the slider's handler only looks up outputs precomputed at start: what is left is
Gradio's queue round trip and the browser's re-render, the floor any app with this page would
pay. ``--shape views`` opens both views, ``--shape steer`` adds two examples and a region.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import argparse
import copy
import functools
import shutil

import gradio as gr
import numpy as np

from mmdemo import access, building, service
from mmdemo.data import gallery
from mmdemo.request import Query
from mmdemo.ui import results_view, retrieve
from mmdemo.ui.app import CSS
from mmdemo.ui.common import settings_from_env

QUERY = dict(text="make it blue", negative="", w_image=0.4, w_negative=0.5, fusion="early", quality=False,
             k=12, threshold=None, expression="", source="")
SETTINGS = settings_from_env()
SHAPES = ("plain", "views", "steer")  # the page as it is; with both views open; with steering terms


def query_image() -> str:
    """The example image as an upload: handlers take files from gradio's upload folder only."""
    image = access.upload_dir() / "bare-app" / "shape-0001.png"
    if not image.is_file():
        image.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(gallery.bundled_dir() / "shape-0001.png", image)
    return str(image)


@functools.cache  # the same terms every move (the handler's cost must not include finding them)
def steering() -> tuple[list[dict], dict]:
    """Two examples (results #3 and #5 of the example query) and a region (the top 40 green
    stars): what ``slider_latency.py --shape steer`` adds in the browser, by the same amounts."""
    top = service.retrieve("bundled", query_image(), QUERY["text"], w_image=0.4, w_text=0.6, k=12)["results"]
    stars = service.retrieve("bundled", text="a green star", k=40)["results"]
    return ([{"id": top[2]["id"], "weight": 0.5}, {"id": top[4]["id"], "weight": 0.5}],
            {"ids": [r["id"] for r in stars], "weight": 0.5})


def outputs(w_text: float, shape: str = "plain") -> tuple:
    """Exactly what mmdemo's Retrieve handler returns for the example at this text weight."""
    examples, region = steering() if shape == "steer" else ([], None)
    query = Query.make(query_image(), **{**QUERY, "w_text": w_text}, examples=examples, region=region)
    view = retrieve.View("bundled", query, compare=shape != "plain", paths=shape != "plain")
    return retrieve.search(SETTINGS, view)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=7861)
    ap.add_argument("--shape", choices=SHAPES, default="plain")
    a = ap.parse_args()
    building.ensure_index()
    cache = {round(float(w), 2): outputs(float(w), a.shape) for w in np.arange(0, 1.0001, 0.05)}
    with gr.Blocks() as demo:
        with gr.Row():
            with gr.Column(scale=2):
                w_text = gr.Slider(0, 1, 0.6, step=0.05, label="Text weight", elem_id="w-text")
            with gr.Column(scale=3):
                # empty at first and filled on load, as mmdemo's page is before its example runs
                shown = [gr.Gallery(None, label="Results", columns=4, height=520, object_fit="contain",
                                    elem_id="retrieve-gallery"),
                         gr.Markdown(), gr.Dataframe(None, interactive=False, wrap=True,
                                                     column_widths=results_view.COLUMN_WIDTHS),
                         gr.HTML("", label="Map of the shared space", elem_id="space-map")]
                with gr.Accordion("Strategies side by side", open=a.shape != "plain"):
                    shown.append(gr.HTML(""))
                with gr.Accordion("Rank paths across the text weight", open=a.shape != "plain"):
                    shown.append(gr.HTML(""))

        def lookup(w: float) -> list:
            # a copy: Gradio's postprocessing must not see (and change) the cached objects twice
            return list(copy.deepcopy(cache[round(float(w), 2)]))

        demo.load(lookup, w_text, shown)
        # private, like mmdemo's live events: Gradio 6.31's front end does more work on every call
        # of a public event (measured: 60 -> 110 ms over 24 moves, private stays flat)
        w_text.change(lookup, w_text, shown, trigger_mode="always_last", show_progress="hidden",
                      api_visibility="private")
    demo.queue(default_concurrency_limit=4, max_size=64)
    demo.launch(server_name="127.0.0.1", server_port=a.port, ssr_mode=False, theme=gr.themes.Soft(), css=CSS,
                allowed_paths=[str(gallery.bundled_dir())])


if __name__ == "__main__":
    main()
