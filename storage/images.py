"""Media objects and described images: what users sent, what they said about it, what to delete.

Every function takes the `Database` and plain values and returns small frozen dataclasses.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, exists, func, select, update
from sqlalchemy.engine import Row

from common.clock import as_utc
from storage.db import Database
from storage.models import ImageDescription, ImageLink, MediaObject
from storage.search import LinkedImages, images_by_description, index_descriptions, search_descriptions

IMAGE = "image"
AUDIO = "audio"
KINDS = (IMAGE, AUDIO)


class MediaRefused(ValueError):
    """Some media ids are not images of this owner (or do not exist); nothing was saved."""

    def __init__(self, media_ids: list[int]) -> None:
        super().__init__(f"not images of this sender: {media_ids}")
        self.media_ids = media_ids


@dataclass(frozen=True)
class MediaRecord:
    """One stored image or voice note."""

    id: int
    owner: str
    kind: str
    key: str
    content_type: str
    size: int
    message_sid: str | None
    transcript: str | None
    transcript_error: str | None
    created_at: datetime
    model_description: str | None = None  # what the model saw in the photo (vision), if it was shown


@dataclass(frozen=True)
class SavedImage:
    """A description and the images it now owns."""

    id: int
    owner: str
    description: str
    image_keys: tuple[str, ...]
    media_ids: tuple[int, ...]
    created_at: datetime


@dataclass(frozen=True)
class DescriptionRow:
    """One description as a dashboard lists it; `thumbnail_keys` are what to show small (each image's
    thumbnail, or the image itself where none was made)."""

    id: int
    owner: str
    description: str
    image_keys: tuple[str, ...]
    created_at: datetime
    thumbnail_keys: tuple[str, ...] = ()
    model_description: str | None = None


def add_media(db: Database, owner: str, kind: str, key: str, content_type: str, size: int,
              message_sid: str | None = None, thumb_key: str | None = None) -> int:
    """Record a stored image or voice note of `owner` (with the key of its thumbnail, if one was
    stored); returns its id."""
    if kind not in KINDS:
        raise ValueError(f"unknown media kind: {kind!r}")
    with db.session() as session:
        media = MediaObject(owner=owner, kind=kind, key=key, content_type=content_type, size=size,
                            message_sid=message_sid, thumb_key=thumb_key)
        session.add(media)
        session.flush()
        return media.id


def get_media(db: Database, media_id: int) -> MediaRecord | None:
    """One stored image or voice note by id, or None."""
    with db.session() as session:
        media = session.get(MediaObject, media_id)
        return media_record(media) if media else None


def media_for_message(db: Database, message_sid: str) -> list[MediaRecord]:
    """The media already kept for an inbound message, in the order they were stored (retries reuse them)."""
    query = select(MediaObject).where(MediaObject.message_sid == message_sid).order_by(MediaObject.id)
    with db.session() as session:
        return [media_record(media) for media in session.scalars(query)]


_MEDIA = MediaObject.__table__
PENDING_LIMIT = 10  # the newest photos without a description that a turn considers


def pending_select(owner: Any, limit: Any) -> Select:
    """The select of an owner's newest images that no description owns yet, newest first (`owner`
    and `limit` are bind parameters or values): `pending_images` and the turn's one-statement read."""
    return (select(_MEDIA)
            .where(_MEDIA.c.owner == owner, _MEDIA.c.kind == IMAGE,
                   ~exists().where(ImageLink.__table__.c.media_id == _MEDIA.c.id))
            .order_by(_MEDIA.c.created_at.desc(), _MEDIA.c.id.desc()).limit(limit))


# Asked whenever a tool looks for photos waiting for a description, so prepared once.
_PENDING = pending_select(bindparam("owner"), bindparam("limit"))


def pending_images(db: Database, owner: str, limit: int = PENDING_LIMIT) -> list[MediaRecord]:
    """The owner's newest images that no description owns yet, oldest of them first."""
    with db.statement() as conn:
        rows = conn.execute(_PENDING, {"owner": owner, "limit": limit}).all()
    return [media_record(row) for row in reversed(rows)]


def save_description(db: Database, owner: str, description: str, media_ids: list[int]) -> SavedImage:
    """Save one description owning the given images of `owner`.

    Raises ValueError for an empty description or no images, and MediaRefused (saving nothing)
    when an id is not an image of this owner.
    """
    text = (description or "").strip()
    ids = list(dict.fromkeys(media_ids))
    if not text:
        raise ValueError("empty description")
    if not ids:
        raise ValueError("no images to describe")
    with db.session() as session:
        found = {media.id: media for media in session.scalars(
            select(MediaObject).where(MediaObject.id.in_(ids), MediaObject.owner == owner,
                                      MediaObject.kind == IMAGE))}
        refused = [media_id for media_id in ids if media_id not in found]
        if refused:
            raise MediaRefused(refused)
        seen = "; ".join(dict.fromkeys(found[i].model_description for i in ids if found[i].model_description))
        row = ImageDescription(descricao=text, from_number=owner, model_description=seen or None,
                               links=[ImageLink(image_link=found[i].key, media_id=i) for i in ids])
        session.add(row)
        session.flush()
        index_descriptions(session, [(row.id, owner, text, row.model_description)])
        return SavedImage(row.id, owner, text, tuple(found[i].key for i in ids), tuple(ids),
                          as_utc(row.created_at))


def media_of(db: Database, owner: str) -> list[MediaRecord]:
    """Every image and voice note `owner` sent that is still stored, oldest first (the LGPD export)."""
    query = select(MediaObject).where(MediaObject.owner == owner).order_by(MediaObject.created_at, MediaObject.id)
    with db.session() as session:
        return [media_record(media) for media in session.scalars(query)]


