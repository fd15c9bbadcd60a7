"""Who may do what, and which files a request may touch.

Two modes. *public* (a Space, a non-loopback bind, or ``MMDEMO_MODE=public``): visitors search,
classify, embed and evaluate read-only on allow-listed models, and upload into a private
session gallery; writing shared indexes needs the operator's ``MMDEMO_ADMIN_TOKEN``.
*admin* (loopback, or ``MMDEMO_MODE=admin``): the local user may do everything.

One rule for paths: the API and UI never turn a caller's string into a server path. Files come
only from gradio's upload folder; server folders are read only by admins, inside the configured
roots; answers carry paths relative to the working directory, never absolute ones.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmdemo import encoders
from mmdemo.errors import UserError

log = logging.getLogger("mmdemo.access")
PUBLIC, ADMIN = "public", "admin"
NOT_UPLOADED = ("{what} must be a file uploaded with the request (gradio_client: handle_file(...)); "
                "server paths are not accepted")


@dataclass
class Policy:
    mode: str = ADMIN
    models: tuple[str, ...] = ("builtin",)  # allow-list in public mode (specs, normalised)
    admin_token: str | None = field(default=None, repr=False)
    folder_roots: tuple[Path, ...] = ()  # server folders an admin may index

    @property
    def public(self) -> bool:
        return self.mode == PUBLIC

    def may_write(self, token: str | None = None) -> bool:
        """Admin mode, or public mode with the operator's token (compared in constant time)."""
        if not self.public:
            return True
        return bool(self.admin_token and token and hmac.compare_digest(str(token), self.admin_token))

    def require_write(self, token: str | None, what: str) -> None:
        if not self.may_write(token):
            raise UserError(f"{what} is not allowed on this public server: shared indexes are read-only "
                            "here (upload images to your private gallery instead)")

    def model(self, spec: str | None, default: str) -> str:
        """The spec to use: the default when none is given; in public mode only allow-listed ones."""
        if spec is None or not str(spec).strip():
            return default
        text = encoders.parse_spec(str(spec)).text
        if self.public and text not in self.models:
            raise UserError(f"model {text[:80]!r} is not offered on this server; choose one of "
                            f"{', '.join(self.models)}")
        return text


def is_loopback(host: str | None) -> bool:
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def policy_from_env(model: str, host: str | None = None, env: dict | None = None,
                    also: tuple[str, ...] = ()) -> Policy:
    """Public when SPACE_ID is set, when bound off loopback, or with MMDEMO_MODE=public;
    an explicit MMDEMO_MODE=admin wins (with a warning when the server is exposed). The
    models offered: ``model``, then ``also``, then MMDEMO_MODELS."""
    env = os.environ if env is None else env
    host = host or env.get("GRADIO_SERVER_NAME")
    exposed = bool(env.get("SPACE_ID")) or not is_loopback(host)
    asked = (env.get("MMDEMO_MODE") or "").strip().lower()
    if asked and asked not in (PUBLIC, ADMIN):
        raise UserError(f"MMDEMO_MODE must be {PUBLIC!r} or {ADMIN!r}, got {asked!r}")
    mode = asked or (PUBLIC if exposed else ADMIN)
    if mode == ADMIN and exposed:
        log.warning("admin mode on an exposed server: every visitor can write indexes and read folders")
    listed = [s for s in (env.get("MMDEMO_MODELS") or "").split(",") if s.strip()]
    models = tuple(dict.fromkeys(encoders.parse_spec(s).text for s in [model, *also, *listed]))
    roots = env.get("MMDEMO_FOLDER_ROOTS")
    if roots:
        folder_roots = tuple(Path(p).expanduser().resolve() for p in roots.split(os.pathsep) if p)
    else:  # a local user may index their own folders; a public server none unless configured
        folder_roots = () if mode == PUBLIC else (Path.cwd().resolve(), Path.home().resolve())
    token = env.get("MMDEMO_ADMIN_TOKEN") or None
    if token and len(token) < 16:
        raise UserError("MMDEMO_ADMIN_TOKEN must be at least 16 characters long")
    return Policy(mode, models, token, folder_roots)


# --- which model a server serves ----------------------------------------------------------------
SPACE_MODEL = "open_clip:ViT-B-32/laion2b_s34b_b79k"  # README's preload_from_hub fetches its weights
SPACE_FALLBACK = ("This Space serves the small built-in model, which knows only shapes, colours and "
                  f"garments: the weights of `{SPACE_MODEL}` are not in its cache (README's "
                  "`preload_from_hub` puts them there; or set `MMDEMO_MODEL`).")


