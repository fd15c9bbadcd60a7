"""Search, classify, build and embed: the one place that wires encoders, fusion and indexes.

The UI, the CLI and the HTTP API are thin layers over these functions. Two caches make
moving a slider cheap: query-part embeddings (per model, text or image content) and per-part
candidate scores (per index generation and set of parts). A weight change hits both caches,
so it costs one weighted sum and a top-k, never an encode or a scan.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from mmdemo import build as build_mod
from mmdemo import classify as cls
from mmdemo import encoders, fusion, query
from mmdemo.data import gallery, images
from mmdemo.data.vocab import COLOR_NAMES, GARMENTS, SHAPES
from mmdemo.errors import UserError
from mmdemo.index import Index, delete_index, list_indexes, read_manifest, validate_name

DEFAULT_MODEL = "builtin"
MODES = fusion.MODES + ("learned",)
MAX_TEXT = 1000  # characters kept of a query text; tokenizers truncate further
MAX_K = 200


class LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int):
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()

    def get_or_make(self, key, make: Callable[[], Any]):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        value = make()
        with self.lock:
            self.data[key] = value
            while len(self.data) > self.size:
                self.data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


_EMBEDDINGS = LRU(4096)
_CANDIDATES = LRU(16)
_LABELS = LRU(64)
_COMBINERS = LRU(8)
_INDEXES: dict[str, tuple[float, Index]] = {}
_INDEX_LOCK = threading.Lock()


# --- models and indexes ---------------------------------------------------------------------
def default_index_name(model: str = DEFAULT_MODEL) -> str:
    """The bundled gallery's index for a model: ``bundled`` for the built-in one."""
    spec = encoders.parse_spec(model).text
    if spec == DEFAULT_MODEL:
        return gallery.BUNDLED_INDEX
    return "bundled-" + re.sub(r"[^A-Za-z0-9._-]+", "-", spec).strip("-.")[:48]


def get_index(name: str) -> Index:
    """A loaded index, reloaded when its manifest changed on disk; its model must match."""
    from mmdemo import paths

    name = validate_name(name)
    manifest = paths.index_dir() / name / "manifest.json"
    try:
        mtime = manifest.stat().st_mtime_ns
    except FileNotFoundError:
        raise UserError(f"no index named {name!r}: build it first (Index tab or "
                        f"`mmdemo build-index --name {name}`)") from None
    with _INDEX_LOCK:
        cached = _INDEXES.get(name)
        if cached and cached[0] == mtime:
            return cached[1]
    encoder = encoders.load(read_manifest(name).model)
    idx = Index.load(name, model=encoder.spec, fingerprint=encoder.fingerprint)
    with _INDEX_LOCK:
        _INDEXES[name] = (mtime, idx)
    return idx


def index_encoder(idx: Index, model: str | None = None):
    """The index's own model; naming a different one is an index/model mismatch."""
    encoder = encoders.load(idx.manifest.model)
    if model and encoders.parse_spec(model).text != encoder.spec:
        other = encoders.load(model)
        if other.fingerprint != idx.manifest.fingerprint:
            raise UserError(f"index {idx.manifest.name!r} was built with {idx.manifest.model!r}, "
                            f"not {other.spec!r}: pick that model or rebuild the index with this one")
    return encoder


# --- query parts ----------------------------------------------------------------------------
def image_bytes(image: Any) -> bytes:
    """Bytes of an upload (path, bytes or PIL image) for hashing and decoding."""
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    return images.read_bytes(image)[0]


def image_part(encoder, image: Any, name: str = "image", multiplier: float = 1.0,
               sign: float = 1.0) -> fusion.Part:
    data = image_bytes(image)
    key = (encoder.fingerprint, "image", hashlib.sha1(data).hexdigest())

    label = Path(image).name if isinstance(image, (str, Path)) else "query image"

    def make():
        img = images.decode(data, label)
        native = getattr(getattr(encoder.module, "visual", None), "image_size", (224,))
        native = native[0] if isinstance(native, (tuple, list)) else native
        return encoder.encode_images([img])[0], fusion.image_quality(img, int(native))

    vec, q = _EMBEDDINGS.get_or_make(key, make)
    return fusion.Part(name, "image", vec, multiplier, sign, quality=q)


