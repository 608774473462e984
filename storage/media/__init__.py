"""The media store: images and voice notes in a local folder or in S3, behind one interface.

Keys are built by `make_key()` from trusted values only, never from user input.
"""
from __future__ import annotations

import mimetypes
import re
import uuid
from pathlib import Path
from typing import Callable, Protocol

from common.clock import utcnow

EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp",
    "audio/ogg": "ogg", "audio/amr": "amr", "audio/aac": "aac", "audio/mp4": "m4a", "audio/mpeg": "mp3",
}


SAFE_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")


class MediaNotFound(KeyError):
    """The key is not in the store."""


class InvalidMediaKey(ValueError):
    """The key could escape the store or holds characters keys never have."""


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

    def keys(self, prefix: str) -> list[str]:
        """Every stored key under the folder `prefix` (e.g. "exports/"), sorted."""

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


def thumbnail_key(key: str) -> str:
    """`images/<digits>/<y>/<m>/<uuid>.png` -> `thumbs/<digits>/<y>/<m>/<uuid>.jpg`: beside the photo's own
    folder, so an owner's photos and thumbnails are listed apart."""
    _folder, _, rest = check_key(key).partition("/")
    return f"thumbs/{rest.rsplit('.', 1)[0]}.jpg"


def check_key(key: str) -> str:
    """`key` itself if it is relative, made of `[A-Za-z0-9/_.-]`, with no empty, `.`-led or `..` segment."""
    if not isinstance(key, str) or len(key) > 512 or not SAFE_KEY.fullmatch(key):
        raise InvalidMediaKey(f"invalid media key: {key!r}")
    return key


def content_type_for(key: str) -> str:
    """The content type implied by the key's extension (keys from `make_key()` carry the right one)."""
    ext = key.rsplit(".", 1)[-1].lower() if "." in key else ""
    by_ext = {value: name for name, value in EXTENSIONS.items()}
    return by_ext.get(ext) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def open_media_store(*, bucket_name: str | None = None, prefix: str = "", s3_endpoint: str | None = None,
                     aws_access_key_id: str | None = None, aws_secret_access_key: str | None = None,
                     aws_region: str = "us-east-1", media_dir: Path | str = "data/media",
                     secret_key: str = "", base_url_getter: Callable[[], str] | None = None) -> MediaStore:
    """S3 (or an S3-compatible server) when `bucket_name` is set, else a local folder with signed links."""
    if bucket_name:
        from .s3 import S3MediaStore
        return S3MediaStore(bucket_name, prefix=prefix, endpoint_url=s3_endpoint, region=aws_region,
                            access_key=aws_access_key_id, secret_key=aws_secret_access_key)
    from .local import LocalMediaStore
    if base_url_getter is None:
        raise ValueError("the local media store needs base_url_getter to build its links")
    return LocalMediaStore(Path(media_dir), secret_key, base_url_getter)
