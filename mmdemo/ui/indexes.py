"""Index tab: choose a model, build from the bundled gallery, a server folder or uploads."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import gradio as gr
import pandas as pd

from mmdemo import paths, service
from mmdemo.errors import UserError
from mmdemo.ui import queues
from mmdemo.ui.common import MODEL_CHOICES, Settings, file_path, guarded

MAX_ZIP_BYTES = 500 * 2**20


def uploads_dir() -> Path:
    return paths.cache_dir() / "uploads"


def store_uploads(files: list, limit: int) -> list[Path]:
    """Copy uploads (images, or images inside zips) into the app's own folder, named by content.

    Nothing is executed and nothing is written elsewhere: zip members are read as bytes and
    their paths ignored, so a crafted archive cannot escape the uploads folder.
    """
    out_dir = uploads_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    stored: list[Path] = []

    def keep(data: bytes, name: str) -> None:
        if len(stored) >= limit:
            raise UserError(f"too many files: at most {limit} per upload")
        suffix = Path(name).suffix.lower()
        target = out_dir / f"{hashlib.sha1(data).hexdigest()[:20]}{suffix}"
        if not target.exists():
            target.write_bytes(data)
        stored.append(target)

    for f in files or []:
        path = Path(file_path(f))
        if path.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(path) as z:
                    members = [m for m in z.infolist() if not m.is_dir()]
                    if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                        raise UserError(f"{path.name}: unpacks to more than {MAX_ZIP_BYTES // 2**20} MB")
                    for m in members:
                        keep(z.read(m), Path(m.filename).name)
            except zipfile.BadZipFile:
                raise UserError(f"{path.name}: not a valid zip file") from None
        else:
            keep(path.read_bytes(), path.name)
    if not stored:
        raise UserError("upload some images (or a zip of images) first")
    return stored


def check_folder(folder: str, settings: Settings) -> str:
    root = Path(folder or "").expanduser().resolve()
    if not folder or not root.is_dir():
        raise UserError(f"{folder!r} is not a folder on the server")
    if not any(root == r or r in root.parents for r in settings.folder_roots):
        raise UserError(f"{root} is outside the folders this server may read "
                        f"({', '.join(map(str, settings.folder_roots))}; set MMDEMO_FOLDER_ROOTS)")
    return str(root)


def table() -> pd.DataFrame:
    rows = service.indexes()
    return pd.DataFrame(rows, columns=["name", "model", "count", "factory", "updated"]) if rows else \
        pd.DataFrame(columns=["name", "model", "count", "factory", "updated"])


def build(settings: Settings, retrieve_index: gr.Dropdown) -> None:
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            model = gr.Dropdown(MODEL_CHOICES, value=settings.model, allow_custom_value=True,
                                label="Model spec (builtin, open_clip:ARCH[/TAG|@PATH], hf:…, st:…)")
            name = gr.Textbox(label="Index name", placeholder="blank = the model's bundled index")
            source = gr.Radio(["bundled gallery", "server folder", "upload"], value="bundled gallery",
                              label="Source")
            folder = gr.Textbox(label="Server folder (recursive)", placeholder="/data/photos")
            uploads = gr.File(file_count="multiple", file_types=["image", ".zip"], label="Images or a zip")
            with gr.Row():
                factory = gr.Textbox(label="FAISS factory (blank = Flat below 50k, else HNSW32)")
                append = gr.Checkbox(False, label="Add to the existing index")
            button = gr.Button("Build index", variant="primary")
        with gr.Column(scale=3):
            report = gr.JSON(label="Build report")
            listing = gr.Dataframe(table(), label="Saved indexes", interactive=False)
            with gr.Row():
                chosen = gr.Dropdown([m["name"] for m in service.indexes()], label="Index",
                                     allow_custom_value=True)
                use = gr.Button("Use in Retrieve")
                delete = gr.Button("Delete", variant="stop")

    def do_build(model, name, source, folder, uploads, factory, append, progress=gr.Progress()):
        if source == "server folder":
            src = check_folder(folder, settings)
        elif source == "upload":
            src = [str(p) for p in store_uploads(uploads, settings.max_upload_files)]
        else:
            src = "bundled"
        progress(0, desc="loading model")
        out = service.build_index(name.strip() or None, src, model, factory.strip() or None, append,
                                  progress=lambda done, total: progress((done, total), desc="encoding",
                                                                        unit="images"))
        names = [m["name"] for m in service.indexes()]
        return (out, table(), gr.update(choices=names, value=out["name"]),
                gr.update(choices=names, value=out["name"]))

    def do_delete(name):
        service.remove_index(name)
        names = [m["name"] for m in service.indexes()]
        gr.Info(f"deleted index {name!r}")
        return table(), gr.update(choices=names, value=None), gr.update(choices=names)

    button.click(guarded(do_build), [model, name, source, folder, uploads, factory, append],
                 [report, listing, chosen, retrieve_index], api_visibility="private", **queues.HEAVY)
    use.click(lambda n: gr.update(value=n), chosen, retrieve_index, api_visibility="private")
    delete.click(guarded(do_delete), chosen, [listing, chosen, retrieve_index], api_visibility="private")

