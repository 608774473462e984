"""Small JPEG copies of users' photos for the dashboard, made once when a photo arrives.

WhatsApp photos run to several megabytes; a dashboard page shows 24 of them at 160x120. The
thumbnail is at most THUMBNAIL_SIDE pixels on its longest side, turned the way the camera's EXIF
says, and carries no metadata (a phone's photo may hold the place it was taken).
"""
from __future__ import annotations

import logging
import warnings
from io import BytesIO

from PIL import Image, ImageOps

log = logging.getLogger(__name__)
THUMBNAIL_SIDE = 320
THUMBNAIL_TYPE = "image/jpeg"
# WhatsApp photos are at most 5 MB; a file that claims far more pixels than a phone camera takes
# (a "decompression bomb") is not decoded at all.
MAX_PIXELS = 64_000_000


def make_thumbnail(data: bytes, side: int = THUMBNAIL_SIDE) -> bytes | None:
    """A JPEG of the image in `data` at most `side` pixels on its longest side, or None when the
    bytes are not an image Pillow reads safely (the dashboard then shows the original)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    log.warning("photo of %dx%d pixels: no thumbnail", image.width, image.height)
                    return None
                image.draft("RGB", (side, side))
                picture = ImageOps.exif_transpose(image)
                picture.thumbnail((side, side))
                if picture.mode not in ("RGB", "L"):
                    picture = _on_white(picture)
                out = BytesIO()
                picture.save(out, "JPEG", quality=80)
                return out.getvalue()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        log.warning("no thumbnail for a photo: %s", type(exc).__name__)
        return None


def _on_white(picture: Image.Image) -> Image.Image:
    """Transparent or palette images flattened onto white (JPEG has no transparency)."""
    rgba = picture.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