def text_vector(encoder, text: str) -> np.ndarray:
    text = clean_text(text)
    return _EMBEDDINGS.get_or_make((encoder.fingerprint, "text", text),
                                   lambda: encoder.encode_texts([text])[0])


def clean_text(text: str) -> str:
    text = " ".join(str(text).split())[:MAX_TEXT]
    if not text:
        raise UserError("the text is empty")
    return text


def split_negatives(negative: str | Sequence[str] | None) -> list[str]:
    if not negative:
        return []
    items = negative.split(",") if isinstance(negative, str) else list(negative)
    return [clean_text(n) for n in items if str(n).strip()]


def guess_source(encoder, image_vec: np.ndarray, target: str) -> str | None:
    """Delta fusion's "from": the attribute of the image in the category the target names.

    "make it blue" names a colour, so the source is the colour the image looks most like
    (zero-shot); None when the target names no known attribute.
    """
    words = set(re.findall(r"[a-z-]+(?: boot)?", target.lower()))
    for vocab, template in ((COLOR_NAMES, "a {} one"), (SHAPES, "a {}"), (GARMENTS, "a {}")):
        named = [w for w in vocab if w in words or w in target.lower().split(" ")]
        if named:
            others = [w for w in vocab if w not in named]
            emb = cls.label_embeddings(encoder, others, (template,))
            return others[int(np.argmax(emb @ image_vec))]
    return None


@dataclass
class Parts:
    parts: list[fusion.Part]
    source: str | None = None  # delta's source text, typed or guessed


def build_parts(encoder, image: Any = None, text: str | None = None,
                negative: str | Sequence[str] | None = None, expression: str | None = None,
                fusion_mode: str = "early", source: str | None = None) -> Parts:
    """Turn the user's inputs into weighted parts; embeddings come from the cache."""
    parts: list[fusion.Part] = []
    if expression and expression.strip():
        names: set[str] = set()
        for term in query.parse(expression):
            name = _unique(term.value if term.kind == "text" else Path(term.value).name, names)
            if term.kind == "image":
                parts.append(image_part(encoder, term.value, name, term.multiplier, term.sign))
            elif term.sign < 0:
                parts.append(fusion.Part(name, "negative", text_vector(encoder, term.value), term.multiplier))
            else:
                parts.append(fusion.Part(name, "text", text_vector(encoder, term.value), term.multiplier))
    if image is not None:
        parts.append(image_part(encoder, image))
    if text is not None and str(text).strip():
        parts.append(fusion.Part("text", "text", text_vector(encoder, text)))
    for i, neg in enumerate(split_negatives(negative)):
        parts.append(fusion.Part("negative" if i == 0 else f"negative {i + 1}", "negative",
                                 text_vector(encoder, neg)))
    if not parts:
        raise UserError("the query is empty: give an image, a text, or both")
    if fusion_mode != "delta":
        return Parts(parts)
    img = next((p for p in parts if p.kind == "image"), None)
    target = next((p for p in parts if p.kind == "text"), None)
    if img is None or target is None:
        raise UserError("delta fusion needs both an image and a text saying what to change it to")
    target_text = text if text and str(text).strip() else target.name
    src = clean_text(source) if source and str(source).strip() else guess_source(encoder, img.vector, target_text)
    if src:
        parts.append(fusion.Part(f"from: {src}", "text", text_vector(encoder, src), sign=-1.0))
    return Parts(parts, src)


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name} ({n})", n + 1
    taken.add(out)
    return out


