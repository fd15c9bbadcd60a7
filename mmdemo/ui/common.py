"""What every tab shares: turning errors into messages, and the app's settings."""

from __future__ import annotations

import functools
import logging
import mimetypes
import secrets
import urllib.parse
from dataclasses import dataclass, field

import gradio as gr

from mmdemo import access, sessions
from mmdemo.errors import UserError
from mmdemo.index import list_indexes
from mmdemo.ui import queues

log = logging.getLogger("mmdemo.ui")


@dataclass
class Settings:
    model: str = "builtin"
    index: str = "bundled"
    policy: access.Policy = field(default_factory=access.Policy)
    galleries: sessions.Galleries = field(
        default_factory=lambda: sessions.Galleries(sessions.default_root()))
    max_upload_files: int = 500  # a shared-index build from uploads (admins)
    note: str = ""  # shown in the page header (e.g. why a Space serves the built-in model)

    @property
    def public(self) -> bool:
        return self.policy.public


def settings_from_env(model: str | None = None, index: str | None = None, host: str | None = None) -> Settings:
    """The served model (see ``access.served_models``), its bundled index, and the policy."""
    from mmdemo import service

    model, also, note = access.served_models(model)
    policy = access.policy_from_env(model, host, also=also)
    return Settings(policy.models[0], index or service.default_index_name(model), policy, note=note)


def model_choices(settings: Settings) -> list[str]:
    """Models a visitor may pick: the offered ones; for an admin also whatever loads here now
    (the built-in model and complete hub-cache models), so no choice fails for want of weights."""
    if settings.public:
        return list(settings.policy.models)
    from mmdemo.encoders import cache

    return list(dict.fromkeys([*settings.policy.models, *(w.spec for w in cache.available() if w.loads_offline)]))


def model_picker(settings: Settings, elem_id: str):
    """A model dropdown when there is a choice, else the served model as state."""
    choices = model_choices(settings)
    if len(choices) < 2:
        return gr.State(settings.model)
    return gr.Dropdown(choices, value=settings.model, label="Model", elem_id=elem_id)


def guarded(fn):
    """Users see a UserError's message as is (one log line, no traceback); anything else is
    logged with its traceback and shown as a short message with a reference, no internals.
    In public mode messages never name the server's folders."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as exc:
            log.info("%s refused: %s", fn.__name__, exc)
            raise gr.Error(shown(str(exc)), print_exception=False) from None
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("handler %s failed (ref %s)", fn.__name__, ref)
            raise gr.Error(f"internal error (ref {ref}); the server log has the details",
                           print_exception=False) from None

    return wrapper


def soft(fn, n_outputs: int):
    """Like ``guarded``, but a user's mistake is a warning toast and every output keeps its
    value (a refused build must not turn the report, table and dropdowns into error badges)."""
    inner = guarded(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return inner(*args, **kwargs)
        except gr.Error as exc:
            if str(exc.message).startswith("internal error"):
                raise
            gr.Warning(exc.message)
            return tuple(gr.skip() for _ in range(n_outputs))

    return wrapper


_PUBLIC = [False]  # set once by configure(): whether messages must hide server paths


def configure(settings: Settings) -> None:
    _PUBLIC[0] = settings.public


def shown(message: str) -> str:
    """A message as this server may show it (server paths hidden in public mode)."""
    return access.scrub(message) if _PUBLIC[0] else message


def session_of(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or ""


def resolve_index(settings: Settings, name: str | None, request: gr.Request | None):
    """(index, thumbnail folder) for a request: the visitor's private gallery when they name
    it and have one, else the shared index's name."""
    name = (name or "").strip() or settings.index
    if name == sessions.PRIVATE:
        g = settings.galleries.get(session_of(request))
        if g is not None and g.index is not None:
            return g.index, g.folder
        if not any(m.name == name for m in list_indexes()):
            raise UserError("you have no private gallery yet: upload images in the Index tab "
                            "(or with /build_index files=[...])")
    return name, None


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
                           elem_id=f"{elem_id}-preview", alt_text=f"{label}: the image given")

    def show(value):
        """The preview shows nothing for a bad file: the tab's own handler reports it once."""
        try:
            img = open_image(file_path(value))
        except (UserError, TypeError):
            return None
        img.thumbnail((256, 256))
        return img

    upload.change(show, upload, preview, api_visibility="private", show_progress="hidden", **queues.LIGHT)
    return upload, preview


def file_path(value) -> str | None:
    """A UI handler's file value as a server path: only files in gradio's upload folder."""
    path = access.uploaded_file(value)
    return str(path) if path else None


def file_url(path: str) -> str:
    """A served file as the page links it: relative to the page (gradio's file route, so it works
    behind a proxy's path prefix) and to the working directory (no absolute server path)."""
    return "gradio_api/file=" + urllib.parse.quote(access.public_path(path), safe="")  # "../" stays intact


def result_image(r: dict) -> dict | None:
    """A result's image as FileData, so the default ``gradio_client.Client`` downloads it and
    keeps the rest of the result; its path is relative to the server's working directory."""
    if not r.get("file"):
        return None
    return {"path": access.public_path(r["file"]), "orig_name": r["name"],
            "mime_type": mimetypes.guess_type(r["file"])[0] or "application/octet-stream",
            "meta": {"_type": "gradio.FileData"}}
