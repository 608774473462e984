"""Delivery receipts and what a phone asked of proactive messages.

`deliveries` has one row per outbound part (Twilio's SID); Twilio's status callbacks move it along
queued -> sent -> delivered -> read, or to failed/undelivered with an error code. Replies' SIDs are
written in batches off the turn's path (ReceiptBuffer, flushed by the runtime's chores every
second); reminders write theirs as they go. `contact_prefs` keeps a phone's opt-out (PARAR ...
VOLTAR), a block Twilio reported (21610) and the phone's time zone.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from common.clock import as_utc, utcnow

from .db import Database
from .models import ContactPrefs, Delivery

log = logging.getLogger(__name__)
STATUSES = ("queued", "sent", "delivered", "read", "failed", "undelivered")
FAILED = ("failed", "undelivered")
_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4, "undelivered": 4}
BLOCKED = 21610  # the user blocked the number or unsubscribed: no proactive message any more
OUTSIDE_WINDOW = 63016  # free text outside WhatsApp's 24-hour window
BUFFER_LIMIT = 10_000  # SIDs kept while the database refuses them; older ones are dropped (receipts only)
_DELIVERIES = Delivery.__table__
_INSERT = insert(_DELIVERIES)


@dataclass(frozen=True)
class SentPart:
    """One outbound message part as Twilio accepted it."""

    message_sid: str
    phone: str
    kind: str
    reminder_id: int | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    """A part's latest known state."""

    message_sid: str
    phone: str
    kind: str
    reminder_id: int | None
    status: str
    error_code: int | None
    created_at: datetime
    updated_at: datetime


def _record(row: Delivery) -> DeliveryRecord:
    return DeliveryRecord(row.message_sid, row.phone, row.kind, row.reminder_id, row.status, row.error_code,
                          as_utc(row.created_at), as_utc(row.updated_at))


def record_sent(db: Database, parts: Iterable[SentPart]) -> int:
    """Store parts just sent (status queued), one statement; a SID already there is kept as it is."""
    now = utcnow()
    rows = [{"message_sid": p.message_sid, "phone": p.phone, "kind": p.kind, "reminder_id": p.reminder_id,
             "status": "queued", "error_code": None, "created_at": now, "updated_at": now} for p in parts]
    if not rows:
        return 0
    try:
        with db.transaction() as conn:
            conn.execute(_INSERT, rows)
    except IntegrityError:  # a SID recorded twice (a flush retried): one row at a time, keeping the first
        for row in rows:
            try:
                with db.transaction() as conn:
                    conn.execute(_INSERT, [row])
            except IntegrityError:
                pass
    return len(rows)


def apply_status(db: Database, message_sid: str, status: str, error_code: int | None) -> DeliveryRecord | None:
    """Record a status callback; None for a SID we never sent. A status older than the one kept
    (a `sent` that arrives after `delivered`) does not move it back; an error code is kept."""
    with db.session() as session:
        row = session.get(Delivery, message_sid, with_for_update=db.dialect == "postgresql")
        if row is None:
            return None
        if _RANK.get(status, -1) >= _RANK.get(row.status, -1):
            row.status = status
        if error_code:
            row.error_code = error_code
        row.updated_at = utcnow()
        session.flush()
        return _record(row)


@dataclass(frozen=True)
class ReceiptSummary:
    """Sent parts by their latest status, and the failed or undelivered ones by Twilio's error code."""

    by_status: dict[str, int]
    failures_by_code: list[tuple[int | None, int]]


def receipt_summary(db: Database) -> ReceiptSummary:
    """Both of the dashboard's delivery figures from one grouped read."""
    with db.session() as session:
        rows = session.execute(select(Delivery.status, Delivery.error_code, func.count())
                               .group_by(Delivery.status, Delivery.error_code)).all()
    by_status: dict[str, int] = {}
    failures: dict[int | None, int] = {}
    for status, code, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        if status in FAILED:
            failures[code] = failures.get(code, 0) + count
    return ReceiptSummary(by_status, sorted(failures.items(), key=lambda item: -item[1]))


