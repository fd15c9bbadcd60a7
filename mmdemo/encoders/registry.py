"""Which backend loads a spec, and the one process-wide model cache.

The registry imports every backend and ``cache`` (where a hub name's files are); the backends
import only ``base``, so the encoder package has no import circle. A backend's ``load(spec,
cached)`` gets the cached weights file or snapshot of a hub name, and then loads without
asking the hub.
"""

from __future__ import annotations

import threading
from pathlib import Path

from mmdemo import caches
from mmdemo.encoders import cache, hf, open_clip_backend, st
from mmdemo.encoders.base import Encoder, ModelSpec, parse_spec
from mmdemo.errors import UserError

LOADERS = {"builtin": open_clip_backend.load_builtin, "open_clip": open_clip_backend.load,
           "hf": hf.load, "st": st.load}


# --- the one process-wide cache -------------------------------------------------------------
_CACHE = caches.models()  # LRU of MMDEMO_MAX_MODELS; the first model a process loads stays
_LOADING = threading.Lock()  # one first load at a time: the heaviest thing a request can start


def load(spec: str) -> Encoder:
    """Load a model once per process (thread-safe: concurrent first calls load it once)."""
    parsed = parse_spec(spec)

    def make() -> Encoder:
        with _LOADING:
            return _load_uncached(parsed)

    return _CACHE.get_or_make(parsed.text, make)


def _load_uncached(spec: ModelSpec) -> Encoder:
    if spec.backend in ("hf", "st") and spec.name.startswith(("/", ".", "~")) \
            and not Path(spec.name).expanduser().exists():
        raise UserError(f"cannot load model {spec.text!r}: directory {spec.name!r} not found")
    where = cache.locate(spec)  # the cache first: a cached hub model loads with no request
    cached = where.path if where.source == "hub" else None
    if where.fetch and cached is None and cache.hub_offline():
        raise UserError(cache.miss_message(where))
    try:
        return LOADERS[spec.backend](spec, cached)
    except UserError:
        raise
    except Exception as exc:  # library internals: turn into one line a user can act on
        raise UserError(_explain(spec, where, exc)) from exc


def _explain(spec: ModelSpec, where: cache.Where, exc: Exception) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    offline = any(w in str(exc).lower() for w in ("connect", "offline", "resolve", "network",
                                                     "huggingface.co", "hub", "internet"))
    if offline and where.fetch:
        hint = f"fetch it with `{where.fetch}` where the hub is reachable, or pass a local path"
    elif offline:
        hint = "this machine cannot reach the model hub: pass a local path"
    else:
        hint = "check the spec: builtin, open_clip:ARCH[/TAG|@PATH], hf:REPO_OR_DIR or st:NAME_OR_DIR"
    return f"cannot load model {spec.text!r}: {reason[:300]}. {hint}"
