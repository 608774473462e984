"""The inbound ledger: each webhook delivery is written here before Twilio gets its 200.

Status moves queued -> processing -> sending -> done | failed. A unique MessageSid makes Twilio's
retries harmless. Rows left queued or processing by a crash are answered again; a row left
`sending` (its reply may have gone out, whole or in part, before the worker died) never is: it is
failed with INTERRUPTED_WHILE_SENDING, since a second copy of a reply is worse than a visible failure.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Collection, Iterable

from sqlalchemy import bindparam, case, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from common.clock import as_utc, utcnow

from . import turn_jobs
from .db import Database
from .models import InboundMessage
from .sealing import UNREADABLE_REASON

REDACTED = "[senha]"
SENDING = "sending"
INTERRUPTED_WHILE_SENDING = ("the worker stopped while sending the reply (the process or its machine died, or "
                             "the database went away): part of it may have reached the user, so it is not sent again")
# Every message is inserted, claimed and finished once: Core statements prepared once, not the
# ORM's unit of work (claim went from 1.6 to 0.3 ms on SQLite, python -m bench --only overhead).
_LEDGER = InboundMessage.__table__
_INSERT = insert(_LEDGER)
_CLAIM = (update(_LEDGER)
          .where(_LEDGER.c.id.in_(bindparam("ids", expanding=True)), _LEDGER.c.status.in_(("queued", "processing")))
          .values(status="processing", attempts=_LEDGER.c.attempts + 1, updated_at=bindparam("now"))
          .returning(*_LEDGER.c))
_SET_STATUS = (update(_LEDGER).where(_LEDGER.c.id.in_(bindparam("ids", expanding=True)))
               .values(status=bindparam("status"), error=bindparam("error"), updated_at=bindparam("now")))
_FINISH = _SET_STATUS.values(processed_at=bindparam("now"))
# The fence of a sender's engine job (storage/turn_jobs.py): true while the job `:job` still runs, false
# once its worker fell silent and the job was taken over (a lock can be lost; its holder must check).
_JOB_STILL_RUNS = text("EXISTS (SELECT 1 FROM procrastinate_jobs WHERE id = :job AND status = 'doing')")
_SENDING_FOR_JOB = _SET_STATUS.where(_JOB_STILL_RUNS)
# The worker's feed asks on every nudge: which rows wait, above its cursor or in its gaps.
_WAITING = select(_LEDGER.c.id, _LEDGER.c.sender, _LEDGER.c.media).where(
    _LEDGER.c.status.in_(bindparam("statuses", expanding=True))).order_by(_LEDGER.c.id)
_WAITING_ABOVE = _WAITING.where(_LEDGER.c.id > bindparam("after"))
_WAITING_ABOVE_OR_IN = _WAITING.where(or_(_LEDGER.c.id > bindparam("after"),
                                          _LEDGER.c.id.in_(bindparam("also", expanding=True))))


@dataclass(frozen=True)
class LedgerEntry:
    """One inbound message as the worker sees it."""

    id: int
    message_sid: str
    sender: str
    body: str
    media: list[dict[str, Any]]
    profile_name: str | None
    status: str
    attempts: int
    received_at: datetime
    error: str | None = None

    @property
    def has_media(self) -> bool:
        return bool(self.media)


def _entry(row: InboundMessage) -> LedgerEntry:
    return LedgerEntry(row.id, row.message_sid, row.sender, row.body or "", list(row.media or []),
                       row.profile_name, row.status, row.attempts, as_utc(row.received_at), row.error)


def add_to_ledger(db: Database, message_sid: str, sender: str, body: str = "",
                  media: list[dict[str, Any]] | None = None, profile_name: str | None = None,
                  received_at: datetime | None = None, failed: str | None = None,
                  with_job: bool = False) -> int | None:
    """Insert a new inbound message, on disk when this returns (`Database.durable_statement`); returns
    its id, or None when the MessageSid is already there. With `failed` (the reason) it goes in as
    failed, never to be answered: kept for the record.

    Tried once more when its connection turns out dead (the server restarted since that connection
    was last used, see PING_AFTER_IDLE in db.py): a delivery lost here is a message never answered.

    With `with_job` (the turn engine on PostgreSQL) the same statement defers the sender's job
    (storage/turn_jobs.py), so no row is ever left without one."""
    row = {"message_sid": message_sid, "sender": sender, "body": body or "", "media": media or [],
           "profile_name": profile_name, "status": "failed" if failed else "queued", "attempts": 0, "error": failed}
    if received_at is not None:  # a message kept in the spool while the database was down
        row["received_at"] = received_at

    def insert() -> int:
        if with_job:
            return turn_jobs.insert_row_with_job(db, row)
        with db.durable_statement() as conn:
            return conn.execute(_INSERT, row).inserted_primary_key[0]

    try:
        return db.retry_on_disconnect(insert)
    except IntegrityError:
        if get_by_sid(db, message_sid) is None:
            raise  # another constraint refused the row: not a delivery already kept
        return None


def get_entry(db: Database, entry_id: int) -> LedgerEntry | None:
    """The ledger row with this id, or None."""
    with db.session() as session:
        row = session.get(InboundMessage, entry_id)
        return _entry(row) if row else None


def get_by_sid(db: Database, message_sid: str) -> LedgerEntry | None:
    """The ledger row with this MessageSid, or None."""
    with db.session() as session:
        row = session.scalar(select(InboundMessage).where(InboundMessage.message_sid == message_sid))
        return _entry(row) if row else None


def claim(db: Database, entry_ids: Iterable[int]) -> list[LedgerEntry]:
    """Mark unfinished rows as processing and count the attempt; returns the rows claimed, in order."""
    with db.statement() as conn:
        rows = conn.execute(_CLAIM, {"ids": list(entry_ids), "now": utcnow()}).all()
    return sorted((_entry(row) for row in rows), key=lambda entry: entry.id)


class SenderTakenOver(RuntimeError):
    """The engine job that was answering these rows no longer runs: its worker fell silent and another
    worker has the sender now. The rows are theirs; nothing of this turn may go out."""


def mark_sending(db: Database, entry_ids: Iterable[int], job_id: int | None = None) -> None:
    """The reply is about to go out: from here on the rows are never answered again (see SENDING).
    With the engine's `job_id`, only while that job still runs, in the same statement; else raises
    SenderTakenOver and marks nothing (a worker paused mid-turn whose job was taken over)."""
    if job_id is None:
        _set_status(db, entry_ids, SENDING, None)
        return
    ids = list(entry_ids)
    with db.statement() as conn:
        marked = conn.execute(_SENDING_FOR_JOB, {"ids": ids, "status": SENDING, "error": None, "now": utcnow(),
                                                 "job": job_id}).rowcount
    if marked < len(ids):
        raise SenderTakenOver(f"engine job {job_id} no longer runs: another worker has rows {ids}")


def _set_status(db: Database, entry_ids: Iterable[int], status: str, error: str | None) -> None:
    statement = _FINISH if status in ("done", "failed") else _SET_STATUS
    with db.statement() as conn:
        conn.execute(statement, {"ids": list(entry_ids), "status": status, "error": error, "now": utcnow()})


def mark_done(db: Database, entry_ids: Iterable[int], note: str | None = None) -> None:
    """The messages were answered (note keeps a non-fatal remark, e.g. a reply not delivered)."""
    _set_status(db, entry_ids, "done", note)


def mark_failed(db: Database, entry_ids: Iterable[int], reason: str) -> None:
    """Processing gave up; the reason stays visible to operators."""
    _set_status(db, entry_ids, "failed", reason[:2000])


def requeue(db: Database, entry_ids: Iterable[int], reason: str) -> None:
    """Put messages back for another attempt, keeping the reason of the last failure."""
    _set_status(db, entry_ids, "queued", reason[:2000])


def redact_body(db: Database, entry_ids: Iterable[int], replacement: str = REDACTED) -> None:
    """Replace the stored text of messages that carried a secret (a password typed by the user)."""
    with db.session() as session:
        session.execute(update(InboundMessage).where(InboundMessage.id.in_(list(entry_ids)))
                        .values(body=replacement, updated_at=utcnow()))
    if db.dialect == "sqlite":
        # The old page versions still hold the secret in the WAL file: copy back and truncate it.
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@dataclass(frozen=True)
class WaitingRow:
    """A ledger row waiting for the worker, without its (sealed) body."""

    id: int
    sender: str
    has_media: bool


def list_waiting(db: Database, after_id: int = 0, with_processing: bool = False,
                 also_ids: Collection[int] = ()) -> list[WaitingRow]:
    """Queued rows with an id above `after_id` or among `also_ids` (and rows left processing, for
    crash recovery), oldest first. Reads only id, sender and media: the worker polls this, and
    bodies stay sealed."""
    params = {"statuses": ["queued", "processing"] if with_processing else ["queued"], "after": after_id,
              "also": list(also_ids)}
    with db.statement() as conn:
        rows = conn.execute(_WAITING_ABOVE_OR_IN if also_ids else _WAITING_ABOVE, params).all()
    return [WaitingRow(row_id, sender, bool(media)) for row_id, sender, media in rows]


def fail_interrupted_sends(db: Database, sender: str | None = None, keep: Collection[int] = ()) -> int:
    """Fail the rows left `sending` (of one sender, or all) but those in `keep` (the after-send
    journal owes them their mark); returns how many. Only for rows no running turn holds."""
    stmt = update(_LEDGER).where(_LEDGER.c.status == SENDING)
    if sender is not None:
        stmt = stmt.where(_LEDGER.c.sender == sender)
    if keep:
        stmt = stmt.where(_LEDGER.c.id.not_in(list(keep)))
    now = utcnow()
    with db.statement() as conn:
        result = conn.execute(stmt.values(status="failed", error=INTERRUPTED_WHILE_SENDING, updated_at=now,
                                          processed_at=now))
    return result.rowcount or 0


@dataclass(frozen=True)
class SenderRow:
    """A ledger row of one sender still to be answered (queued, processing) or left sending."""

    id: int
    status: str
    has_media: bool


_SENDER_WAITING = (select(_LEDGER.c.id, _LEDGER.c.status, _LEDGER.c.media)
                   .where(_LEDGER.c.sender == bindparam("sender"),
                          _LEDGER.c.status.in_(("queued", "processing", SENDING))).order_by(_LEDGER.c.id))


_SENDER_WAITING_FOR_JOB = _SENDER_WAITING.where(_JOB_STILL_RUNS)


def sender_waiting(db: Database, sender: str, job_id: int | None = None) -> list[SenderRow]:
    """The sender's rows not finished, oldest first (the index on sender, status, id serves it).
    With `job_id`, none unless that engine job still runs: a worker that was silent long enough for
    its job to be taken over must not go on answering the sender beside the worker that has it now."""
    with db.statement() as conn:
        if job_id is None:
            rows = conn.execute(_SENDER_WAITING, {"sender": sender}).all()
        else:
            rows = conn.execute(_SENDER_WAITING_FOR_JOB, {"sender": sender, "job": job_id}).all()
    return [SenderRow(row_id, status, bool(media)) for row_id, status, media in rows]


def last_id(db: Database) -> int:
    """The highest ledger id committed so far (0 for an empty ledger)."""
    with db.statement() as conn:
        return conn.execute(select(func.max(_LEDGER.c.id))).scalar() or 0


@dataclass(frozen=True)
class Backlog:
    """What the worker has yet to answer: rows per status and when the oldest queued one arrived."""

    counts: dict[str, int]
    oldest_queued_at: datetime | None
    unreadable: int = 0  # failed because no key opens their body (sealing.UNREADABLE_REASON)

    def oldest_queued_seconds(self, now: datetime) -> float | None:
        """How long the oldest queued message has waited (None when nothing waits)."""
        return None if self.oldest_queued_at is None else max((now - self.oldest_queued_at).total_seconds(), 0.0)


def backlog(db: Database) -> Backlog:
    """Rows per status and the oldest queued arrival: the web cannot see the worker process, but a
    queue that only grows, or a message waiting for minutes, says it is down or behind."""
    unreadable = func.sum(case((_LEDGER.c.error == UNREADABLE_REASON, 1), else_=0))
    with db.statement() as conn:
        rows = conn.execute(select(_LEDGER.c.status, func.count(), func.min(_LEDGER.c.received_at), unreadable)
                            .group_by(_LEDGER.c.status)).all()
    oldest = next((first for status, _, first, _ in rows if status == "queued"), None)
    return Backlog({status: count for status, count, _, _ in rows}, as_utc(oldest) if oldest is not None else None,
                   sum(int(found or 0) for status, _, _, found in rows if status == "failed"))


def delete_sender_bodies(db: Database, sender: str) -> int:
    """LGPD erasure: keep only what idempotency needs (the MessageSid), blank text and media."""
    with db.session() as session:
        result = session.execute(update(InboundMessage).where(InboundMessage.sender == sender)
                                 .values(body="", media=[], profile_name=None, updated_at=utcnow()))
        return result.rowcount or 0
