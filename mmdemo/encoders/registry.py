"""Which backend loads a spec, and the one process-wide model cache.

The registry imports every backend; the backends import only ``base``, so the encoder
package has no import circle.
"""

from __future__ import annotations

import functools
import socket
import threading
from pathlib import Path

from mmdemo import caches
from mmdemo.encoders import hf, open_clip_backend, st
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


def needs_hub(spec: ModelSpec) -> bool:
    """True when loading would download: a pretrained tag, or a repo name that is no local path."""
    if spec.backend == "open_clip":
        return spec.tag is not None or spec.name.startswith("hf-hub:")
    return spec.backend in ("hf", "st") and not Path(spec.name).expanduser().exists()


@functools.lru_cache(maxsize=1)
def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """One quick connection test, so an offline machine fails in seconds, not after retries."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_uncached(spec: ModelSpec) -> Encoder:
    if spec.backend in ("hf", "st") and spec.name.startswith(("/", ".", "~")) \
            and not Path(spec.name).expanduser().exists():
        raise UserError(f"cannot load model {spec.text!r}: directory {spec.name!r} not found")
    if needs_hub(spec) and not hub_reachable():
        raise UserError(f"cannot load model {spec.text!r}: it must be downloaded, and this machine "
                        f"cannot reach the model hub. {_OFFLINE_HINT}")
    try:
        return LOADERS[spec.backend](spec)
    except UserError:
        raise
    except Exception as exc:  # library internals: turn into one line a user can act on
        raise UserError(_explain(spec, exc)) from exc


_OFFLINE_HINT = ("Download the weights on a machine with internet and pass a local path: "
                 "open_clip:ARCH@/path/weights.bin, hf:/path/dir or st:/path/dir.")


def _explain(spec: ModelSpec, exc: Exception) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    offline = any(w in str(exc).lower() for w in ("connect", "offline", "resolve", "network",
                                                     "huggingface.co", "hub", "internet"))
    hint = (f"this machine cannot reach the model hub. {_OFFLINE_HINT}" if offline else "check the spec: builtin, open_clip:ARCH[/TAG|@PATH], hf:REPO_OR_DIR "
            "or st:NAME_OR_DIR")
    return f"cannot load model {spec.text!r}: {reason[:300]}. {hint}"
