"""Finding image descriptions by words, in Portuguese: PostgreSQL full-text search or SQLite FTS5.

The rule, the same on both databases: a description matches when it, or what the model saw in its
photos (`model_description`), holds at least one of the query's words (after accent/case folding,
stopwords and stemming, see common/ptstem.py); those whose own words match come first, then those
holding more of the words, then the more relevant (ts_rank / bm25, the user's words weighing more),
then the newest.
A sender's search ranks their newest CANDIDATES matches, so its cost stays bounded for heavy users.
PostgreSQL reads the generated `search_tsv` column (the user's words at weight A, the model's at B);
SQLite reads `image_search_fts` (columns `stems` and `model_stems`), whose rows `index_descriptions()`
writes (a trigger deletes them with their description).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Connection, DateTime, Float, Integer, String, Text, select, text
from sqlalchemy.orm import Session

from common.clock import as_utc
from common.ptstem import lexemes, query_terms
from storage.db import Database
from storage.models import ImageLink, MediaObject

MAX_TERMS = 32
CANDIDATES = 1000
_COLUMNS = {"id": Integer, "owner": String, "description": Text, "model_description": Text,
            "created_at": DateTime(timezone=True), "own": Integer, "matched": Integer, "score": Float}


@dataclass(frozen=True)
class ImageHit:
    """One matching description: `score` grows with relevance, `matched` counts query words found."""

    id: int
    owner: str
    description: str
    image_keys: tuple[str, ...]
    score: float
    matched: int
    created_at: datetime
    thumbnail_keys: tuple[str, ...] = ()
    model_description: str | None = None


def search_images(db: Database, owner: str, query: str, limit: int = 5) -> list[ImageHit]:
    """The owner's best-matching descriptions with their image keys; [] for an empty or stopword-only query.

    Ranking looks at the owner's newest CANDIDATES matches, which bounds the time a query takes.
    """
    hits, _ = _search(db, query, owner, max(1, min(limit, 50)), 0, CANDIDATES)
    return hits


def search_descriptions(db: Database, query: str, owner: str | None = None, page: int = 1,
                        per_page: int = 50) -> tuple[list[ImageHit], int]:
    """One page of all matches across owners (or of one owner) for an operator, and how many match."""
    per_page = max(1, min(per_page, 200))
    return _search(db, query, owner, per_page, (max(page, 1) - 1) * per_page, None)


def index_descriptions(conn: Session | Connection, rows: Iterable[tuple[int, str, str, str | None]]) -> None:
    """Write the SQLite FTS rows of (description id, owner, user's text, model's text or None);
    PostgreSQL indexes by itself."""
    dialect = conn.get_bind().dialect if isinstance(conn, Session) else conn.dialect
    if dialect.name != "sqlite":
        return
    params = [{"id": id_, "owner": owner_token(owner), "stems": " ".join(lexemes(description)),
               "model": " ".join(lexemes(model or ""))} for id_, owner, description, model in rows]
    if params:
        conn.execute(text("INSERT OR REPLACE INTO image_search_fts(rowid, owner, stems, model_stems) "
                          "VALUES (:id, :owner, :stems, :model)"), params)


def forget_deleted_terms(db: Database) -> None:
    """On SQLite, rewrite the FTS5 index as one segment (its 'optimize' command): FTS5 records a
    deletion as a marker in a newer segment, so a deleted description's stems stay in the older
    segments' bytes until a merge happens to reach them. For erasures (about 70 ms at 100k rows);
    PostgreSQL's GIN index drops them at VACUUM."""
    if db.dialect != "sqlite":
        return
    with db.transaction() as conn:
        conn.execute(text("INSERT INTO image_search_fts(image_search_fts) VALUES('optimize')"))


def owner_token(owner: str) -> str:
    """The single FTS5 token standing for an owner (letters and digits only, so never split)."""
    return "o" + owner.encode().hex()


@dataclass(frozen=True)
class LinkedImages:
    """The images of one description, in the order they were saved: their keys, and for each the key
    of its small copy (the image's own key where none was made)."""

    keys: tuple[str, ...] = ()
    thumbnails: tuple[str, ...] = ()


def images_by_description(session: Session, ids: Iterable[int]) -> dict[int, LinkedImages]:
    """The linked images of each description id, with their thumbnails, in one query."""
    pairs: dict[int, list[tuple[str, str]]] = defaultdict(list)
    rows = session.execute(select(ImageLink.id_descricao, ImageLink.image_link, MediaObject.thumb_key)
                           .outerjoin(MediaObject, MediaObject.id == ImageLink.media_id)
                           .where(ImageLink.id_descricao.in_(list(ids))).order_by(ImageLink.id))
    for id_, key, thumb in rows:
        pairs[id_].append((key, thumb or key))
    return {id_: LinkedImages(*map(tuple, zip(*values))) for id_, values in pairs.items()}