# --- retrieval ------------------------------------------------------------------------------
def retrieve(index: str | None = None, image: Any = None, text: str | None = None,
             negative: str | Sequence[str] | None = None, w_image: float = 0.5, w_text: float = 0.5,
             w_negative: float = 0.5, fusion_mode: str = "early", quality: bool = False, k: int = 10,
             threshold: float | None = None, expression: str | None = None, source: str | None = None,
             model: str | None = None) -> dict:
    """A fused query against an index; the dict is the API's ``/retrieve`` contract."""
    if fusion_mode not in MODES:
        raise UserError(f"unknown fusion mode {fusion_mode!r}: choose one of {', '.join(MODES)}")
    k = _check_k(k)
    idx = get_index(index or default_index_name(model or DEFAULT_MODEL))
    encoder = index_encoder(idx, model)
    built = build_parts(encoder, image, text, negative, expression, fusion_mode, source)
    kinds = fusion.effective_weights(built.parts, {"image": w_image, "text": w_text, "negative": w_negative})
    scoring_mode, scoring_kinds = fusion_mode, kinds
    if fusion_mode == "learned":  # one composed query, scored like early fusion; sliders unused
        built = learned_parts(idx, encoder, built.parts)
        scoring_mode, scoring_kinds = "early", {**kinds, "image": 1.0}
    cand = candidates_for(idx, built.parts)
    fused = fusion.fuse(cand, built.parts, scoring_kinds, scoring_mode, k, threshold, quality)
    results = []
    for row, score, contrib in zip(fused.rows, fused.scores, fused.contributions):
        item = idx.items[int(row)]
        results.append({"id": item.id, "path": str(gallery.resolve(item.path)), "score": round(float(score), 6),
                        "parts": {p.name: round(float(c), 6) for p, c in zip(built.parts, contrib)},
                        "caption": item.caption, "label": item.label})
    return {
        "results": results,
        "weights": {k_: round(v, 6) for k_, v in kinds.items()},
        "parts": [{"name": p.name, "kind": p.kind, "weight": round(float(w), 6),
                   **({"quality": round(p.quality, 3)} if p.quality is not None else {})}
                  for p, w in zip(built.parts, fused.weights)],
        "fusion": fusion_mode, "source": built.source,
        "formula": ("score = cos(combiner(e_img, e_txt), g)  (learned fusion; sliders unused)"
                    if fusion_mode == "learned" else fused.formula),
        "index": idx.manifest.name, "model": encoder.spec, "candidates": int(len(cand.rows)),
    }


def learned_parts(idx: Index, encoder, parts: list[fusion.Part]) -> Parts:
    """Model-level fusion: the index's trained combiner turns image + text into one query."""
    from mmdemo import combiner, paths

    img = next((p for p in parts if p.kind == "image"), None)
    txt = next((p for p in parts if p.kind == "text"), None)
    if img is None or txt is None:
        raise UserError("learned fusion needs both an image and a text")
    folder = paths.index_dir() / idx.manifest.name
    stamp = (folder / combiner.FILE).stat().st_mtime_ns if (folder / combiner.FILE).exists() else 0
    model = _COMBINERS.get_or_make((idx.manifest.name, stamp, encoder.fingerprint),
                                   lambda: combiner.load(folder, encoder.fingerprint))
    q = combiner.compose(model, img.vector, txt.vector)[0]
    return Parts([fusion.Part("learned", "image", q)])


def candidates_for(idx: Index, parts: list[fusion.Part]) -> fusion.Candidates:
    key = (idx.manifest.name, idx.manifest.generation, len(idx),
           tuple((p.kind, p.direction, p.vector.tobytes()) for p in parts))
    vectors = np.stack([p.vector for p in parts])
    directions = np.array([p.direction for p in parts])
    return _CANDIDATES.get_or_make(key, lambda: idx.candidates(vectors, directions))


def _check_k(k: Any) -> int:
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise UserError(f"k must be a whole number, got {k!r}") from None
    if not 1 <= k <= MAX_K:
        raise UserError(f"k must be between 1 and {MAX_K}, got {k}")
    return k


