"""The Blocks app: four tabs and the named API, started by ``app.py`` or ``mmdemo serve``."""

from __future__ import annotations

import logging

import gradio as gr

from mmdemo import access, building, encoders, service
from mmdemo.progress import Bar
from mmdemo.ui import api, classify, evaluate, indexes, queues, retrieve, theme
from mmdemo.ui import map as map_ui
from mmdemo.ui.common import Settings, configure, settings_from_env

INTRO = """# mmdemo · multimodal fusion, hands on
Images and texts share one embedding space. Fuse an image with a text (and subtract a
negative), move the weights, and watch the ranking change: nothing is re-encoded.
{models} · mode: `{mode}` · pick the index on the Retrieve tab.{note}"""
CSS = """
#retrieve-gallery .caption-label { font-size: 11px; white-space: normal; }
footer { display: none !important; }
""" + retrieve.CSS + theme.CSS


def prepare(settings: Settings) -> None:
    """Load the model; make sure the bundled index of every offered model (the served one's
    when it is the index served) and each index's learned combiner exist (made at first start,
    each with a progress bar; the combiner only where ``learned.ensure_for_index`` trains one)."""
    encoders.load(settings.model)
    models = [m for m in settings.policy.models
              if m != settings.model or settings.index == service.default_index_name(m)]
    for model in models:
        name = service.default_index_name(model)
        bars = [Bar(f"building index {name!r}", "img"), Bar(f"training the learned combiner of {name!r}", "step")]
        building.ensure_index(name, model, bars[0], bars[1])
        for bar in bars:
            bar.close()


def header(settings: Settings) -> str:
    """The page's first lines: the model(s) this server offers, its mode, and any note (a Space
    that fell back to the built-in model says why)."""
    models = settings.policy.models
    shown = (f"Model: `{settings.model}`" if len(models) < 2 else
             "Models: " + ", ".join(f"`{m}`" + (" (default)" if m == settings.model else "") for m in models))
    note = f"\n\n**Note:** {settings.note}" if settings.note else ""
    return INTRO.format(models=shown, mode=settings.policy.mode, note=note)


def build_app(settings: Settings) -> gr.Blocks:
    prepare(settings)
    names = [m["name"] for m in building.indexes()]
    configure(settings)
    # Files gradio made for answers (gallery copies, private thumbnails) older than a day go.
    with gr.Blocks(title="mmdemo: multimodal fusion", delete_cache=(3600, 86400)) as demo:
        gr.Markdown(header(settings), elem_id="header")
        with gr.Tabs():
            with gr.Tab("Retrieve", id="retrieve"):
                shared = retrieve.build(settings, names)
            with gr.Tab("Classify", id="classify"):
                classify.build(settings)
            with gr.Tab("Index", id="index"):
                indexes.build(settings, shared["index"])
            with gr.Tab("Evaluate", id="evaluate"):
                evaluate.build(settings)
        api.register(settings)
        map_ui.register_map(settings)
    # The built-in model is small: a few requests can run at once; big CLIPs get fewer.
    queues.cap_sessions(demo.queue(default_concurrency_limit=4 if settings.model == "builtin" else 2, max_size=64))
    return demo


def launch(host: str | None = None, port: int | None = None, model: str | None = None,
           index: str | None = None, **kwargs):
    logger = logging.getLogger("mmdemo")  # its own handler: libraries may have set up the root one
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    settings = settings_from_env(model, index, host)
    logging.getLogger("mmdemo").info("mode %s; models %s", settings.policy.mode, ", ".join(settings.policy.models))
    demo = build_app(settings)
    # Served: result images only (the bundled gallery and build-time thumbnails).
    return demo.launch(server_name=host, server_port=port, allowed_paths=access.served_paths(),
                       max_file_size="25mb", ssr_mode=False, show_error=True, theme=theme.THEME,
                       css=CSS, js=theme.JS, **kwargs)
