"""Shapes and garments as people make images of them: any canvas, size, place and background,
then the damage images take on their way (colour shifts, blur, noise, JPEG).

Every scene records the renderer that drew it (``Scene.source``), so training can declare and
tests can check which drawing code its images came from. Shapes sit inside the centred square
of the canvas, because the model's preprocessing crops to it; they may be cut by its border.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from mmdemo.data import rasterizers
from mmdemo.data.vocab import COLORS, GARMENTS, HELDOUT_GARMENT_PAIRS, HELDOUT_SHAPE_PAIRS, SHAPES

SMALL_BELOW, LARGE_ABOVE = 0.45, 0.6  # shape extent / short side; between them no size is named


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    attributes: dict[str, str]
    source: str  # "shapes:<renderer>" or "fashion:wild"


def _pick(rng: np.random.Generator, fixed: str | None, options, pairs, other: str, heldout: str) -> str:
    allowed = [o for o in options if heldout == "any" or ((other, o) in pairs) == (heldout == "only")]
    if fixed is not None:
        return fixed
    if not allowed:
        raise ValueError(f"no choice left for {other!r} with heldout={heldout!r}")
    return str(rng.choice(allowed))


def _tone(rng: np.random.Generator) -> np.ndarray:
    """A background colour: any grey, tinted by at most a quarter of a random hue."""
    grey = rng.uniform(25, 245)
    hue = rng.uniform(0, 255, 3)
    return grey + (hue - hue.mean()) * rng.uniform(0, 0.25)


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Solid, gradient, textured or noisy, as float RGB (h, w, 3)."""
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = _tone(rng)
    if kind == 0:
        out = np.broadcast_to(a, (h, w, 3)).astype(np.float32)
    elif kind == 1:
        theta = rng.uniform(0, 2 * np.pi)
        t = (np.cos(theta) * xx / w + np.sin(theta) * yy / h)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        out = a + t[..., None] * (_tone(rng) - a)
    elif kind == 2:
        period = rng.uniform(3, 24)
        theta = rng.uniform(0, np.pi)
        wave = np.sin((np.cos(theta) * xx + np.sin(theta) * yy) * 2 * np.pi / period)
        if rng.random() < 0.5:
            wave = np.sign(wave * np.sin((np.cos(theta + 1.57) * xx + np.sin(theta + 1.57) * yy)
                                         * 2 * np.pi / period))
        out = a + wave[..., None] * rng.uniform(4, 22)
    else:
        coarse = rng.normal(0, 1, (max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
        blobs = np.asarray(Image.fromarray(((coarse + 3) * 40).clip(0, 255).astype(np.uint8)).resize(
            (w, h), Image.Resampling.BICUBIC), np.float32) - 120
        out = a + blobs * rng.uniform(0.1, 0.35) + rng.normal(0, rng.uniform(2, 10), (h, w, 3))
    return np.clip(out, 0, 255).astype(np.float32)


def shape_fill(rng: np.random.Generator, color: str, bg_mean: float) -> tuple[int, int, int]:
    """The named colour with a per-image shift, or (colour "none") a contrasting grey."""
    if color == "none":
        level = rng.uniform(0, 70) if bg_mean > 130 else rng.uniform(185, 255)
        return (int(level),) * 3  # type: ignore[return-value]
    rgb = np.asarray(COLORS[color], np.float32) * rng.uniform(0.8, 1.08) + rng.integers(-18, 19, 3)
    return tuple(int(v) for v in np.clip(rgb, 0, 255))  # type: ignore[return-value]


def degrade(rng: np.random.Generator, img: Image.Image, blur: float | None = None) -> Image.Image:
    """Photo-style damage: brightness/contrast/saturation jitter, blur (``blur``: its radius as a
    fraction of the short side; random when None), noise, JPEG."""
    for enhance, lo, hi in ((ImageEnhance.Brightness, 0.85, 1.15), (ImageEnhance.Contrast, 0.75, 1.15),
                            (ImageEnhance.Color, 0.8, 1.2)):
        if rng.random() < 0.5:
            img = enhance(img).enhance(float(rng.uniform(lo, hi)))
    short = min(img.size)
    if blur is None and rng.random() < 0.3:
        blur = float(rng.uniform(0.004, 0.025))
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur * short))
    if rng.random() < 0.3:
        arr = np.asarray(img, np.float32) + rng.normal(0, rng.uniform(2, 14), (img.size[1], img.size[0], 3))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(12, 96)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img


