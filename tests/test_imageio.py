"""rismodel.imageio: modes, EXIF orientation, size limits and clear errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from rismodel.imageio import ImageLoadError, image_size_upright, load_image, load_image_rgba


def _gradient(w=40, h=24):
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 6, y * 10, (x + y) * 3]).astype(np.uint8)


def test_rgb_png_roundtrip(tmp_path):
    arr = _gradient()
    Image.fromarray(arr).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (24, 40, 3)
    np.testing.assert_array_equal(out, arr)


def test_bytes_and_pil_sources(tmp_path):
    arr = _gradient()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    np.testing.assert_array_equal(load_image(buf.getvalue()), arr)
    np.testing.assert_array_equal(load_image(Image.fromarray(arr)), arr)


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_rotated_jpeg_is_upright(tmp_path, orientation):
    # Stored 60 wide x 20 high; left third bright. Orientation 6 = rotate 90 clockwise to display.
    stored = np.zeros((20, 60, 3), np.uint8)
    stored[:, :20] = 250
    img = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"rot{orientation}.jpg"
    img.save(path, exif=exif.tobytes(), quality=95)
    out = load_image(path)
    assert out.shape == (60, 20, 3)
    assert image_size_upright(path) == (20, 60)
    bright_rows = out[..., 0].mean(axis=1) > 128
    if orientation == 6:  # the stored left edge goes to the top
        assert bright_rows[:15].all() and not bright_rows[-15:].any()
    else:  # 8: rotate counter-clockwise, the stored left edge goes to the bottom
        assert bright_rows[-15:].all() and not bright_rows[:15].any()


def test_rgba_composited_on_white_and_alpha_kept(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 200  # red channel everywhere
    rgba[0, 0, 3] = 255  # opaque
    rgba[0, 1, 3] = 0  # fully transparent
    rgba[0, 2, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert tuple(out[0, 0]) == (200, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)
    assert tuple(out[0, 2]) == (round((200 * 128 + 255 * 127) / 255), 127, 127)
    kept = load_image_rgba(tmp_path / "a.png")
    np.testing.assert_array_equal(kept, rgba)


def test_la_greyscale_with_alpha(tmp_path):
    la = np.zeros((3, 3, 2), np.uint8)
    la[..., 0] = 10
    la[..., 1] = 255
    la[1, 1, 1] = 0
    Image.fromarray(la, "LA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert tuple(out[0, 0]) == (10, 10, 10) and tuple(out[1, 1]) == (255, 255, 255)


def test_greyscale_and_one_bit(tmp_path):
    g = np.arange(0, 240, 10, dtype=np.uint8).reshape(4, 6)
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (4, 6, 3)
    np.testing.assert_array_equal(out[..., 1], g)
    bits = Image.fromarray((g > 100).astype(np.uint8) * 255).convert("1")
    bits.save(tmp_path / "b.png")
    out = load_image(tmp_path / "b.png")
    np.testing.assert_array_equal(out[..., 0] > 0, g > 100)


def test_sixteen_bit_scaled_by_max_not_clipped(tmp_path):
    a = np.array([[0, 1000], [2000, 4000]], np.uint16)
    Image.fromarray(a).save(tmp_path / "d.png")  # a 16-bit greyscale PNG
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    out = load_image(tmp_path / "d.png")
    np.testing.assert_array_equal(out[..., 0], [[0, 64], [128, 255]])


def test_32bit_integer_mode(tmp_path):
    img = Image.fromarray(np.array([[0, 40], [80, 200]], np.int32), "I")
    out = load_image(img)
    np.testing.assert_array_equal(out[..., 2], [[0, 51], [102, 255]])


def test_palette_with_transparency(tmp_path):
    p = Image.new("P", (2, 1))
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    p.putpixel((0, 0), 0)
    p.putpixel((1, 0), 1)
    p.info["transparency"] = 1
    p.save(tmp_path / "p.png", transparency=1)
    out = load_image(tmp_path / "p.png")
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)  # palette entry 1 is transparent


def test_cmyk_jpeg(tmp_path):
    img = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    img.save(tmp_path / "c.jpg", quality=95)
    out = load_image(tmp_path / "c.jpg")
    assert out.shape == (8, 8, 3)
    r, g, b = out[4, 4].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_truncated_file_raises_clear_error(tmp_path):
    Image.fromarray(_gradient(200, 200)).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError) as e:
        load_image(tmp_path / "cut.jpg")
    assert "cut.jpg" in str(e.value) and "truncated" in e.value.reason


def test_garbage_missing_and_folder(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(tmp_path / "junk.png")
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(b"\x00\x01garbage")


def test_pixel_limit(tmp_path):
    Image.new("RGB", (100, 100)).save(tmp_path / "big.png")
    with pytest.raises(ImageLoadError, match="exceeds the limit"):
        load_image(tmp_path / "big.png", max_pixels=5000)
    assert load_image(tmp_path / "big.png", max_pixels=10000).shape == (100, 100, 3)


def test_pillow_decompression_bomb_becomes_image_load_error(tmp_path, monkeypatch):
    Image.new("L", (300, 300)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow errors beyond 2x this
    with pytest.raises(ImageLoadError, match="decompression-bomb"):
        load_image(tmp_path / "bomb.png", max_pixels=None)


def png_header_only(w: int, h: int) -> bytes:
    """A PNG that declares w x h pixels (a valid IHDR) but carries no pixel data: what a
    decompression bomb looks like before it is decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_the_default_pixel_limit_refuses_a_9999x9999_png_before_decoding(tmp_path):
    from rismodel import imageio

    assert imageio.DEFAULT_MAX_PIXELS == 64_000_000  # the documented limit (docs/robustness.md)
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(9999, 9999))
    with pytest.raises(ImageLoadError, match=r"9999x9999 = 100.0 megapixels exceeds the limit of 64.0"):
        load_image(path)
    # Pillow's own guard is set to the same figure, deliberately.
    assert Image.MAX_IMAGE_PIXELS == imageio.DEFAULT_MAX_PIXELS
    path.write_bytes(png_header_only(8000, 8000))  # at the limit: accepted up to decoding
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(path)


def test_the_pixel_limit_can_be_set_by_environment(tmp_path):
    import subprocess
    import sys

    code = "from rismodel import imageio; print(imageio.DEFAULT_MAX_PIXELS)"
    for value, expected in (("1000000", "1000000"), ("junk", "64000000")):
        env = {**__import__("os").environ, "RISMODEL_MAX_PIXELS": value}
        out = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.stdout.strip() == expected, out.stderr


def test_a_fifo_is_refused_not_read(tmp_path):
    import os
    import threading

    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)

    def unblock():  # if the loader did block on the FIFO, this lets the test end (and fail)
        fd = os.open(fifo, os.O_WRONLY)
        os.close(fd)

    t = threading.Thread(target=unblock, daemon=True)
    t.start()
    try:
        with pytest.raises(ImageLoadError, match="not a regular file"):
            load_image(fifo)
    finally:
        if t.is_alive():  # nobody opened the FIFO for reading: open it ourselves to end the thread
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        t.join(5)
