"""Query parts: the user's image, texts, negatives and ``@`` terms as weighted unit vectors.

Embeddings are cached per model and content, so moving a slider never re-encodes a part.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from mmdemo import caches, fusion, limits, query
from mmdemo.data import images
from mmdemo.data.vocab import COLOR_NAMES, GARMENTS, SHAPES
from mmdemo.errors import UserError
from mmdemo.index import Index

_EMBEDDINGS = caches.embeddings()  # (fingerprint, kind, content) -> part vector (and quality)


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
    text = limits.text(text)
    if not text:
        raise UserError("the text is empty")
    return text


def split_negatives(negative: str | Sequence[str] | None) -> list[str]:
    """Comma-separated (or listed) negatives: one field of at most MAX_TEXT characters and at
    most MAX_TERMS texts, since each one costs an encode."""
    if not negative:
        return []
    if isinstance(negative, str):
        items = limits.text(negative, "the negative text").split(",")
    else:
        items = list(negative)[:limits.MAX_TERMS + 1]
    out = [clean_text(n) for n in items if str(n).strip()]
    if len(out) > limits.MAX_TERMS:
        raise UserError(f"more than {limits.MAX_TERMS} negative texts given; the limit is {limits.MAX_TERMS}")
    return out


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
            emb = np.stack([text_vector(encoder, limits.fill(template, w)) for w in others])  # cached per text
            return others[int(np.argmax(emb @ image_vec))]
    return None


@dataclass
class Parts:
    parts: list[fusion.Part]
    source: str | None = None  # delta's source text, typed or guessed


def build_parts(encoder, image: Any = None, text: str | None = None,
                negative: str | Sequence[str] | None = None, expression: str | None = None,
                fusion_mode: str = "early", source: str | None = None, idx: Index | None = None,
                allow_paths: bool = False, steer: Sequence[fusion.Part] = ()) -> Parts:
    """Turn the user's inputs into weighted parts; embeddings come from the cache. ``steer``
    (examples and a map region, ``feedback``) joins as image terms."""
    parts: list[fusion.Part] = []
    names: set[str] = set()
    if expression and expression.strip():
        for term in query.parse(limits.text(expression, "the expression")):
            name = _unique(term.value if term.kind == "text" else Path(term.value).name, names)
            if term.kind == "image":
                vec, q, kind = image_term(encoder, term.value, image, idx, allow_paths)
                parts.append(fusion.Part(name, kind, vec, term.multiplier, term.sign, quality=q))
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
    parts += [replace(p, name=_unique(p.name, names)) for p in steer]
    if not parts:
        raise UserError("the query is empty: give an image, a text, or both")
    return with_delta_source(encoder, parts, text, source) if fusion_mode == "delta" else Parts(parts)


DELTA_NEEDS = "delta fusion needs both an image and a text saying what to change it to"


def can_delta(parts: list[fusion.Part]) -> bool:
    """Delta moves a query image along a text: it needs one of each (examples are no image)."""
    return any(p.kind == "image" for p in parts) and any(p.kind == "text" for p in parts)


def with_delta_source(encoder, parts: list[fusion.Part], text: str | None = None,
                      source: str | None = None) -> Parts:
    """Delta fusion's parts: the query's, plus its source text (typed, or guessed from the
    image) subtracted with the text weight."""
    if not can_delta(parts):
        raise UserError(DELTA_NEEDS)
    img = next(p for p in parts if p.kind == "image")
    target = next(p for p in parts if p.kind == "text")
    target_text = text if text and str(text).strip() else target.name
    src = clean_text(source) if source and str(source).strip() else guess_source(encoder, img.vector, target_text)
    if src:
        parts = [*parts, fusion.Part(f"from: {src}", "text", text_vector(encoder, src), sign=-1.0)]
    return Parts(parts, src)


def image_term(encoder, ref: str, image: Any, idx: Index | None,
               allow_paths: bool) -> tuple[np.ndarray, float | None, str]:
    """An ``@`` term's (vector, quality, kind): ``@image`` (this request's upload, kind image),
    an item of the index searched (its stored embedding, no file is read: an example, which
    weighs its multiplier alone), or, for the CLI's local user, a file path (kind image). The
    answer never depends on whether a path exists unless paths are allowed."""
    if ref == "image":
        if image is None:
            raise UserError("'@image' names the uploaded query image, but none was given")
        part = image_part(encoder, image)
        return part.vector, part.quality, "image"
    row = _row_of(idx, ref) if idx is not None else None
    if row is not None:
        return np.asarray(idx.read_rows(np.array([row]))[0], np.float32), None, fusion.EXAMPLE
    if allow_paths:
        part = image_part(encoder, ref)
        return part.vector, part.quality, "image"
    raise UserError(f"image term @{ref[:40]}: name @image (the uploaded image) or an item id of the "
                    "index searched (the id of a result); server paths are not accepted")


def _row_of(idx: Index, ref: str) -> int | None:
    """The row of an item named by its id (any index size) or its file name (``shape-0001.png``,
    a scan, on indexes of up to MAX_TERM_SCAN items)."""
    row = int(idx.rows_of([ref])[0]) if len(ref) <= 64 else -1
    if row >= 0:
        return row
    if len(idx) > limits.MAX_TERM_SCAN:  # a scan of millions of (on-disk) items per term
        raise UserError(f"image terms name items by file name on indexes of up to {limits.MAX_TERM_SCAN:,} "
                        f"items; {idx.manifest.name!r} has {len(idx):,}: name it by its id, or give @image")
    return next((i for i, it in enumerate(idx.items) if ref == it.path or it.path.rsplit("/", 1)[-1] == ref), None)


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name} ({n})", n + 1
    taken.add(out)
    return out