# --- classification -------------------------------------------------------------------------
def classify(image: Any = None, labels: str | Sequence[str] = "", text: str | None = None,
             w_image: float = 1.0, w_text: float = 0.5, templates: Sequence[str] | None = None,
             model: str | None = None) -> dict:
    """Zero-shot labels for an image, optionally fused with a text hint (early fusion)."""
    encoder = encoders.load(model or DEFAULT_MODEL)
    names = cls.parse_labels(labels)
    temps = tuple(t for t in (templates or cls.DEFAULT_TEMPLATES) if t and "{}" in t) or cls.DEFAULT_TEMPLATES
    label_emb = _LABELS.get_or_make((encoder.fingerprint, tuple(names), temps),
                                    lambda: cls.label_embeddings(encoder, names, temps))
    built = build_parts(encoder, image, text)
    kinds = fusion.effective_weights(built.parts, {"image": w_image, "text": w_text, "negative": 0.0})
    w = fusion.part_weights(built.parts, kinds)
    q = fusion.early_query(np.stack([p.vector for p in built.parts]), w)
    probs = cls.probabilities(q, label_emb, encoder.logit_scale)
    order = np.argsort(-probs, kind="stable")
    return {"model": encoder.spec, "labels": [{"label": names[i], "score": float(probs[i])} for i in order],
            "weights": {k_: round(v, 6) for k_, v in kinds.items() if k_ != "negative"}}


# --- building and embedding -------------------------------------------------------------------
def build_index(name: str | None = None, source: str | Sequence[str] = "bundled", model: str | None = None,
                factory: str | None = None, append: bool = False,
                progress: Callable[[int, int], None] | None = None, workers: int | None = None) -> dict:
    """Build (or with ``append`` extend) an index from ``bundled``, a folder or files; save it."""
    model = model or DEFAULT_MODEL
    name = validate_name(name or default_index_name(model))
    encoder = encoders.load(model)
    if isinstance(source, str):
        entries = gallery.entries_for(source)
    else:
        entries = gallery.file_entries(list(source), source="upload")
    if not entries:
        raise UserError("the source has no files to index")
    idx = None
    if append:
        try:
            idx = Index.load(name, model=encoder.spec, fingerprint=encoder.fingerprint)
        except UserError as exc:
            if "no index named" not in str(exc):
                raise
    if idx is None:
        idx = Index.create(name, encoder.spec, encoder.fingerprint, encoder.dim, factory)
    report = build_mod.build(idx, entries, encoder, progress=progress, workers=workers)
    if len(idx) == 0:
        raise UserError(f"no image in the source could be read; {len(report.skipped)} skipped, e.g. "
                        f"{report.skipped[0][0]}: {report.skipped[0][1]}" if report.skipped else "no images")
    if not factory and not append:
        idx.manifest.factory = ""  # pick by final size
        idx.vectors = idx._build_faiss()
    idx.save()
    forget_index(name)
    return {**report.as_dict(), "count": len(idx), "model": encoder.spec, "factory": idx.manifest.factory}


def ensure_index(name: str | None = None, model: str | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 combiner_progress: Callable[[int, int], None] | None = None) -> str:
    """Build the bundled gallery's index for ``model`` and its learned combiner if missing."""
    from mmdemo.evaluate import learned

    name = name or default_index_name(model or DEFAULT_MODEL)
    if not any(m.name == name for m in list_indexes()):
        build_index(name, "bundled", model, progress=progress)
    learned.ensure_for_index(name, encoders.load(model or DEFAULT_MODEL), combiner_progress)
    return name


def forget_index(name: str) -> None:
    with _INDEX_LOCK:
        _INDEXES.pop(name, None)
    _CANDIDATES.clear()


def remove_index(name: str) -> None:
    delete_index(name)
    forget_index(name)


def indexes() -> list[dict]:
    return [{"name": m.name, "model": m.model, "count": m.count, "factory": m.factory,
             "updated": m.updated, "defaults": m.defaults} for m in list_indexes()]


def embed(image: Any = None, text: str | None = None, model: str | None = None) -> dict:
    """The unit embedding of an image or a text (exactly one)."""
    if (image is None) == (not text or not str(text).strip()):
        raise UserError("give exactly one of an image or a text to embed")
    encoder = encoders.load(model or DEFAULT_MODEL)
    vec = image_part(encoder, image).vector if image is not None else text_vector(encoder, text)
    return {"model": encoder.spec, "dim": int(vec.shape[0]), "embedding": [float(x) for x in vec]}
