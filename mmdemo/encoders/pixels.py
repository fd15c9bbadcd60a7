"""CLIP's image preprocessing split at the uint8 boundary: resize and centre crop per image
where files are decoded, scale and normalise once per batch where the model runs.

A decoding thread or worker then hands over 3 bytes a pixel instead of 12 and no per-image
torch calls, and on a GPU the normalisation runs on the device after a uint8 copy. It
reproduces open_clip's standard transform (``Resize(S, bicubic)``, ``CenterCrop(S)``, RGB,
``ToTensor``, ``Normalize``) to float rounding (tests/test_encoders.py); any other transform
stays as the backend made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T


@dataclass(frozen=True)
class Pixels:
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, image: Image.Image) -> np.ndarray:
        """(size, size, 3) uint8: the shorter side resized to ``size`` (bicubic, as
        torchvision sizes it), then the centre crop."""
        image = image.convert("RGB")
        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(self.size * long / short)
        new_w, new_h = (self.size, new_long) if w <= h else (new_long, self.size)
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
        top, left = int(round((new_h - self.size) / 2.0)), int(round((new_w - self.size) / 2.0))
        return np.asarray(image.crop((left, top, left + self.size, top + self.size)), np.uint8)

    def batch(self, items: Sequence[Any], device: torch.device) -> torch.Tensor:
        """(N, 3, size, size) float32 normalised on ``device``, from uint8 (or 0-255 float) HWC
        arrays or tensors (the device path's are on ``device`` already)."""
        if isinstance(items[0], torch.Tensor):
            x = torch.stack(list(items)).to(device, non_blocking=True)
        else:
            x = torch.from_numpy(np.stack([np.asarray(i) for i in items])).to(device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255)
        mean = torch.tensor(self.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=device).view(1, -1, 1, 1)
        return x.sub_(mean).div_(std)


def from_transform(transform: Any) -> Pixels | None:
    """The split form of an open_clip preprocessing Compose, or None when it is not the
    standard square resize + centre crop (then the backend keeps its own)."""
    steps = list(getattr(transform, "transforms", []))
    kinds = [type(s).__name__ for s in steps if type(s).__name__ not in ("MaybeConvertMode", "function")]
    if kinds not in (["Resize", "CenterCrop", "MaybeToTensor", "Normalize"],
                     ["Resize", "CenterCrop", "ToTensor", "Normalize"]):
        return None
    resize, crop, norm = steps[0], steps[1], steps[-1]
    sizes = [resize.size] if isinstance(resize.size, int) else list(resize.size)
    if (len(sizes) != 1 or resize.interpolation != T.InterpolationMode.BICUBIC or resize.max_size is not None
            or list(crop.size) != [sizes[0], sizes[0]]):
        return None
    return Pixels(int(sizes[0]), tuple(float(m) for m in norm.mean), tuple(float(s) for s in norm.std))
