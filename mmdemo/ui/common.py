"""What every tab shares: turning errors into messages, and the app's settings."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from mmdemo.errors import UserError

log = logging.getLogger("mmdemo.ui")
MODEL_CHOICES = [
    "builtin",
    "open_clip:ViT-B-32/laion2b_s34b_b79k",
    "open_clip:ViT-B-16/laion2b_s34b_b88k",
    "hf:openai/clip-vit-base-patch32",
    "st:clip-ViT-B-32",
]


@dataclass
class Settings:
    model: str = "builtin"
    index: str = "bundled"
    folder_roots: list[Path] = field(default_factory=list)  # server folders the Index tab may read
    max_upload_files: int = 500


def settings_from_env(model: str | None = None, index: str | None = None) -> Settings:
    from mmdemo import service

    model = model or os.environ.get("MMDEMO_MODEL") or "builtin"
    roots = os.environ.get("MMDEMO_FOLDER_ROOTS")
    folder_roots = [Path(p).expanduser().resolve() for p in roots.split(os.pathsep) if p] if roots \
        else [Path.cwd().resolve(), Path.home().resolve()]
    return Settings(model, index or service.default_index_name(model), folder_roots)


def guarded(fn):
    """Users see a UserError's message as is; anything else becomes a short error, logged."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as exc:
            raise gr.Error(str(exc)) from None
        except Exception as exc:
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(f"internal error ({type(exc).__name__}: {exc}); see the server log") from None

    return wrapper


def image_input(label: str, elem_id: str) -> tuple[gr.File, gr.Image]:
    """An image upload read by mmdemo's safe decoder, with a preview beside it (both returned:
    examples fill the preview too, so it shows their thumbnails).

    A ``gr.Image`` input decodes uploads itself and fails with a generic message on a corrupt
    file before any handler runs; a ``gr.File`` hands the bytes to ``open_image``, whose errors
    say what is wrong.
    """
    from mmdemo.data.images import EXTENSIONS, open_image

    with gr.Row(equal_height=True):
        upload = gr.File(label=label, file_types=list(EXTENSIONS), elem_id=elem_id, height=150, scale=3)
        preview = gr.Image(label="Preview", interactive=False, height=150, scale=2, buttons=[],
                           elem_id=f"{elem_id}-preview")

    def show(value):
        path = file_path(value)
        if not path:
            return None
        img = open_image(path)
        img.thumbnail((256, 256))
        return img

    upload.change(guarded(show), upload, preview, api_visibility="private", show_progress="hidden")
    return upload, preview


def file_path(value) -> str | None:
    """A Gradio file value (path string, FileData dict or object) as a path."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("path")
    return getattr(value, "path", None) or str(value)