def served_models(model: str | None = None, env: dict | None = None) -> tuple[str, tuple[str, ...], str]:
    """(the model to serve, further models to offer, a note for the page header).

    The model asked for (argument, then MMDEMO_MODEL) wins. A Space without one serves
    SPACE_MODEL when its weights are in the hub cache, with the built-in model as a second
    choice, and else the built-in model with a note saying why; anywhere else, the built-in."""
    from mmdemo.encoders import cache

    env = os.environ if env is None else env
    asked = model or env.get("MMDEMO_MODEL")
    if asked:
        return asked, (), ""
    if not env.get("SPACE_ID"):
        return "builtin", (), ""
    if cache.locate(SPACE_MODEL).path is not None:
        return SPACE_MODEL, ("builtin",), ""
    log.warning("the weights of %s are not in the hub cache: serving the built-in model", SPACE_MODEL)
    return "builtin", (), SPACE_FALLBACK


# --- files -------------------------------------------------------------------------------------
def upload_dir() -> Path:
    """Gradio's upload folder: the only place request files may come from."""
    from gradio.utils import get_upload_folder  # the one gradio import, for its folder rule

    return Path(get_upload_folder()).resolve()


def uploaded_file(value: Any, what: str = "the image", strict: bool = False) -> Path | None:
    """The server path of a file uploaded through gradio, or None when no file was given.

    Accepts what gradio hands a UI handler (a path string after its own preprocessing) and,
    with ``strict`` (the API), only a FileData carrying gradio's meta, which gradio has checked
    was uploaded. Either way the file must lie in gradio's upload folder, and the error for
    anything else is the same whether or not such a path exists on the server.
    """
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, dict):
        raw = value.get("path") if (value.get("meta") or {}).get("_type") == "gradio.FileData" else None
    elif isinstance(value, (str, os.PathLike)):
        raw = None if strict else value
    else:  # a FileData object gradio built from a checked payload
        raw = getattr(value, "path", None)
    if not isinstance(raw, (str, os.PathLike)) or not str(raw):
        raise UserError(NOT_UPLOADED.format(what=what))
    path = Path(os.path.abspath(raw)).resolve()  # ".." and symlinks folded before the check
    if not _is_upload(path):
        raise UserError(NOT_UPLOADED.format(what=what))
    if not path.is_file():
        raise UserError(f"{what}: the upload is gone (uploads expire); upload it again")
    return path


def _is_upload(path: Path) -> bool:
    """In gradio's layout for an upload, ``<upload dir>/<hash>/<name>``, and nowhere deeper."""
    folder = upload_dir()
    return path.is_relative_to(folder) and len(path.relative_to(folder).parts) == 2


def discard(paths: list[str]) -> None:
    """Delete consumed uploads from gradio's upload folder (only from there)."""
    for p in paths:
        path = Path(p).resolve()
        if _is_upload(path):
            path.unlink(missing_ok=True)


def server_folder(folder: str, policy: Policy, token: str | None = None) -> Path:
    """A server folder an admin may index: inside the configured roots."""
    policy.require_write(token, "indexing a server folder")
    if not policy.folder_roots:
        raise UserError("this server indexes no server folders (set MMDEMO_FOLDER_ROOTS)")
    root = Path(folder or "").expanduser().resolve()
    inside = any(root == r or r in root.parents for r in policy.folder_roots)
    if not folder or not inside:
        raise UserError(f"{folder!r} is not a folder this server may read "
                        f"({', '.join(map(str, policy.folder_roots))}; set MMDEMO_FOLDER_ROOTS)")
    if not root.is_dir():
        raise UserError(f"{folder!r} is not a folder on the server")
    return root


def served_paths() -> list[str]:
    """What ``launch(allowed_paths=...)`` may serve: result images, nothing else."""
    from mmdemo.data import gallery, thumbs

    for folder in (gallery.bundled_dir(), thumbs.folder()):
        folder.mkdir(parents=True, exist_ok=True)
    return [str(gallery.bundled_dir().resolve()), str(thumbs.folder().resolve())]


def public_path(path: str | Path) -> str:
    """A served file as answers name it: relative to the working directory, never absolute."""
    return _relative(str(path), os.getcwd())


@functools.lru_cache(maxsize=1 << 16)
def _relative(path: str, cwd: str) -> str:
    """Cached: a slider move names ~70 result and map thumbnails, and resolving each (realpath:
    a syscall per path component) was a quarter of the Retrieve handler's time."""
    return os.path.relpath(Path(path).resolve(), cwd)


def scrub(message: str) -> str:
    """Replace every server path in a message by one placeholder (public answers): which
    folder a path lay in must not show either, or the message is an oracle for the layout."""
    return re.sub(r"(?<![\w<>.])/(?:[\w.-]+/)*[\w.-]+/?", "<path>", message)
