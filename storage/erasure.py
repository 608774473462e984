"""LGPD erasure of one phone's rows in the application database (media files are the caller's to delete).

Each area keeps its own delete function; this module calls them in one place and adds the voice
notes, which no other area owns.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from . import images, ledger, todos, users
from .conversation import clear_flow
from .db import Database
from .models import MediaObject


@dataclass(frozen=True)
class Erased:
    """What an erasure removed; `media_keys` are the files the user sent and `thumbnail_keys` the
    dashboard's copies of their photos: the media-store objects to delete next."""

    accounts: int
    todo_lists: int
    media_keys: tuple[str, ...]
    thumbnail_keys: tuple[str, ...] = ()


def delete_owner_media(db: Database, owner: str) -> list[str]:
    """Delete every media record (voice notes included) still owned by `owner`; returns their keys."""
    with db.session() as session:
        keys = list(session.scalars(select(MediaObject.key).where(MediaObject.owner == owner)))
        session.execute(delete(MediaObject).where(MediaObject.owner == owner))
    return keys


def erase_phone(db: Database, phone: str) -> Erased:
    """Remove the phone's account, logins, images, voice notes and lists; blank its ledger bodies."""
    thumbnails = images.owner_thumbnails(db, phone)
    keys = images.delete_owner_images(db, phone) + delete_owner_media(db, phone)
    lists = todos.delete_lists_of(db, phone)
    accounts = users.delete_user(db, phone)
    ledger.delete_sender_bodies(db, phone)
    clear_flow(db, phone)
    return Erased(accounts, lists, tuple(sorted(set(keys))), tuple(sorted(set(thumbnails))))
