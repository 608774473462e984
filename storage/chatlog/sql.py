"""The chat log in the application database's `chat_log` table (the embedded default)."""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.sql import Select

from common.clock import as_utc, utcnow
from common.textfold import fold, fold_words
from storage.db import Database
from storage.models import ChatMessage

from . import LoggedMessage, Page, day_range

NEWEST_FIRST = (ChatMessage.created_at.desc(), ChatMessage.id.desc())
_INSERT = insert(ChatMessage.__table__)  # every turn writes: a Core insert, not the ORM's unit of work


class SqlChatLog:
    """`ChatLog` on SQLAlchemy: SQLite or PostgreSQL, whatever `database` is bound to."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def append(self, phone: str, body: str, direction: str, message_id: str | None = None,
               created_at: datetime | None = None) -> None:
        """Store one message with its folded text for accent-insensitive search."""
        self.append_many([LoggedMessage(phone, body, direction, message_id, created_at or utcnow())])

    def append_many(self, messages: Sequence[LoggedMessage]) -> None:
        """Store the messages in one transaction, one multi-row INSERT, ids in the given order (more
        rows than the database takes in one statement: one transaction of several)."""
        rows = [{"phone": m.phone, "body": m.body, "body_search": fold(m.body), "direction": m.direction,
                 "message_id": m.message_id, "created_at": as_utc(m.created_at)} for m in messages]
        if not rows:
            return
        with self.db.statement() if len(rows) <= self.db.rows_per_statement else self.db.transaction() as conn:
            conn.execute(_INSERT, rows)

    def search(self, phone: str, words: str = "", since: datetime | None = None, until: datetime | None = None,
               limit: int = 10, before_latest: int = 0) -> list[LoggedMessage]:
        """The phone's messages containing every folded word, newest first (see `ChatLog.search`)."""
        conditions = [ChatMessage.phone == phone, *_range(since, until)]
        conditions += [ChatMessage.body_search.contains(word, autoescape=True) for word in fold_words(words)]
        if before_latest > 0:
            newest = select(ChatMessage.id).where(ChatMessage.phone == phone).order_by(*NEWEST_FIRST)
            conditions.append(ChatMessage.id.not_in(newest.limit(before_latest).scalar_subquery()))
        query = select(ChatMessage).where(*conditions).order_by(*NEWEST_FIRST).limit(max(limit, 0))
        return self._fetch(query)

    def list(self, phone: str | None = None, since: datetime | None = None, until: datetime | None = None,
             page: int = 1, per_page: int = 50) -> Page:
        """One page of messages newest first, with the total matching count."""
        page, per_page = max(page, 1), max(per_page, 1)
        conditions = list(_range(since, until))
        if phone is not None:
            conditions.append(ChatMessage.phone == phone)
        query = (select(ChatMessage).where(*conditions).order_by(*NEWEST_FIRST)
                 .offset((page - 1) * per_page).limit(per_page))
        with self.db.session() as session:
            total = session.scalar(select(func.count()).select_from(ChatMessage).where(*conditions)) or 0
        return Page(items=self._fetch(query), total=total, page=page, per_page=per_page)

    def count(self, phone: str | None = None) -> int:
        """How many messages are stored (of one phone, or all)."""
        query = select(func.count()).select_from(ChatMessage)
        if phone is not None:
            query = query.where(ChatMessage.phone == phone)
        with self.db.session() as session:
            return session.scalar(query) or 0

    def count_by_day(self, days: int = 30, now: datetime | None = None) -> dict[str, int]:
        """Messages per UTC day over the last `days` days (today included), zero-filled, oldest first."""
        start, end, counts = day_range(days, now)
        if not counts:
            return counts
        day = self._utc_day()
        query = (select(day, func.count()).where(ChatMessage.created_at >= start, ChatMessage.created_at < end)
                 .group_by(day))
        with self.db.session() as session:
            for value, n in session.execute(query):
                key = str(value)[:10]
                if key in counts:
                    counts[key] = n
        return counts

    def delete_phone(self, phone: str) -> int:
        """Remove every message of `phone`; returns how many were removed."""
        with self.db.session() as session:
            return session.execute(delete(ChatMessage).where(ChatMessage.phone == phone)).rowcount or 0

    def ping(self) -> None:
        """Raise if the database does not answer."""
        self.db.ping()

    def _utc_day(self) -> ColumnElement:
        """The UTC calendar day of `created_at`; PostgreSQL's `date()` would use the session time zone."""
        if self.db.dialect == "postgresql":
            return func.date(func.timezone("UTC", ChatMessage.created_at))
        return func.date(ChatMessage.created_at)

    def _fetch(self, query: Select) -> list[LoggedMessage]:
        with self.db.session() as session:
            return [_to_logged(row) for row in session.scalars(query)]


def _range(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions = []
    if since is not None:
        conditions.append(ChatMessage.created_at >= as_utc(since))
    if until is not None:
        conditions.append(ChatMessage.created_at <= as_utc(until))
    return conditions


def _to_logged(row: ChatMessage) -> LoggedMessage:
    return LoggedMessage(phone=row.phone, body=row.body, direction=row.direction, message_id=row.message_id,
                         created_at=as_utc(row.created_at))
