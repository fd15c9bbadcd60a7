"""Procedurally rendered coloured shapes with known attributes (CSS-dataset style).

Every image comes from a ``ShapeSpec``, so captions, labels and composed-retrieval targets are
exact. Drawing happens at twice the size and is box-filtered down, which gives the anti-aliased
edges a real photo has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from mmdemo.data.vocab import COLORS, HELDOUT_SHAPE_PAIRS, SHAPES, SIZES


@dataclass(frozen=True)
class ShapeSpec:
    color: str
    shape: str
    size: str
    cx: float  # centre, as a fraction of the canvas
    cy: float
    angle: float  # degrees
    background: tuple[int, int, int]
    noise: float  # std of per-pixel Gaussian noise, in 0-255 units
    seed: int  # for the noise
    fill: tuple[int, int, int] | None = None  # explicit RGB for achromatic shapes (color "none")

    @property
    def attributes(self) -> dict[str, str]:
        return {"color": self.color, "shape": self.shape, "size": self.size}


def sample_spec(
    rng: np.random.Generator,
    color: str | None = None,
    shape: str | None = None,
    size: str | None = None,
    heldout: str = "exclude",
) -> ShapeSpec:
    """Draw a random spec; fixed attributes stay fixed. ``heldout``: exclude, only, or any."""
    while True:
        c = color or str(rng.choice(list(COLORS)))
        s = shape or str(rng.choice(SHAPES))
        is_heldout = (c, s) in HELDOUT_SHAPE_PAIRS
        if heldout == "any" or (heldout == "exclude") != is_heldout:
            break
        if color and shape:
            raise ValueError(f"({c}, {s}) conflicts with heldout={heldout!r}")
    z = size or str(rng.choice(SIZES))
    radius = 0.2 if z == "small" else 0.36
    margin = radius + 0.06
    grey = int(rng.integers(70, 236))
    tint = rng.integers(-12, 13, size=3)
    background = tuple(int(np.clip(grey + t, 0, 255)) for t in tint)
    return ShapeSpec(
        color=c, shape=s, size=z,
        cx=float(rng.uniform(margin, 1 - margin)), cy=float(rng.uniform(margin, 1 - margin)),
        angle=float(rng.uniform(-30, 30)), background=background,  # type: ignore[arg-type]
        noise=float(rng.uniform(0, 12)), seed=int(rng.integers(2**31)),
    )


def position(spec: ShapeSpec) -> str:
    """Where the shape sits, on a 3×3 grid: "top left" … "middle" … "bottom right"."""
    col = ("left", "", "right")[min(2, int(spec.cx * 3))]
    row = ("top", "", "bottom")[min(2, int(spec.cy * 3))]
    return f"{row} {col}".strip() or "middle"


def achromatic(rng: np.random.Generator, spec: ShapeSpec) -> ShapeSpec:
    """The same geometry in a grey that contrasts with the background: its colour is "none".

    Training sees these with shape-only captions, which teaches the image tower shape
    features that do not depend on hue (without ever showing a held-out colour-shape pair).
    """
    bg = int(np.mean(spec.background))
    level = int(rng.integers(0, 60)) if bg > 140 else int(rng.integers(200, 256))
    return ShapeSpec(**{**spec.__dict__, "color": "none", "fill": (level, level, level)})


def polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """The classic generator's outline of ``shape`` (star and triangle tips reach 1.1 r)."""
    def ring(n: int, radii: list[float], offset: float) -> list[tuple[float, float]]:
        pts = []
        for i in range(n):
            a = math.radians(angle + offset + 360.0 * i / n)
            rr = radii[i % len(radii)]
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        return pts

    if shape == "square":
        return ring(4, [r * 0.95], 45)
    if shape == "triangle":
        return ring(3, [r * 1.1], -90)
    if shape == "hexagon":
        return ring(6, [r], 0)
    if shape == "star":
        return ring(10, [r * 1.1, r * 0.45], -90)
    if shape == "cross":
        t = r * 0.36
        base = [(-t, -r), (t, -r), (t, -t), (r, -t), (r, t), (t, t), (t, r), (-t, r),
                (-t, t), (-r, t), (-r, -t), (-t, -t)]
        ca, sa = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in base]
    raise ValueError(f"unknown shape {shape!r}")


def render(spec: ShapeSpec, size: int = 64) -> Image.Image:
    """Render one spec as an RGB image of ``size`` x ``size`` pixels."""
    big = size * 2
    img = Image.new("RGB", (big, big), spec.background)
    draw = ImageDraw.Draw(img)
    r = (0.2 if spec.size == "small" else 0.36) * big
    cx, cy = spec.cx * big, spec.cy * big
    fill = spec.fill or COLORS[spec.color]
    if spec.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        draw.polygon(polygon(spec.shape, cx, cy, r, spec.angle), fill=fill)
    img = img.reduce(2)
    if spec.noise > 0:
        noise = np.random.default_rng(spec.seed).normal(0, spec.noise, (size, size, 3))
        img = Image.fromarray(np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8))
    return img
