"""The media store: images and voice notes in a local folder or in S3, behind one interface.

Keys are built by `make_key()` from trusted values only, never from user input.
"""
from __future__ import annotations

import uuid
from typing import Protocol

from common.clock import utcnow

EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp",
    "audio/ogg": "ogg", "audio/amr": "amr", "audio/aac": "aac", "audio/mp4": "m4a", "audio/mpeg": "mp3",
}


class MediaNotFound(KeyError):
    """The key is not in the store."""


class MediaStore(Protocol):
    """What every media backend offers."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store bytes under `key` (private: readable only through `url()` or `get()`)."""

    def get(self, key: str) -> bytes:
        """The bytes under `key`; raises MediaNotFound."""

    def url(self, key: str, expires_in: int = 3600) -> str:
        """A URL anyone holding it can GET until it expires (presigned or signed)."""

    def delete(self, key: str) -> None:
        """Remove `key` if present."""

    def ping(self) -> None:
        """Raise if the store does not answer."""


def make_key(kind: str, owner_digits: str, content_type: str) -> str:
    """`images/5511999998888/2026/11/<uuid>.jpg`: no part of it comes from user-supplied text."""
    if not owner_digits.isdigit():
        raise ValueError("owner must be digits only")
    ext = EXTENSIONS.get(content_type, "bin")
    folder = "images" if kind == "image" else "audio"
    now = utcnow()
    return f"{folder}/{owner_digits}/{now:%Y/%m}/{uuid.uuid4().hex}.{ext}"
