"""At-rest sealing of inbound message bodies (Fernet: AES-128-CBC + HMAC-SHA256).

The ledger must hold a message before the webhook answers, before anyone knows whether it is a
password typed into a login flow. Sealing the body means a password never lands in plaintext in
database pages or the write-ahead log, even for the moment before the worker redacts it.
Keys derive from SECRET_KEY; the app configures them once at start-up.
"""
from __future__ import annotations

import base64
import hashlib
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

PREFIX = "sealed:"
UNREADABLE = "[ilegível]"


class Unreadable(str):
    """A stored body no configured key opens (sealed under another SECRET_KEY): it reads as
    UNREADABLE, and the worker recognises it by type, never answering it as if the user typed it."""


UNREADABLE_BODY = Unreadable(UNREADABLE)
UNREADABLE_REASON = ("the message body cannot be opened: it was sealed with another SECRET_KEY (every web and "
                     "worker machine must share one SECRET_KEY)")
_lock = threading.Lock()
_keys: list[Fernet] = []


def configure(secret_key: str) -> None:
    """Seal new bodies with a key derived from `secret_key` (earlier keys still open old rows)."""
    digest = hashlib.sha256(b"ledger-body-sealing:" + secret_key.encode()).digest()
    key = Fernet(base64.urlsafe_b64encode(digest))
    with _lock:
        _keys[:] = [key] + [k for k in _keys if k._signing_key != key._signing_key]


def seal(text: str) -> str:
    """The sealed form of `text`, or `text` itself when no key is configured (plain storage tests)."""
    with _lock:
        keys = list(_keys)
    if not text or not keys:
        return text
    return PREFIX + keys[0].encrypt(text.encode("utf-8")).decode("ascii")


def unseal(stored: str) -> str:
    """The original text of a stored body; plaintext rows from before sealing pass through; a body
    no key opens comes back as UNREADABLE_BODY (an `Unreadable`)."""
    if not stored or not stored.startswith(PREFIX):
        return stored
    with _lock:
        keys = list(_keys)
    try:
        return MultiFernet(keys).decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        return UNREADABLE_BODY


class SealedText(TypeDecorator):
    """A Text column whose values are sealed on the way in and opened on the way out."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return seal(value) if isinstance(value, str) else value

    def process_result_value(self, value, dialect):
        return unseal(value) if isinstance(value, str) else value


def is_unreadable(body: str) -> bool:
    """Whether `body` is a stored body that could not be opened (see Unreadable)."""
    return isinstance(body, Unreadable)
