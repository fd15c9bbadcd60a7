"""The paraphrase bank: how people ask for a colour, a shape or a garment, per caption type.

``SEEN`` is what training captions are drawn from; ``HELDOUT`` is never used in training and
measures whether the text tower understands new phrasings of the same request. Placeholders:
{c} colour, {s} shape, {S} shapes (plural), {z} size, {g} garment, {G} garments, {p} position.
``TYPOS`` are the misspellings training sees (at a low rate).
"""

from __future__ import annotations

SEEN: dict[str, tuple[str, ...]] = {
    "full_shape": (
        "a {c} {s}", "a {z} {c} {s}", "{c} {s}", "a photo of a {c} {s}", "a {s} in {c}",
        "a {c} {s} on a plain background", "a {s} that is {c}", "the {z} {c} {s}", "{s} {c}",
        "it is a {c} {s}", "show me a {c} {s}", "show me {c} {S}", "{c} {S}", "a drawing of a {c} {s}",
        "an image of a {c} {s}", "the {c} {s}", "a {c} coloured {s}", "a {s}, {c}", "{c} {s} please",
        "there is a {c} {s}", "a {c} {s} shape", "one {c} {s}", "i want a {c} {s}",
        "search for {c} {S}", "the same but a {c} {s}", "a {c} color {s}",
    ),
    "full_garment": (
        "a {c} {g}", "{c} {g}", "a photo of a {c} {g}", "a {g} in {c}", "a {g} that is {c}",
        "show me a {c} {g}", "show me {c} {G}", "{g} {c}", "it is a {c} {g}", "the {c} {g}",
        "{c} {G}", "i want a {c} {g}", "an image of a {c} {g}", "a {g}, {c}", "search for {c} {G}",
    ),
    "color_only": (
        "a {c} one", "make it {c}", "in {c}", "something {c}", "{c}", "change the colour to {c}",
        "it is {c}", "a {c} thing", "show me {c} ones", "the same but {c}", "{c} ones", "make it {c} instead",
        "change the color to {c}", "same but in {c}", "colour {c}", "now in {c}", "turn it {c}",
        "it should be {c}", "{c} please", "the {c} one",
    ),
    "shape_only": (
        "a {s}", "as a {s}", "make it a {s}", "{s}", "change it to a {s}", "a {z} {s}", "it is a {s}",
        "show me {S}", "{S}", "the same but a {s}", "a {s} shape", "turn it into a {s}", "the {s}",
        "a drawing of a {s}", "something like a {s}", "the same shape as a {s}", "it should be a {s}",
        "make that a {s}", "one {s}",
    ),
    "garment_only": (
        "a {g}", "as a {g}", "make it a {g}", "{g}", "a photo of a {g}", "it is a {g}", "show me {G}",
        "{G}", "the {g}", "something like a {g}", "turn it into a {g}",
    ),
    "size_only": ("a {z} one", "make it {z}", "something {z}", "{z}"),
    "with_position": ("a {c} {s} at the {p}", "a {z} {c} {s}, {p}", "a {s} at the {p}", "something at the {p}"),
}

HELDOUT: dict[str, tuple[str, ...]] = {
    "full_shape": (
        "i'm looking for a {c} {s}", "got any {c} {S}?", "{s}, colour {c}", "find the {c} {s} for me",
        "a picture with a {c} {s} in it", "looking for {c} {S}",
    ),
    "full_garment": (
        "i'm looking for a {c} {g}", "got any {c} {G}?", "{g}, colour {c}", "find the {c} {g} for me",
    ),
    "color_only": ("anything in {c}", "i'd like {c} ones", "everything that is {c}", "colour: {c}"),
    "shape_only": ("looks like a {s}", "find {S} for me", "shaped like a {s}", "anything {s} shaped"),
    "garment_only": ("looks like a {g}", "find {G} for me"),
}

TYPOS: dict[str, tuple[str, ...]] = {
    "red": ("rde", "redd"), "orange": ("orang", "ornage"), "yellow": ("yelow", "yellw"),
    "green": ("gren", "grean"), "cyan": ("cyna", "cyann"), "blue": ("blu", "bleu"),
    "purple": ("purpel", "puple"), "pink": ("pnik", "pinck"), "circle": ("circel", "cirle"),
    "square": ("sqaure", "squre"), "triangle": ("traingle", "triangel"), "star": ("strar", "satr"),
    "hexagon": ("hexagone", "hexgon"), "cross": ("corss", "cros"), "colour": ("color", "collor"),
}

_PLURALS = {"cross": "crosses", "dress": "dresses", "trousers": "trousers", "ankle boot": "ankle boots"}


def plural(word: str) -> str:
    return _PLURALS.get(word, word + "s")


def heldout_words() -> set[str]:
    """Words that only held-out phrasings use: training never puts them in a caption."""
    seen = {w for pool in SEEN.values() for t in pool for w in t.split()}
    return {w for pool in HELDOUT.values() for t in pool for w in t.split() if w not in seen}
