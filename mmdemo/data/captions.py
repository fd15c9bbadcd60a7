"""Captions from attributes, in the phrasings users type, with the attributes each one names.

A caption "fits" an image when every attribute it names matches the image; training counts
every fitting caption as a positive, and composed-retrieval queries use the partial phrasings
("make it blue", "as a triangle") as modification texts.
"""

from __future__ import annotations

import numpy as np

Attrs = dict[str, str]

# {c} colour, {s} shape, {z} size, {g} garment; a template names exactly the keys it uses.
FULL_SHAPE = ["a {c} {s}", "a {z} {c} {s}", "{c} {s}", "a photo of a {c} {s}", "a {s} in {c}",
              "a {c} {s} on a plain background", "a {s} that is {c}", "the {z} {c} {s}"]
FULL_GARMENT = ["a {c} {g}", "{c} {g}", "a photo of a {c} {g}", "a {g} in {c}", "a {g} that is {c}"]
COLOR_ONLY = ["a {c} one", "make it {c}", "in {c}", "something {c}", "{c}", "change the colour to {c}",
              "it is {c}", "a {c} thing"]
SHAPE_ONLY = ["a {s}", "as a {s}", "make it a {s}", "{s}", "change it to a {s}", "a {z} {s}", "it is a {s}"]
GARMENT_ONLY = ["a {g}", "as a {g}", "make it a {g}", "{g}", "a photo of a {g}", "it is a {g}"]
SIZE_ONLY = ["a {z} one", "make it {z}"]
WITH_POSITION = ["a {c} {s} at the {p}", "a {z} {c} {s}, {p}", "a {s} at the {p}", "something at the {p}"]

_KEYS = {"c": "color", "s": "shape", "z": "size", "g": "garment", "p": "position"}


def fill(template: str, attrs: Attrs) -> tuple[str, Attrs]:
    """Fill a template; return the text and the attributes it names."""
    named = {v: attrs[v] for k, v in _KEYS.items() if "{" + k + "}" in template}
    text = template.format(**{k: attrs.get(v, "") for k, v in _KEYS.items()})
    return text, named


def random_caption(attrs: Attrs, rng: np.random.Generator) -> tuple[str, Attrs]:
    """A caption for an image: full most of the time, otherwise one attribute alone."""
    garment = "garment" in attrs
    if attrs.get("color") == "none":  # achromatic: name only what the image has
        return fill(str(rng.choice(GARMENT_ONLY if garment else SHAPE_ONLY)), attrs)
    r = rng.random()
    if "position" in attrs and rng.random() < 0.2:  # keeps where a shape is in the embedding
        return fill(str(rng.choice(WITH_POSITION)), attrs)
    if r < 0.55:
        pool = FULL_GARMENT if garment else FULL_SHAPE
    elif r < 0.75:
        pool = COLOR_ONLY
    elif r < 0.95:
        pool = GARMENT_ONLY if garment else SHAPE_ONLY
    else:
        pool = COLOR_ONLY if garment else SIZE_ONLY
    return fill(str(rng.choice(pool)), attrs)


def fits(named: Attrs, attrs: Attrs) -> bool:
    """Does a caption naming ``named`` describe an image with ``attrs``?"""
    return all(attrs.get(k) == v for k, v in named.items())
