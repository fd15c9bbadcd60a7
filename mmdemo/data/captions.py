"""Captions from attributes, in the phrasings users type, with the attributes each one names.

A caption "fits" an image when every attribute it names matches the image; training counts
every fitting caption as a positive, and composed-retrieval queries use the partial phrasings
("make it blue", "as a triangle") as modification texts. Training draws only from
``phrasings.SEEN``; ``phrasings.HELDOUT`` is for evaluation.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mmdemo.data import phrasings
from mmdemo.data.phrasings import SEEN

Attrs = dict[str, str]

_KEYS = {"c": "color", "s": "shape", "S": "shape", "z": "size", "g": "garment", "G": "garment", "p": "position"}


def fill(template: str, attrs: Attrs) -> tuple[str, Attrs]:
    """Fill a template; return the text and the attributes it names."""
    named = {v: attrs[v] for k, v in _KEYS.items() if "{" + k + "}" in template}
    values = {k: attrs.get(v, "") for k, v in _KEYS.items()}
    values["S"], values["G"] = phrasings.plural(values["S"]), phrasings.plural(values["G"])
    return template.format(**values), named


def usable(pool: Sequence[str], attrs: Attrs) -> list[str]:
    """The templates of ``pool`` whose every placeholder ``attrs`` can fill."""
    return [t for t in pool if all(v in attrs for k, v in _KEYS.items() if "{" + k + "}" in t)]


def _pool(attrs: Attrs, rng: np.random.Generator) -> tuple[str, ...]:
    garment = "garment" in attrs
    if attrs.get("color") == "none":  # achromatic: name only what the image has
        return SEEN["garment_only" if garment else "shape_only"]
    if "position" in attrs and rng.random() < 0.2:  # keeps where a shape is in the embedding
        return SEEN["with_position"]
    r = rng.random()
    if r < 0.55:
        return SEEN["full_garment" if garment else "full_shape"]
    if r < 0.75:
        return SEEN["color_only"]
    if r < 0.95:
        return SEEN["garment_only" if garment else "shape_only"]
    return SEEN["color_only" if garment or "size" not in attrs else "size_only"]


def random_caption(attrs: Attrs, rng: np.random.Generator, typos: float = 0.0,
                   noise_words: Sequence[str] = ()) -> tuple[str, Attrs]:
    """A caption for an image: full most of the time, otherwise one attribute alone.

    ``typos``: chance that each word with a known misspelling is misspelt; ``noise_words``: a
    word from it is inserted at a random place in a tenth of the captions, so words the model
    does not know do not throw it."""
    text, named = fill(str(rng.choice(usable(_pool(attrs, rng), attrs))), attrs)
    if typos or noise_words:
        words = text.split()
        if typos:
            words = [str(rng.choice(phrasings.TYPOS[w])) if w in phrasings.TYPOS and rng.random() < typos else w
                     for w in words]
        if noise_words and rng.random() < 0.1:
            words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(noise_words)))
        text = " ".join(words)
    return text, named


def fits(named: Attrs, attrs: Attrs) -> bool:
    """Does a caption naming ``named`` describe an image with ``attrs``?"""
    return all(attrs.get(k) == v for k, v in named.items())


def phrasing_queries(bank: dict[str, tuple[str, ...]], values: dict[str, Sequence[str]]) -> list[tuple[str, Attrs]]:
    """Every template of ``bank`` filled with every value it can take: (text, attributes named)."""
    from itertools import product

    out = []
    for kind, pool in bank.items():
        keys = {"full_shape": ("color", "shape"), "full_garment": ("color", "garment"), "color_only": ("color",),
                "shape_only": ("shape",), "garment_only": ("garment",)}.get(kind)
        if keys is None:
            continue
        for combo in product(*(values[k] for k in keys)):
            attrs = dict(zip(keys, combo))
            out.extend(fill(t, attrs) for t in usable(pool, attrs))
    return out
