"""The dashboard's small copies of photos (common/thumbnails.py), made with Pillow from real image bytes."""
from __future__ import annotations

import struct
import zlib
from io import BytesIO

import pytest
from PIL import Image

from common.thumbnails import MAX_PIXELS, THUMBNAIL_SIDE, make_thumbnail


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _open(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("fmt, mode", [("JPEG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("WEBP", "RGB")])
def test_a_large_photo_becomes_a_small_jpeg(fmt, mode):
    original = Image.effect_noise((1600, 1200), 60).convert(mode)
    data = _encode(original, fmt)
    thumbnail = _open(make_thumbnail(data))
    assert thumbnail.format == "JPEG" and thumbnail.mode in ("RGB", "L")
    assert thumbnail.size == (THUMBNAIL_SIDE, 240), "the longest side is the limit, the shape is kept"


def test_transparency_is_flattened_onto_white():
    clear = Image.new("RGBA", (400, 400), (255, 0, 0, 0))
    pixel = _open(make_thumbnail(_encode(clear, "PNG"))).getpixel((10, 10))
    assert all(channel > 245 for channel in pixel)


def test_a_small_photo_is_not_enlarged():
    assert _open(make_thumbnail(_encode(Image.new("RGB", (100, 50), "blue"), "JPEG"))).size == (100, 50)


def test_the_camera_orientation_is_applied_and_the_metadata_dropped():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the camera held upright
    exif[0x010F] = "CameraMaker"
    data = _encode(Image.new("RGB", (800, 400), "green"), "JPEG", exif=exif.tobytes())
    thumbnail = _open(make_thumbnail(data))
    assert thumbnail.size == (160, THUMBNAIL_SIDE)
    assert not thumbnail.getexif() and b"CameraMaker" not in make_thumbnail(data)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 40])
def test_bytes_pillow_cannot_read_give_no_thumbnail(data):
    assert make_thumbnail(data) is None


def test_a_decompression_bomb_is_not_decoded(caplog):
    side = int(MAX_PIXELS ** 0.5) + 100  # a PNG header claiming more pixels than a phone camera takes
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    png += struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    assert make_thumbnail(png) is None
    assert f"photo of {side}x{side} pixels: no thumbnail" in caplog.text, "refused by its size, before decoding"
