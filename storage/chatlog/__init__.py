"""The chat log: every inbound and outbound message, in a SQL table or in MongoDB.

Both backends implement `ChatLog`; `open_chat_log()` picks one from plain settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Protocol, Sequence

from common.clock import as_utc, utcnow

if TYPE_CHECKING:
    from storage.db import Database


@dataclass(frozen=True)
class LoggedMessage:
    """One chat log entry. `direction` is "in" (from the user) or "out" (from the assistant)."""

    phone: str
    body: str
    direction: str
    message_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Page:
    """A page of results with the total count, for paginated listings."""

    items: list[LoggedMessage]
    total: int
    page: int
    per_page: int


class ChatLog(Protocol):
    """What every chat log backend offers. Phones are canonical (`+55...`); times are UTC."""

    def append(self, phone: str, body: str, direction: str, message_id: str | None = None,
               created_at: datetime | None = None) -> None:
        """Store one message."""

    def append_many(self, messages: Sequence[LoggedMessage]) -> None:
        """Store several messages in one write, in the given order (a turn's inbound and outbound
        lines: one round trip to the store instead of one per line)."""

    def search(self, phone: str, words: str = "", since: datetime | None = None, until: datetime | None = None,
               limit: int = 10, before_latest: int = 0) -> list[LoggedMessage]:
        """The phone's own messages matching all `words` (accent/case-insensitive) in [since, until],
        newest first, skipping the newest `before_latest` messages (those already in the model's context)."""

    def list(self, phone: str | None = None, since: datetime | None = None, until: datetime | None = None,
             page: int = 1, per_page: int = 50) -> Page:
        """Messages newest first, optionally of one phone and within a date range."""

    def count(self, phone: str | None = None) -> int:
        """How many messages are stored (of one phone, or all)."""

    def count_by_day(self, days: int = 30, now: datetime | None = None) -> dict[str, int]:
        """Messages per UTC day (`YYYY-MM-DD`) over the last `days` days, zero-filled."""

    def delete_phone(self, phone: str) -> int:
        """Remove every message of a phone (LGPD erasure); returns how many were removed."""

    def ping(self) -> None:
        """Raise if the backend does not answer."""


def day_range(days: int, now: datetime | None = None) -> tuple[datetime, datetime, dict[str, int]]:
    """The last `days` UTC days ending today: start (inclusive), end (exclusive), and each day at zero."""
    days = max(days, 0)
    first = as_utc(now or utcnow()).date() - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=timezone.utc)
    keys = {(first + timedelta(days=offset)).isoformat(): 0 for offset in range(days)}
    return start, start + timedelta(days=days), keys


def open_chat_log(database: Database, mongodb_uri: str | None = None,
                  mongodb_db: str = "whatsapp_assistant") -> ChatLog:
    """MongoDB when `mongodb_uri` is set, else the `chat_log` table of the application database."""
    if mongodb_uri:
        from .mongo import MongoChatLog
        return MongoChatLog(mongodb_uri, mongodb_db)
    from .sql import SqlChatLog
    return SqlChatLog(database)