def latest_audio(db: Database, owner: str) -> MediaRecord | None:
    """The owner's most recent voice note, or None."""
    query = (select(MediaObject).where(MediaObject.owner == owner, MediaObject.kind == AUDIO)
             .order_by(MediaObject.created_at.desc(), MediaObject.id.desc()).limit(1))
    with db.session() as session:
        media = session.scalars(query).first()
        return media_record(media) if media else None


def set_transcript(db: Database, media_id: int, text: str | None = None, error: str | None = None) -> bool:
    """Store a voice note's transcript or the reason it failed; False when the id does not exist."""
    with db.session() as session:
        result = session.execute(update(MediaObject).where(MediaObject.id == media_id)
                                 .values(transcript=text, transcript_error=error))
        return result.rowcount > 0


def delete_voice_notes(db: Database, owner: str, media_ids: list[int]) -> list[str]:
    """Delete these voice notes of `owner` (e.g. one that held a password); returns the store keys
    whose bytes the caller must delete too."""
    if not media_ids:
        return []
    mine = (MediaObject.id.in_(media_ids), MediaObject.owner == owner, MediaObject.kind == AUDIO)
    with db.session() as session:
        keys = list(session.scalars(select(MediaObject.key).where(*mine)))
        session.execute(delete(MediaObject).where(*mine))
    return keys


def count_images(db: Database, owner: str | None = None) -> int:
    """How many images descriptions own, for one owner or for everyone."""
    query = select(func.count(ImageLink.id)).join(ImageDescription)
    if owner is not None:
        query = query.where(ImageDescription.from_number == owner)
    with db.session() as session:
        return session.scalar(query) or 0


def list_descriptions(db: Database, owner: str | None = None, page: int = 1, per_page: int = 50,
                      query: str | None = None) -> tuple[list[DescriptionRow], int]:
    """One page of descriptions, newest first (best match first when `query` is given), and the total."""
    if query and query.strip():
        hits, total = search_descriptions(db, query, owner=owner, page=page, per_page=per_page)
        return [DescriptionRow(h.id, h.owner, h.description, h.image_keys, h.created_at, h.thumbnail_keys,
                               h.model_description) for h in hits], total
    per_page = max(1, min(per_page, 200))
    rows = select(ImageDescription).order_by(ImageDescription.created_at.desc(), ImageDescription.id.desc())
    total_query = select(func.count(ImageDescription.id))
    if owner is not None:
        rows = rows.where(ImageDescription.from_number == owner)
        total_query = total_query.where(ImageDescription.from_number == owner)
    with db.session() as session:
        found = session.scalars(rows.offset((max(page, 1) - 1) * per_page).limit(per_page)).all()
        linked = images_by_description(session, [row.id for row in found]) if found else {}
        total = session.scalar(total_query) or 0
    none = LinkedImages()
    return [DescriptionRow(row.id, row.from_number, row.descricao, linked.get(row.id, none).keys,
                           as_utc(row.created_at), linked.get(row.id, none).thumbnails, row.model_description)
            for row in found], total


def images_without_thumbnail(db: Database, after_id: int = 0, limit: int = 100) -> list[MediaRecord]:
    """Up to `limit` photos with no thumbnail yet, by id above `after_id` (for the backfill)."""
    query = (select(MediaObject).where(MediaObject.kind == IMAGE, MediaObject.thumb_key.is_(None),
                                       MediaObject.id > after_id).order_by(MediaObject.id).limit(limit))
    with db.session() as session:
        return [media_record(media) for media in session.scalars(query)]


def set_thumbnail(db: Database, media_id: int, thumb_key: str) -> None:
    """Record the key of a photo's thumbnail."""
    with db.session() as session:
        session.execute(update(MediaObject).where(MediaObject.id == media_id).values(thumb_key=thumb_key))


def owner_thumbnails(db: Database, owner: str) -> list[str]:
    """The thumbnail keys of every photo `owner` sent (to delete them with the photos)."""
    with db.session() as session:
        return list(session.scalars(select(MediaObject.thumb_key).where(MediaObject.owner == owner,
                                                                        MediaObject.thumb_key.is_not(None))))


def delete_owner_images(db: Database, owner: str) -> list[str]:
    """Delete the owner's descriptions, links and image records; returns the media keys to delete."""
    owned = select(ImageDescription.id).where(ImageDescription.from_number == owner)
    with db.session() as session:
        keys = set(session.scalars(select(ImageLink.image_link).where(ImageLink.id_descricao.in_(owned))))
        keys.update(session.scalars(select(MediaObject.key).where(MediaObject.owner == owner,
                                                                  MediaObject.kind == IMAGE)))
        bulk = {"synchronize_session": False}
        session.execute(delete(ImageLink).where(ImageLink.id_descricao.in_(owned)), execution_options=bulk)
        session.execute(delete(ImageDescription).where(ImageDescription.from_number == owner),
                        execution_options=bulk)
        session.execute(delete(MediaObject).where(MediaObject.owner == owner, MediaObject.kind == IMAGE),
                        execution_options=bulk)
    return sorted(keys)


def media_record(media: MediaObject | Row) -> MediaRecord:
    """A MediaRecord from an ORM object or a Core row with the media columns."""
    return MediaRecord(media.id, media.owner, media.kind, media.key, media.content_type, media.size,
                       media.message_sid, media.transcript, media.transcript_error, as_utc(media.created_at),
                       media.model_description)
