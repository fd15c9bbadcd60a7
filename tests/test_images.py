import io

import numpy as np
import pytest
from PIL import Image

from mmdemo.data import images
from mmdemo.errors import UserError


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "I", "F", "1"])
def test_every_mode_becomes_rgb(mode):
    img = Image.new("RGB", (20, 10), (200, 30, 30)).convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "I", "F") else "PNG"
    out = images.decode(encode(img, fmt))
    assert out.mode == "RGB" and out.size == (20, 10)


def test_transparency_is_composited_on_white():
    img = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert images.decode(encode(img)).getpixel((0, 0)) == (255, 255, 255)


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    out = images.decode(encode(img, "JPEG", exif=exif))
    assert out.size == (20, 40)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (10, 10), c) for c in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    r, g, b = images.decode(buf.getvalue()).getpixel((5, 5))
    assert r > 200 and b < 50


@pytest.mark.parametrize("data, message", [
    (b"not an image at all", "not a readable image"),
    (encode(Image.new("RGB", (50, 50)))[:60], "not a readable image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "not a readable image"),
])
def test_corrupt_bytes_get_a_clear_error(data, message):
    with pytest.raises(UserError, match=message):
        images.decode(data, "bad.png")


def test_empty_missing_and_oversize_files(tmp_path, monkeypatch):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        images.open_image(empty)
    with pytest.raises(UserError, match="no such file"):
        images.open_image(tmp_path / "missing.png")
    monkeypatch.setattr(images, "MAX_BYTES", 10)
    big = tmp_path / "big.png"
    big.write_bytes(encode(Image.new("RGB", (20, 20))))
    with pytest.raises(UserError, match="larger than"):
        images.open_image(big)


def test_decompression_bomb_is_refused_before_decoding(monkeypatch):
    data = encode(Image.new("L", (3000, 3000)))
    monkeypatch.setattr(images, "MAX_PIXELS", 1_000_000)
    with pytest.raises(UserError, match="too large"):
        images.decode(data, "bomb.png")


def test_pixel_cap_counts_after_jpeg_scaled_decode():
    """A 24 MP phone JPEG decodes at 1/4 scale and passes; a 17 MP PNG has no scaled decode."""
    photo = encode(Image.new("RGB", (6000, 4000), "teal"), "JPEG", quality=50)
    assert max(images.decode(photo, "phone.jpg").size) <= 2 * images.WORKING_SIDE
    with pytest.raises(UserError, match="too large"):
        images.decode(encode(Image.new("L", (4200, 4200))), "poster.png")


@pytest.mark.parametrize("mode", ["I;16", "RGBA", "P", "1", "F"])
def test_large_images_are_shrunk_before_their_mode_is_converted(mode):
    out = images.decode(encode(Image.new(mode, (3000, 1500)), "TIFF"))
    assert out.mode == "RGB" and out.size == (images.WORKING_SIDE, images.WORKING_SIDE // 2)


def test_large_images_are_shrunk_to_the_working_size():
    out = images.decode(encode(Image.new("RGB", (3000, 1500), "blue")))
    assert max(out.size) == images.WORKING_SIDE


def test_sixteen_bit_range_is_rescaled():
    a = (np.arange(256 * 4, dtype=np.uint16).reshape(4, 256) * 60).astype(np.uint16)
    out = np.asarray(images.decode(encode(Image.fromarray(a))))
    assert out.min() == 0 and out.max() == 255