def failures_by_code(db: Database) -> list[tuple[int | None, int]]:
    """(error code, parts) of the failed and undelivered parts, most frequent first."""
    return receipt_summary(db).failures_by_code


def counts_by_status(db: Database) -> dict[str, int]:
    """How many parts are in each status."""
    return receipt_summary(db).by_status


def deliveries_of(db: Database, phone: str) -> list[DeliveryRecord]:
    """The phone's delivery records, oldest first (for the LGPD export)."""
    with db.session() as session:
        rows = session.scalars(select(Delivery).where(Delivery.phone == phone).order_by(Delivery.created_at))
        return [_record(row) for row in rows]


def delete_phone(db: Database, phone: str) -> int:
    """LGPD erasure: the phone's delivery records and preferences; returns the records removed."""
    with db.session() as session:
        removed = session.execute(delete(Delivery).where(Delivery.phone == phone)).rowcount
        session.execute(delete(ContactPrefs).where(ContactPrefs.phone == phone))
        return removed or 0


@dataclass(frozen=True)
class Prefs:
    """A phone's stance on proactive messages and its time zone (None: the default)."""

    opted_out: bool = False
    blocked: bool = False
    time_zone: str | None = None

    @property
    def proactive_allowed(self) -> bool:
        return not (self.opted_out or self.blocked)


def prefs_of(db: Database, phone: str) -> Prefs:
    """The phone's preferences (defaults when it never set any)."""
    with db.session() as session:
        row = session.get(ContactPrefs, phone)
        if row is None:
            return Prefs()
        return Prefs(row.opted_out_at is not None, row.blocked_at is not None, row.time_zone)


def _set(db: Database, phone: str, **values) -> None:
    values["updated_at"] = utcnow()
    with db.session() as session:
        row = session.get(ContactPrefs, phone, with_for_update=db.dialect == "postgresql")
        if row is None:
            session.add(ContactPrefs(phone=phone, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)


def set_opted_out(db: Database, phone: str, opted_out: bool) -> None:
    """PARAR/STOP/SAIR (True) or VOLTAR (False, which also lifts a 21610 block)."""
    now = utcnow() if opted_out else None
    if opted_out:
        _set(db, phone, opted_out_at=now)
    else:
        _set(db, phone, opted_out_at=None, blocked_at=None)


def set_blocked(db: Database, phone: str) -> None:
    """Twilio reported 21610 for the phone: no proactive message until the user says VOLTAR."""
    _set(db, phone, blocked_at=utcnow())


def set_time_zone(db: Database, phone: str, time_zone: str) -> None:
    """The IANA time zone the phone's reminders are read in."""
    _set(db, phone, time_zone=time_zone)


class ReceiptBuffer:
    """Replies' SIDs kept in memory and written in one statement by `flush` (the runtime's chores,
    every second): the turn's path gets no statement of its own. A callback that arrives before its
    part is flushed finds no row and is ignored; the later ones (delivered, read) are recorded."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._parts: list[SentPart] = []
        self._lock = threading.Lock()

    def add(self, part: SentPart) -> None:
        """Keep one sent part for the next flush."""
        with self._lock:
            self._parts.append(part)
            if len(self._parts) > BUFFER_LIMIT:
                del self._parts[: len(self._parts) - BUFFER_LIMIT]

    def flush(self) -> int:
        """Write what is kept; on a database error keep it for the next flush. Never raises."""
        with self._lock:
            parts, self._parts = self._parts, []
        if not parts:
            return 0
        try:
            return record_sent(self.db, parts)
        except Exception as exc:
            log.warning("could not record %d sent part(s) for their receipts (%s); trying again later",
                        len(parts), type(exc).__name__)
            with self._lock:
                self._parts[:0] = parts
            return 0
