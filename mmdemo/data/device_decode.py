"""A build's JPEGs decoded, resized and thumbnailed on the model's device, in batches.

On a GPU the CPU path (``decode.load``: one file at a time, libjpeg-turbo then Pillow) feeds a
ViT-B-32 a fraction of its ~30k images/s. Here the CPU only reads, hashes and parses headers;
the batch's JPEGs go to nvJPEG in one call (torchvision's ``decode_jpeg(list, device=...)``:
it ships with the pinned torch pair; TorchCodec supersedes it and would need its own wheel
matched to torch), images of one size are resized together (bicubic, antialiased) to the
model's input and to the thumbnail, and thumbnails are encoded to JPEG on the device too.
Files this path does not take (other formats, CMYK, progressive files nvJPEG refuses,
damaged or oversized ones) go through ``decode.load`` on the CPU, so every file is indexed or
skipped with the same reason as on the CPU path. The same functions run with
``device="cpu"`` (torchvision's libjpeg decode), which is how the tests check them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg

from mmdemo.data import decode, thumbs
from mmdemo.data.images import MAX_PIXELS

warnings.filterwarnings("ignore", message=".*TorchCodec.*", category=DeprecationWarning)

EOI = b"\xff\xd9"  # a JPEG that does not end with it is truncated: the CPU path decodes leniently
# Stored pixels a file may have to decode here at full size (a 24 MP camera's are ~72 MB of
# RGB); larger ones, and bombs whose header claims more, take the CPU path's scaled decode.
MAX_DEVICE_PIXELS = 4 * MAX_PIXELS
PIXEL_BUDGET = 1 << 28  # decoded pixels held on the device at once (~0.8 GB of uint8 RGB)


@dataclass(frozen=True)
class Jpeg:
    """One file read on the CPU: its bytes, the stored size and its EXIF orientation."""

    data: bytes
    width: int
    height: int
    orientation: int


def jpeg(data: bytes) -> Jpeg | None:
    """The file as this path takes it, or None to leave it to ``decode.load``: a baseline RGB or
    greyscale JPEG, complete, of at most ``MAX_DEVICE_PIXELS``."""
    header = decode.jpeg_header(data)
    if header is None or not data.rstrip(b"\x00").endswith(EOI):
        return None
    w, h, orientation = header
    return Jpeg(data, w, h, orientation) if w * h <= MAX_DEVICE_PIXELS else None


def decode_all(files: Sequence[Jpeg], device: torch.device) -> list[torch.Tensor | None]:
    """(3, H, W) uint8 on ``device`` per file, EXIF-rotated; None where the decoder refused it.
    One call for the batch; a refused batch is retried file by file (the batched call returns
    nothing when one file fails)."""
    out: list[torch.Tensor | None] = []
    for chunk in _by_pixels(files):
        tensors = [torch.frombuffer(bytearray(f.data), dtype=torch.uint8) for f in chunk]
        try:
            images = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:
            images = [_one(t, device) for t in tensors]
        out += [None if im is None else orient(im, f.orientation) for im, f in zip(images, chunk)]
    return out


def _by_pixels(files: Sequence[Jpeg]) -> list[Sequence[Jpeg]]:
    """Consecutive runs of files whose decoded pixels fit ``PIXEL_BUDGET`` together."""
    runs, start, total = [], 0, 0
    for i, f in enumerate(files):
        if i > start and total + f.width * f.height > PIXEL_BUDGET:
            runs.append(files[start:i])
            start, total = i, 0
        total += f.width * f.height
    return runs + ([files[start:]] if start < len(files) else [])


def _one(data: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    try:
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        return None


def orient(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """(3, H, W) as displayed: EXIF orientations 2-8, as ``ImageOps.exif_transpose``."""
    if orientation not in FLIPS:
        return image
    if orientation >= 5:  # the four that swap the sides: a transpose, then flips
        image = image.transpose(1, 2)
    return image.flip(FLIPS[orientation]) if FLIPS[orientation] else image


# Dimensions flipped after the transpose (orientations 5-8) or alone (2-4).
FLIPS = {2: (2,), 3: (1, 2), 4: (1,), 5: (), 6: (2,), 7: (1, 2), 8: (1,)}


def resized(images: Sequence[torch.Tensor], sizes: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
    """Each (3, H, W) uint8 image resized to its (h, w): bicubic, antialiased when shrinking
    (as Pillow), images of one size and target in one call."""
    out: list[torch.Tensor | None] = [None] * len(images)
    groups: dict[tuple, list[int]] = {}
    for i, (im, size) in enumerate(zip(images, sizes)):
        groups.setdefault((*im.shape[1:], *size), []).append(i)
    for (h, w, th, tw), rows in groups.items():
        x = torch.stack([images[i] for i in rows])
        if (h, w) != (th, tw):
            x = F.interpolate(x.float(), size=(th, tw), mode="bicubic", antialias=True, align_corners=False)
            x = x.round_().clamp_(0, 255).to(torch.uint8)
        for i, im in zip(rows, x):
            out[i] = im
    return out  # type: ignore[return-value]


def model_sizes(images: Sequence[torch.Tensor], side: int) -> list[tuple[int, int]]:
    """The short side to ``side``, sized as ``pixels.Pixels`` (torchvision's Resize) does."""
    sizes = []
    for im in images:
        h, w = im.shape[1:]
        long = int(side * max(h, w) / min(h, w))
        sizes.append((long, side) if h > w else (side, long) if h < w else (side, side))
    return sizes


def model_inputs(images: Sequence[torch.Tensor], side: int) -> list[torch.Tensor]:
    """(side, side, 3) uint8 per image: resized, centre-cropped, in the layout ``Pixels.batch``
    takes (the CPU path's ``prepare`` output)."""
    out = []
    for im in resized(images, model_sizes(images, side)):
        h, w = im.shape[1:]
        top, left = int(round((h - side) / 2.0)), int(round((w - side) / 2.0))
        out.append(im[:, top:top + side, left:left + side].permute(1, 2, 0))
    return out


def thumbnail_sizes(images: Sequence[torch.Tensor], side: int = thumbs.SIDE) -> list[tuple[int, int]]:
    """At most ``side`` on the long side, the aspect kept (as ``Image.thumbnail``)."""
    sizes = []
    for im in images:
        h, w = im.shape[1:]
        scale = min(1.0, side / max(h, w))
        sizes.append((max(1, round(h * scale)), max(1, round(w * scale))))
    return sizes


def thumbnails(images: Sequence[torch.Tensor]) -> list[bytes]:
    """JPEG thumbnails (``thumbs.QUALITY``), encoded in one call on the images' device."""
    if not images:
        return []
    small = [im.contiguous() for im in resized(images, thumbnail_sizes(images))]
    return [bytes(np.asarray(b.cpu()).tobytes()) for b in encode_jpeg(small, quality=thumbs.QUALITY)]


class Staging:
    """Rows prepared on the CPU (the files this path refused; every file of a model with its
    own transform) sent to the device: on a GPU through one reusable pinned buffer, copied on a
    side stream that the forward waits for."""

    def __init__(self, device: torch.device):
        self.device = device
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.buffer: torch.Tensor | None = None
        self.copied: torch.cuda.Event | None = None

    def to_device(self, arrays: Sequence[np.ndarray]) -> list[torch.Tensor]:
        if not arrays:
            return []
        x = np.stack(arrays)
        if self.stream is None:
            return list(torch.from_numpy(x).to(self.device))
        if self.copied is not None:
            self.copied.synchronize()  # the previous copy has left the buffer
        if self.buffer is None or self.buffer.numel() < x.nbytes:
            self.buffer = torch.empty(x.nbytes, dtype=torch.uint8, pin_memory=True)
        host = self.buffer[:x.nbytes].view(torch.from_numpy(x[:0]).dtype).view(x.shape)
        host.numpy()[...] = x
        with torch.cuda.stream(self.stream):
            rows = host.to(self.device, non_blocking=True)
            self.copied = torch.cuda.Event()
            self.copied.record(self.stream)
        current = torch.cuda.current_stream(self.device)
        current.wait_stream(self.stream)
        rows.record_stream(current)
        return list(rows)
