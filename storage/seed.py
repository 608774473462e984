"""Seeding many described images at once (benchmarks, imports), keeping the search index in step."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Iterable, Iterator

from sqlalchemy import insert

from common.clock import utcnow
from storage.db import Database
from storage.models import ImageDescription, ImageLink
from storage.search import index_descriptions


@dataclass(frozen=True)
class NewDescription:
    """One description to seed, with the media-store keys of its images."""

    owner: str
    description: str
    created_at: datetime | None = None
    image_keys: tuple[str, ...] = ()
    model_description: str | None = None


def bulk_insert_descriptions(db: Database, rows: Iterable[NewDescription], batch: int = 5000) -> int:
    """Insert descriptions and their image links in batches of `batch` rows; returns how many.

    Each batch is one transaction of multi-row INSERTs; on SQLite the FTS rows go in with it.
    """
    total = 0
    for chunk in _chunks(rows, batch):
        now = utcnow()
        with db.session() as session:
            ids = session.scalars(
                insert(ImageDescription).returning(ImageDescription.id, sort_by_parameter_order=True),
                [{"descricao": r.description, "from_number": r.owner, "created_at": r.created_at or now,
                  "model_description": r.model_description}
                 for r in chunk]).all()
            links = [{"image_link": key, "id_descricao": id_, "created_at": row.created_at or now}
                     for id_, row in zip(ids, chunk) for key in row.image_keys]
            if links:
                session.execute(insert(ImageLink), links)
            index_descriptions(session, [(id_, row.owner, row.description, row.model_description)
                                         for id_, row in zip(ids, chunk)])
        total += len(chunk)
    return total


def _chunks(rows: Iterable[NewDescription], size: int) -> Iterator[list[NewDescription]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, max(size, 1))):
        yield chunk