def _search(db: Database, query: str, owner: str | None, limit: int, offset: int,
            window: int | None) -> tuple[list[ImageHit], int]:
    params: dict[str, Any] = {"owner": owner, "limit": limit, "offset": offset, "window": window}
    with db.session() as session:
        run = _postgresql if db.dialect == "postgresql" else _sqlite
        rows, total = run(session, query or "", params)
        linked = images_by_description(session, [row.id for row in rows]) if rows else {}
    none = LinkedImages()
    hits = [ImageHit(row.id, row.owner, row.description, linked.get(row.id, none).keys, float(row.score),
                     int(row.matched), as_utc(row.created_at), linked.get(row.id, none).thumbnails,
                     row.model_description) for row in rows]
    return hits, total


def _postgresql(session: Session, query: str, params: dict[str, Any]) -> tuple[list[Any], int]:
    terms = session.execute(text("SELECT tsvector_to_array(to_tsvector('pt_unaccent', pt_fold(:q)))"),
                            {"q": query}).scalar_one()[:MAX_TERMS]
    if not terms:
        return [], 0
    params.update(tsq=" | ".join(_quote_lexeme(t) for t in terms), terms=terms,
                  own_tsq=" | ".join(_quote_lexeme(t) + ":A" for t in terms))
    mine = " AND d.from_number = :owner" if params["owner"] is not None else ""
    where = "d.search_tsv @@ CAST(:tsq AS tsquery)" + mine
    # The window is one owner's newest matches (search_images always names the owner). Ordered by
    # (created_at, id), the planner may walk the owner's (from_number, created_at) index backwards,
    # checking each row, when its statistics say the words are common (a user with thousands of
    # photos and a word in half of them: 2,000 rows read instead of 4,600 scattered matches), and
    # takes the GIN bitmap then a sort when they are rare. Ordering by the primary key instead
    # would let it walk the whole table backwards for a rare word.
    newest = " ORDER BY d.created_at DESC, d.id DESC LIMIT :window" if params["window"] else ""
    matched = ("length(d.search_tsv) - length(ts_delete(d.search_tsv, CAST(:terms AS text[])))"
               if len(terms) > 1 else "1")
    sql = text(f"SELECT d.id, d.from_number AS owner, d.descricao AS description, d.model_description, "
               f"d.created_at, (d.search_tsv @@ CAST(:own_tsq AS tsquery))::int AS own, {matched} AS matched, "
               f"ts_rank(d.search_tsv, CAST(:tsq AS tsquery), 1) AS score "
               f"FROM (SELECT d.* FROM table_descricao d WHERE {where}{newest}) d "
               f"ORDER BY own DESC, matched DESC, score DESC, d.created_at DESC, d.id DESC "
               f"LIMIT :limit OFFSET :offset").columns(**_COLUMNS)
    rows = session.execute(sql, params).all()
    if params["window"]:
        return rows, len(rows)
    total = session.execute(text(f"SELECT count(*) FROM table_descricao d WHERE {where}"), params)
    return rows, total.scalar_one()


def _sqlite(session: Session, query: str, params: dict[str, Any]) -> tuple[list[Any], int]:
    terms = query_terms(query, MAX_TERMS)
    if not terms:
        return [], 0
    match = "{stems model_stems} : (" + " OR ".join('"' + t.replace('"', '""') + '"' for t in terms) + ")"
    if params["owner"] is not None:
        match = f'owner : "{owner_token(params["owner"])}" AND {match}'
    params.update({f"t{i}": f" {t} " for i, t in enumerate(terms)}, match=match)
    found = [f"(instr(' ' || f.stems || ' ' || f.model_stems || ' ', :t{i}) > 0)" for i in range(len(terms))]
    matched = " + ".join(found) if len(terms) > 1 else "1"
    own = " OR ".join(f"instr(' ' || f.stems || ' ', :t{i}) > 0" for i in range(len(terms)))
    newest = " ORDER BY f.rowid DESC LIMIT :window" if params["window"] else ""
    mine = " AND d.from_number = :owner" if params["owner"] is not None else ""
    sql = text(f"SELECT d.id, d.from_number AS owner, d.descricao AS description, d.model_description, "
               f"d.created_at, c.own, c.matched, c.score FROM (SELECT f.rowid AS id, ({own}) AS own, "
               f"{matched} AS matched, -bm25(image_search_fts, 0.0, 1.0, 0.5) AS score FROM image_search_fts f "
               f"WHERE image_search_fts MATCH :match{newest}) c JOIN table_descricao d ON d.id = c.id{mine} "
               f"ORDER BY c.own DESC, c.matched DESC, c.score DESC, d.created_at DESC, d.id DESC "
               f"LIMIT :limit OFFSET :offset").columns(**_COLUMNS)
    rows = session.execute(sql, params).all()
    if params["window"]:
        return rows, len(rows)
    return rows, session.execute(text(f"SELECT count(*) FROM image_search_fts f JOIN table_descricao d "
                                      f"ON d.id = f.rowid WHERE image_search_fts MATCH :match{mine}"),
                                 params).scalar_one()


def _quote_lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"
