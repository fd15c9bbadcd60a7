"""Index tab: build from the bundled gallery, a server folder or uploads; a private gallery.

On a public server a visitor's uploads go to their private session gallery; shared indexes
change only with the operator's admin token. Refusals show as a warning toast and leave the
report, the table and the dropdowns as they were.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from mmdemo import access, building, sessions
from mmdemo.errors import UserError
from mmdemo.ui import queues
from mmdemo.ui.common import Settings, file_path, model_choices, session_of, soft

PRIVATE_UPLOAD, BUNDLED, FOLDER, SHARED_UPLOAD = ("upload to my private gallery", "bundled gallery",
                                                 "server folder", "upload to a shared index")
COLUMNS = ["name", "model", "count", "factory", "updated"]


def table() -> pd.DataFrame:
    rows = building.indexes()
    return pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)


def index_names(settings: Settings, request: gr.Request | None) -> list[str]:
    names = [m["name"] for m in building.indexes()]
    space = settings.galleries.get(session_of(request))
    if space is not None and space.index is not None and sessions.PRIVATE not in names:
        names.append(sessions.PRIVATE)
    return names


def build(settings: Settings, retrieve_index: gr.Dropdown) -> None:
    policy = settings.policy
    sources = [PRIVATE_UPLOAD, BUNDLED, FOLDER, SHARED_UPLOAD]
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            if settings.public:
                gr.Markdown("Public server: your uploads go to **your private gallery** (`my-uploads`; at most "
                            f"{settings.galleries.limits.images} images, kept while you use it). Shared "
                            "indexes change only with the operator's admin token.")
            model = gr.Dropdown(model_choices(settings), value=settings.model,
                                allow_custom_value=not settings.public,
                                label="Model spec (builtin, open_clip:ARCH[/TAG|@PATH], hf:…, st:…)")
            source = gr.Radio(sources, value=PRIVATE_UPLOAD if settings.public else BUNDLED, label="Source")
            name = gr.Textbox(label="Index name", placeholder="blank = the model's bundled index",
                              visible=not settings.public)
            folder = gr.Textbox(label="Server folder (recursive)", placeholder="/data/photos", visible=False)
            uploads = gr.File(file_count="multiple", file_types=["image", ".zip"], label="Images or a zip", elem_id="index-uploads",
                              visible=settings.public)
            with gr.Row():
                factory = gr.Textbox(label="FAISS factory (blank = Flat below 50k, else HNSW32)",
                                     visible=not settings.public)
                append = gr.Checkbox(False, label="Add to the existing index", visible=not settings.public)
            token = gr.Textbox(label="Admin token (operators only)", type="password",
                               visible=settings.public and bool(policy.admin_token))
            button = gr.Button("Build index", variant="primary")
        with gr.Column(scale=3):
            report = gr.JSON(label="Build report")
            listing = gr.Dataframe(table(), label="Saved indexes", interactive=False)
            with gr.Row():
                chosen = gr.Dropdown([m["name"] for m in building.indexes()], label="Index",
                                     allow_custom_value=True)
                use = gr.Button("Use in Retrieve")
                delete = gr.Button("Delete", variant="stop")

    def show_source(src):
        shared = src != PRIVATE_UPLOAD
        return (gr.update(visible=src == FOLDER), gr.update(visible=src in (PRIVATE_UPLOAD, SHARED_UPLOAD)),
                gr.update(visible=shared), gr.update(visible=shared), gr.update(visible=shared))

    def do_build(model, name, source, folder, files, factory, append, token, request: gr.Request,
                 progress=gr.Progress()):
        paths = [file_path(f) for f in files or []] if source in (PRIVATE_UPLOAD, SHARED_UPLOAD) else []
        try:
            out = build_from(model, name, source, folder, paths, factory, append, token, request, progress)
        finally:
            access.discard(paths)  # the build keeps thumbnails, never the uploads
        names = index_names(settings, request)
        return (out, table(), gr.update(choices=names, value=out["name"]),
                gr.update(choices=names, value=out["name"]), None)

    def build_from(model, name, source, folder, paths, factory, append, token, request, progress) -> dict:
        encoding = dict(progress=lambda done, total: progress((done, total), desc="encoding", unit="images"))
        if source == PRIVATE_UPLOAD:
            if not paths:
                raise UserError("choose some images (or a zip of images) to upload first")
            return building.build_private(settings.galleries, session_of(request), paths, settings.model)
        policy.require_write(token, "building a shared index")
        spec = policy.model(model, settings.model)
        if source == SHARED_UPLOAD:
            if not paths:
                raise UserError("choose some images (or a zip of images) to upload first")
            src = paths
        else:
            src = str(access.server_folder(folder, policy, token)) if source == FOLDER else "bundled"
        progress(0, desc="loading model")
        return building.build_index(name.strip() or None, src, spec, factory.strip() or None, append,
                                    max_files=settings.max_upload_files, **encoding)

    def do_delete(name, token):
        policy.require_write(token, "deleting an index")
        building.remove_index(name)
        names = [m["name"] for m in building.indexes()]
        gr.Info(f"deleted index {name!r}")
        return table(), gr.update(choices=names, value=None), gr.update(choices=names)

    source.change(show_source, source, [folder, uploads, name, factory, append], api_visibility="private",
                  show_progress="hidden")
    button.click(soft(do_build, 5), [model, name, source, folder, uploads, factory, append, token],
                 [report, listing, chosen, retrieve_index, uploads], api_visibility="private", **queues.HEAVY)
    use.click(lambda n: gr.update(value=n), chosen, retrieve_index, api_visibility="private")
    delete.click(soft(do_delete, 3), [chosen, token], [listing, chosen, retrieve_index], api_visibility="private")
