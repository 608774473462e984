"""Media in a local folder, handed out through HMAC-signed, expiring links served by the app."""
from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

from . import InvalidMediaKey, MediaNotFound, check_key, content_type_for


def sign(secret_key: str, key: str, exp: int) -> str:
    """The hex HMAC-SHA256 of `key|exp` under `secret_key`."""
    return hmac.new(secret_key.encode(), f"{key}|{exp}".encode(), hashlib.sha256).hexdigest()


def verify_signature(secret_key: str, key: str, exp: str | int, sig: str, now: float | None = None) -> bool:
    """True when `sig` is this key's signature for `exp` and `exp` (unix seconds) has not passed."""
    try:
        expires = int(exp)
    except (TypeError, ValueError):
        return False
    if not secret_key or not isinstance(sig, str) or expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(sign(secret_key, key, expires), sig)


class LocalMediaStore:
    """`MediaStore` on a folder; `base_url_getter()` gives the public base URL when a link is made."""

    def __init__(self, root: Path, secret_key: str, base_url_getter: Callable[[], str]) -> None:
        if not secret_key:
            raise ValueError("the local media store needs a secret key to sign its links")
        self.root = Path(root).resolve()
        self.secret_key = secret_key
        self.base_url_getter = base_url_getter
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file of `key` inside the root; raises InvalidMediaKey for a key that could leave it."""
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidMediaKey(f"media key leaves the store: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Write the bytes atomically (temporary file, then rename), readable by this user only."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        """The bytes under `key`; raises MediaNotFound."""
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MediaNotFound(key) from None

    def content_type(self, key: str) -> str:
        """The content type of `key`, from its extension."""
        return content_type_for(check_key(key))

    def url(self, key: str, expires_in: int = 3600) -> str:
        """`<base>/media/<key>?exp=<unix>&sig=<hmac>`, valid for `expires_in` seconds."""
        self.path(key)
        exp = int(time.time()) + expires_in
        base = self.base_url_getter().rstrip("/")
        return f"{base}/media/{key}?exp={exp}&sig={sign(self.secret_key, key, exp)}"

    def delete(self, key: str) -> None:
        """Remove `key` if present."""
        path = self.path(key)
        if not path.is_dir():
            path.unlink(missing_ok=True)

    def keys(self, prefix: str) -> list[str]:
        """Every stored key under the folder `prefix`, sorted (files being written are left out)."""
        folder = self.path(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        return sorted(path.relative_to(self.root).as_posix() for path in folder.rglob("*")
                      if path.is_file() and not path.name.startswith(".tmp-"))

    def ping(self) -> None:
        """Raise if the folder is gone or not writable."""
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise OSError(f"media folder {self.root} is missing or not writable")