def _canvas(rng: np.random.Generator) -> tuple[int, int]:
    short = int(np.exp(rng.uniform(np.log(40), np.log(200))))
    aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    return (int(short * aspect), short) if aspect >= 1 else (short, int(short / aspect))


def _place(rng: np.random.Generator, w: int, h: int, extent: float, cut: float) -> tuple[float, float]:
    """A centre inside the centred square; up to ``cut`` of the extent may fall outside it."""
    short = min(w, h)
    lo, hi = extent * (0.5 - cut), short - extent * (0.5 - cut)
    ox, oy = (w - short) / 2, (h - short) / 2
    if hi <= lo:
        return w / 2, h / 2
    return ox + float(rng.uniform(lo, hi)), oy + float(rng.uniform(lo, hi))


def size_name(extent: float) -> str | None:
    return "small" if extent < SMALL_BELOW else "large" if extent > LARGE_ABOVE else None


def wild_shape(rng: np.random.Generator, renderer: str, color: str | None = None, shape: str | None = None,
               heldout: str = "exclude", grey: bool = False, extent: tuple[float, float] = (0.1, 0.9),
               blur: float | None = None) -> Scene:
    """One shape drawn by ``renderer`` (a key of ``rasterizers.RENDERERS``) on a random canvas.

    ``extent`` bounds the shape's size as a fraction of the canvas's short side; ``grey`` draws
    it achromatic (colour "none")."""
    shape = shape or str(rng.choice(SHAPES))
    color = _pick(rng, color, list(COLORS), {(s, c) for c, s in HELDOUT_SHAPE_PAIRS}, shape, heldout)
    w, h = _canvas(rng)
    bg = background(rng, w, h)
    frac = float(rng.uniform(*extent))
    radius = frac * min(w, h) / 2
    cx, cy = _place(rng, w, h, 2 * radius, cut=0.25 if rng.random() < 0.2 else 0.0)
    fill = shape_fill(rng, "none" if grey else color, float(bg.mean()))
    drawing = rasterizers.Drawing(shape, cx, cy, radius, float(rng.uniform(-180, 180)), fill)
    pixels = rasterizers.RENDERERS[renderer](bg, drawing, rng)
    img = degrade(rng, Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), blur)
    attrs = {"color": "none" if grey else color, "shape": shape}
    if size_name(frac):
        attrs["size"] = size_name(frac)  # type: ignore[assignment]
    return Scene(img, attrs, f"shapes:{renderer}")


def wild_garment(rng: np.random.Generator, pixels: np.ndarray, label: int, color: str | None = None,
                 heldout: str = "exclude", grey: bool = False) -> Scene:
    """A Fashion-MNIST garment, tinted and shaded, at any scale and place on a random background."""
    garment = GARMENTS[int(label)]
    color = _pick(rng, color, list(COLORS), {(g, c) for c, g in HELDOUT_GARMENT_PAIRS}, garment, heldout)
    w, h = _canvas(rng)
    bg = background(rng, w, h)
    side = int(max(8, rng.uniform(0.45, 1.05) * min(w, h)))
    cx, cy = _place(rng, w, h, side, cut=0.15)
    src = pixels[:, ::-1] if rng.random() < 0.5 else pixels
    a = np.asarray(Image.fromarray(src).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255.0
    fill = np.asarray(shape_fill(rng, "none" if grey else color, float(bg.mean())), np.float32)
    x0, y0 = int(cx - side / 2), int(cy - side / 2)
    sx0, sy0 = max(0, -x0), max(0, -y0)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(w, x0 + side - sx0), min(h, y0 + side - sy0)
    patch = a[sy0:sy0 + y1 - y0, sx0:sx0 + x1 - x0, None]
    alpha = np.clip(patch * 1.6, 0, 1)
    bg[y0:y1, x0:x1] = bg[y0:y1, x0:x1] * (1 - alpha) + fill * (0.55 + 0.45 * patch) * alpha
    img = degrade(rng, Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8)))
    return Scene(img, {"color": "none" if grey else color, "garment": garment}, "fashion:wild")
