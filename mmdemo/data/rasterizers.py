"""Three independent ways to draw one shape onto a canvas, each with its own geometry.

Drawing programs disagree on anti-aliasing, polygon orientation and the proportions of a star
or a cross; a model trained on one of them learns its quirks. Training uses ``pil`` (Pillow
polygons, box-filtered supersampling) and ``sdf`` (an analytic signed-distance coverage
renderer in numpy, with rounded corners, outlines and varied star/cross proportions).
``mpl`` (matplotlib patches through the Agg backend) is never used in training: evaluation
draws with it to measure how well the model holds up on drawings it has never seen the like of.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from mmdemo.data.shapes import polygon


@dataclass(frozen=True)
class Drawing:
    """One shape in canvas pixels: ``radius`` is half the shape's extent."""

    shape: str
    cx: float
    cy: float
    radius: float
    angle: float  # degrees
    fill: tuple[int, int, int]


Renderer = Callable[[np.ndarray, Drawing, np.random.Generator], np.ndarray]


def _composite(canvas: np.ndarray, alpha: np.ndarray, color) -> np.ndarray:
    a = np.clip(alpha, 0, 1)[..., None]
    return canvas * (1 - a) + np.asarray(color, np.float32) * a


def draw_pil(canvas: np.ndarray, d: Drawing, rng: np.random.Generator) -> np.ndarray:
    """Pillow polygons (the classic generator's geometry), supersampled 1-3× and box-filtered."""
    s = int(rng.integers(1, 4))
    h, w = canvas.shape[:2]
    mask = Image.new("L", (w * s, h * s), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy, r = d.cx * s, d.cy * s, d.radius * s
    if d.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        tip = 1.1 if d.shape in ("star", "triangle") else 1.0  # so the extent is the radius
        draw.polygon(polygon(d.shape, cx, cy, r / tip, d.angle), fill=255)
    if s > 1:
        mask = mask.reduce(s)
    return _composite(canvas, np.asarray(mask, np.float32) / 255.0, d.fill)


def _sdf_vertices(shape: str, r: float, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Outline of ``shape`` centred at 0 (its own proportions, drawn fresh for every image)."""
    def ring(n: int, radii: list[float], offset: float) -> np.ndarray:
        a = np.radians(angle + offset + 360.0 * np.arange(n) / n)
        rr = np.array([radii[i % len(radii)] for i in range(n)])
        return np.stack([rr * np.cos(a), rr * np.sin(a)], 1)

    if shape == "square":
        return ring(4, [r], 45)
    if shape == "triangle":
        return ring(3, [r], 90)  # apex down here, up in pil: orientation is not the shape
    if shape == "hexagon":
        return ring(6, [r], 30)
    if shape == "star":
        return ring(10, [r, r * float(rng.uniform(0.36, 0.55))], 90)
    if shape == "cross":
        t = r * float(rng.uniform(0.22, 0.42))
        base = np.array([(-t, -r), (t, -r), (t, -t), (r, -t), (r, t), (t, t), (t, r), (-t, r),
                         (-t, t), (-r, t), (-r, -t), (-t, -t)])
        ca, sa = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        return base @ np.array([[ca, sa], [-sa, ca]])
    raise ValueError(f"unknown shape {shape!r}")


def _polygon_sdf(px: np.ndarray, py: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) from every pixel centre to a closed polygon."""
    dist = np.full(px.shape, np.inf, np.float32)
    inside = np.zeros(px.shape, bool)
    for (x0, y0), (x1, y1) in zip(v, np.roll(v, -1, axis=0)):
        ex, ey = x1 - x0, y1 - y0
        t = np.clip(((px - x0) * ex + (py - y0) * ey) / (ex * ex + ey * ey), 0, 1)
        dist = np.minimum(dist, np.hypot(px - x0 - t * ex, py - y0 - t * ey))
        crosses = (y0 > py) != (y1 > py)
        inside ^= crosses & (px < x0 + (py - y0) * ex / (y1 - y0 + 1e-12))
    return np.where(inside, -dist, dist)


def draw_sdf(canvas: np.ndarray, d: Drawing, rng: np.random.Generator) -> np.ndarray:
    """Analytic coverage from a signed distance: rounded corners, optional darker outline."""
    h, w = canvas.shape[:2]
    y0, y1 = max(0, int(d.cy - d.radius) - 2), min(h, int(d.cy + d.radius) + 3)
    x0, x1 = max(0, int(d.cx - d.radius) - 2), min(w, int(d.cx + d.radius) + 3)
    if y1 <= y0 or x1 <= x0:
        return canvas
    py, px = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    px, py = px - d.cx, py - d.cy
    if d.shape == "circle":
        sdf = np.hypot(px, py) - d.radius
    else:
        round_ = d.radius * float(rng.uniform(0, 0.12)) if rng.random() < 0.5 else 0.0
        sdf = _polygon_sdf(px, py, _sdf_vertices(d.shape, d.radius - round_, d.angle, rng)) - round_
    out = canvas.copy()
    region = _composite(canvas[y0:y1, x0:x1], 0.5 - sdf, d.fill)
    if rng.random() < 0.3:  # an outline in a darker shade of the fill, as drawing tools add
        width = max(1.0, d.radius * float(rng.uniform(0.03, 0.1)))
        region = _composite(region, width / 2 + 0.5 - np.abs(sdf + width / 2), np.asarray(d.fill) * 0.6)
    out[y0:y1, x0:x1] = region
    return out


def draw_mpl(canvas: np.ndarray, d: Drawing, rng: np.random.Generator) -> np.ndarray:
    """matplotlib patches through Agg (HELD OUT: evaluation only, never in training)."""
    from matplotlib import patches
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.markers import MarkerStyle
    from matplotlib.path import Path as MplPath
    from matplotlib.transforms import Affine2D

    h, w = canvas.shape[:2]
    fig = Figure(figsize=(w / 100, h / 100), dpi=100)
    agg = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(np.clip(canvas, 0, 255).astype(np.uint8), extent=(0, w, h, 0), interpolation="nearest")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    color = np.asarray(d.fill) / 255.0
    style = {"facecolor": color, "edgecolor": color, "linewidth": float(rng.uniform(0, 1.5))}
    r, orient = d.radius, math.radians(d.angle)
    if d.shape == "circle":
        patch = patches.Circle((d.cx, d.cy), r, **style)
    elif d.shape in ("triangle", "square", "hexagon"):
        n = {"triangle": 3, "square": 4, "hexagon": 6}[d.shape]
        patch = patches.RegularPolygon((d.cx, d.cy), n, radius=r, orientation=orient, **style)
    else:
        path = (MplPath.unit_regular_star(5, float(rng.uniform(0.38, 0.5))) if d.shape == "star"
                else MarkerStyle("P").get_path())
        scale = r if d.shape == "star" else r / 0.5  # marker "P" spans ±0.5
        path = path.transformed(Affine2D().scale(scale).rotate(orient).translate(d.cx, d.cy))
        patch = patches.PathPatch(path, **style)
    ax.add_patch(patch)
    agg.draw()
    return np.asarray(agg.buffer_rgba(), np.float32)[:h, :w, :3]


RENDERERS: dict[str, Renderer] = {"pil": draw_pil, "sdf": draw_sdf, "mpl": draw_mpl}
TRAIN_RENDERERS: tuple[str, ...] = ("pil", "sdf")
HELDOUT_RENDERER = "mpl"
