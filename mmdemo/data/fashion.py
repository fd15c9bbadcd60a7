"""Fashion-MNIST garments tinted into the shape colours, captioned "a red sneaker".

Training reads the Debian package ``dataset-fashion-mnist`` (IDX files); everything else (the
bundled gallery, evaluation, tests) reads the small sample of the *test* split shipped in
``fashion_sample.npz``, so the app never needs the package and never sees training images.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mmdemo.data.vocab import COLORS, GARMENTS, HELDOUT_GARMENT_PAIRS

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SAMPLE_FILE = Path(__file__).with_name("fashion_sample.npz")


def read_idx(path: Path) -> np.ndarray:
    """Read one gzipped IDX file (the MNIST container format) into a uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(split: str, root: Path = DEBIAN_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(images N×28×28, labels N) of ``train`` or ``t10k`` from the Debian package."""
    images = root / f"{split}-images-idx3-ubyte.gz"
    if not images.exists():
        raise FileNotFoundError(
            f"{images} not found: `apt-get install dataset-fashion-mnist` (only train-builtin needs it)"
        )
    return read_idx(images), read_idx(root / f"{split}-labels-idx1-ubyte.gz")


def load_sample() -> tuple[np.ndarray, np.ndarray]:
    """The shipped sample of the test split: (images, labels)."""
    with np.load(SAMPLE_FILE) as z:
        return z["images"], z["labels"]


def write_sample(n_per_class: int = 120, seed: int = 0) -> Path:
    """Pick a class-balanced sample of the Debian test split and ship it with the package."""
    images, labels = load_split("t10k")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(labels == c), n_per_class, replace=False)
                          for c in range(len(GARMENTS))])
    rng.shuffle(idx)
    np.savez_compressed(SAMPLE_FILE, images=images[idx], labels=labels[idx])
    return SAMPLE_FILE


@dataclass(frozen=True)
class GarmentSpec:
    index: int  # row in the source array
    garment: str
    color: str
    background: tuple[int, int, int]
    jitter: tuple[int, int, int]  # small per-image colour shift
    fill: tuple[int, int, int] | None = None  # explicit RGB for achromatic garments (color "none")

    @property
    def attributes(self) -> dict[str, str]:
        return {"color": self.color, "garment": self.garment}


def sample_spec(rng: np.random.Generator, index: int, label: int, color: str | None = None,
                heldout: str = "exclude") -> GarmentSpec:
    """Pick a colour (avoiding or requiring held-out pairs) and a background for one garment."""
    garment = GARMENTS[int(label)]
    allowed = [c for c in COLORS if heldout == "any"
               or ((c, garment) in HELDOUT_GARMENT_PAIRS) == (heldout == "only")]
    if color is None:
        if not allowed:
            raise ValueError(f"no colour for {garment!r} with heldout={heldout!r}")
        color = str(rng.choice(allowed))
    grey = int(rng.integers(190, 250))
    background = tuple(int(grey + t) for t in rng.integers(-5, 6, size=3))
    jitter = tuple(int(j) for j in rng.integers(-15, 16, size=3))
    return GarmentSpec(index, garment, color, background, jitter)  # type: ignore[arg-type]


def achromatic(rng: np.random.Generator, spec: GarmentSpec) -> GarmentSpec:
    """The same garment in a dark grey: colour "none", for garment-only captions in training."""
    level = int(rng.integers(20, 110))
    return GarmentSpec(**{**spec.__dict__, "color": "none", "fill": (level, level, level)})


def render(spec: GarmentSpec, pixels: np.ndarray, size: int = 64) -> Image.Image:
    """Tint a 28×28 garment: its intensity becomes both coverage and shading of the colour."""
    a = pixels.astype(np.float32)[..., None] / 255.0
    alpha = np.clip(a * 1.6, 0, 1)
    color = np.clip(np.array(spec.fill or COLORS[spec.color], np.float32) + spec.jitter, 0, 255)
    shade = 0.55 + 0.45 * a
    bg = np.array(spec.background, np.float32)
    out = bg * (1 - alpha) + color * shade * alpha
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    return img.resize((size, size), Image.Resampling.BICUBIC)
