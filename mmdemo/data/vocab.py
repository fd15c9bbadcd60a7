"""The attribute vocabulary shared by the generators, captions, training and evaluation."""

from __future__ import annotations

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 135, 20),
    "yellow": (240, 215, 30),
    "green": (40, 170, 50),
    "cyan": (30, 200, 210),
    "blue": (35, 70, 220),
    "purple": (130, 40, 180),
    "pink": (245, 120, 190),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon", "cross")
SIZES: tuple[str, ...] = ("small", "large")
GARMENTS: tuple[str, ...] = (
    "t-shirt", "trousers", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
COLOR_NAMES: tuple[str, ...] = tuple(COLORS)

# Pairs never rendered during training, to measure whether the model composes attributes.
HELDOUT_SHAPE_PAIRS: frozenset[tuple[str, str]] = frozenset(
    (c, SHAPES[(i + 2) % len(SHAPES)]) for i, c in enumerate(COLOR_NAMES)
)
HELDOUT_GARMENT_PAIRS: frozenset[tuple[str, str]] = frozenset(
    (c, GARMENTS[(3 * i + 1) % len(GARMENTS)]) for i, c in enumerate(COLOR_NAMES)
)

# Seeds: training draws from TRAIN_SEED's stream; evaluation and the bundled gallery never do.
TRAIN_SEED = 0
EVAL_SEED = 1_000_003
GALLERY_SEED = 2_000_003
