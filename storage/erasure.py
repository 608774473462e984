"""LGPD erasure of one phone's rows in the application database (media files are the caller's to delete).

Each area keeps its own delete function; this module calls them in one place and adds the voice
notes, which no other area owns. `erase_from_disk` then makes the erasure hold for the files of
SQLite databases too: secure_delete (storage/db.py) overwrites the deleted rows in the database
file, but the WAL still holds the pages as they were until a checkpoint empties it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from . import deliveries, images, ledger, reminders, search, todos, users
from .conversation import clear_flow
from .db import Database, checkpoint_wal
from .models import ImageDescription, MediaObject


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
    """Remove the phone's account, logins, images, voice notes, lists, reminders, delivery receipts and
    preferences; blank its ledger bodies."""
    thumbnails = images.owner_thumbnails(db, phone)
    with db.session() as session:
        described = session.scalar(select(ImageDescription.id).where(ImageDescription.from_number == phone)
                                   .limit(1)) is not None
    keys = images.delete_owner_images(db, phone) + delete_owner_media(db, phone)
    if described:
        search.forget_deleted_terms(db)
    reminders.delete_of(db, phone)
    deliveries.delete_phone(db, phone)
    lists = todos.delete_lists_of(db, phone)
    accounts = users.delete_user(db, phone)
    ledger.delete_sender_bodies(db, phone)
    clear_flow(db, phone)
    return Erased(accounts, lists, tuple(sorted(set(keys))), tuple(sorted(set(thumbnails))))


def erase_from_disk(*engines: Engine) -> bool:
    """Checkpoint and truncate the WAL of each SQLite database an erasure touched (the application
    database, the agent's session database), so no file keeps the erased rows' old page versions;
    PostgreSQL keeps dead tuples until VACUUM (docs/operators.md). False when one stayed busy."""
    done = True
    for engine in dict.fromkeys(engines):
        done = checkpoint_wal(engine) and done
    return done
