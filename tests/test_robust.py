"""The built-in model on the drawings issue #11 reported, made by the held-out renderer."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mmdemo import service
from mmdemo.data import rasterizers
from mmdemo.evaluate import robust

SHAPE_LABELS = "circle\nsquare\ntriangle\nstar\nhexagon\ncross"


def _drawn(shape: str, radius: float, fill, size: int = 256, bg: int = 225) -> Image.Image:
    canvas = np.full((size, size, 3), bg, np.float32)
    d = rasterizers.Drawing(shape, size / 2, size / 2, radius * size, 0.0, fill)
    pixels = rasterizers.draw_mpl(canvas, d, np.random.default_rng(0))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("shape, radius, fill", [
    ("circle", 0.31, (220, 30, 30)),  # between the classic generator's two sizes
    ("circle", 0.12, (220, 30, 30)),  # smaller than either
    ("hexagon", 0.3, (245, 120, 190)),  # the flat pink hexagon
    ("star", 0.2, (35, 70, 220)),
])
def test_classify_shapes_drawn_by_another_program(builtin, shape, radius, fill):
    out = service.classify(_drawn(shape, radius, fill), SHAPE_LABELS)
    assert out["labels"][0]["label"] == shape


def test_robustness_metrics_meet_their_targets(builtin):
    r = robust.renderer_heldout(builtin, 120)
    assert r["shape"] >= 0.9 and r["color"] >= 0.95  # the full 480-image set: see README
    h = robust.hint_gain(builtin, 60)
    assert h["with_hint"] > h["image_only"]
