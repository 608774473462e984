"""What the model saw in users' photos: its short description of each, kept beside the user's own.

A photo's description by the model (`media_objects.model_description`) is written when the photo
arrives; saving the user's description copies those of its photos into the description's row,
where the search indexes find them (below the user's own words).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from storage.db import Database
from storage.images import IMAGE
from storage.models import MediaObject


@dataclass(frozen=True)
class PhotoToShow:
    """One photo of a turn as vision needs it: the key of its small copy (None: none was made,
    e.g. a corrupt image) and what the model already said of it."""

    id: int
    thumb_key: str | None
    model_description: str | None


def photos_to_show(db: Database, owner: str, media_ids: list[int]) -> list[PhotoToShow]:
    """The owner's photos among `media_ids`, in the order given (others' ids are left out)."""
    if not media_ids:
        return []
    query = select(MediaObject.id, MediaObject.thumb_key, MediaObject.model_description).where(
        MediaObject.id.in_(media_ids), MediaObject.owner == owner, MediaObject.kind == IMAGE)
    with db.session() as session:
        found = {row.id: PhotoToShow(row.id, row.thumb_key, row.model_description) for row in session.execute(query)}
    return [found[i] for i in dict.fromkeys(media_ids) if i in found]


def set_model_description(db: Database, media_id: int, text: str) -> None:
    """Record what the model saw in one photo."""
    with db.session() as session:
        session.execute(update(MediaObject).where(MediaObject.id == media_id).values(model_description=text))
