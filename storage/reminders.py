"""Reminders of one phone, and the firing chore's claims on them.

A reminder is numbered per owner in creation order ("cancelar lembrete 2" keeps meaning the same one).
The firing chore (worker/reminders.py) takes due rows one at a time with `claim_next`: one UPDATE
that stamps the row `sending` (on PostgreSQL its subquery locks with FOR UPDATE SKIP LOCKED, so
chores on several machines never take the same row) and then `finish`es it. A row left `sending`
by a process that died mid-send is never sent again (`fail_interrupted`): a second copy is worse
than a visible failure, and the window is one message wide.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select, update

from common.clock import as_utc, utcnow

from .db import Database
from .models import InboundMessage, Reminder, TodoItem

ACTIVE, SENDING, HELD, SENT = "active", "sending", "held", "sent"
CANCELLED, DROPPED, FAILED, SKIPPED = "cancelled", "dropped", "failed", "skipped"
LIVE = (ACTIVE, SENDING, HELD)  # what counts against the per-user cap and shows in "meus lembretes"
WINDOW = timedelta(hours=24)  # WhatsApp's customer-service window: free text only this long after the user wrote
INTERRUPTED = "the process stopped while sending it: it may have gone out, so it is not sent again"
_REMINDERS = Reminder.__table__


@dataclass(frozen=True)
class ReminderRecord:
    """One reminder as the tools and the chore see it; `due_at` is UTC."""

    id: int
    owner: str
    number: int
    text: str
    due_at: datetime
    repeat: str | None
    local_time: str
    time_zone: str
    todo_item_id: int | None
    status: str
    attempts: int


def _record(row) -> ReminderRecord:
    return ReminderRecord(row.id, row.owner, row.number, row.text, as_utc(row.due_at), row.repeat, row.local_time,
                          row.time_zone, row.todo_item_id, row.status, row.attempts)


class CapReached(Exception):
    """The owner already has the most live reminders allowed (REMINDER_MAX_ACTIVE)."""


def create(db: Database, owner: str, text: str, due_at: datetime, local_time: str, time_zone: str,
           repeat: str | None = None, todo_item_id: int | None = None, cap: int = 50) -> ReminderRecord:
    """Store a reminder for `owner`, numbered after their last one; CapReached past `cap` live ones."""
    now = utcnow()
    with db.session() as session:
        live = session.scalar(select(func.count()).select_from(Reminder)
                              .where(Reminder.owner == owner, Reminder.status.in_(LIVE))) or 0
        if live >= cap:
            raise CapReached(cap)
        number = (session.scalar(select(func.max(Reminder.number)).where(Reminder.owner == owner)) or 0) + 1
        row = Reminder(owner=owner, number=number, text=text, due_at=due_at.astimezone(timezone.utc), repeat=repeat, local_time=local_time,
                       time_zone=time_zone, todo_item_id=todo_item_id, status=ACTIVE, attempts=0,
                       created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        return _record(row)


def live_of(db: Database, owner: str) -> list[ReminderRecord]:
    """The owner's reminders still to come (or held for their next message), soonest first."""
    with db.session() as session:
        rows = session.scalars(select(Reminder).where(Reminder.owner == owner, Reminder.status.in_(LIVE))
                               .order_by(Reminder.due_at, Reminder.id))
        return [_record(row) for row in rows]


def all_of(db: Database, owner: str) -> list[ReminderRecord]:
    """Every reminder of the owner, whatever became of it (the LGPD export)."""
    with db.session() as session:
        return [_record(row) for row in session.scalars(select(Reminder).where(Reminder.owner == owner)
                                                        .order_by(Reminder.number))]


def cancel(db: Database, owner: str, number: int) -> ReminderRecord | None:
    """Cancel the owner's live reminder with this number; None when there is none."""
    with db.session() as session:
        row = session.scalar(select(Reminder).where(Reminder.owner == owner, Reminder.number == number,
                                                    Reminder.status.in_((ACTIVE, HELD))))
        if row is None:
            return None
        row.status, row.updated_at = CANCELLED, utcnow()
        return _record(row)


def claim_next(db: Database, now: datetime) -> ReminderRecord | None:
    """Take the most overdue active reminder due by `now`, stamped `sending`; None when none is due."""
    due = (select(_REMINDERS.c.id).where(_REMINDERS.c.status == ACTIVE, _REMINDERS.c.due_at <= now)
           .order_by(_REMINDERS.c.due_at, _REMINDERS.c.id).limit(1).with_for_update(skip_locked=True))
    statement = (update(_REMINDERS).where(_REMINDERS.c.id == due.scalar_subquery())
                 .values(status=SENDING, attempts=_REMINDERS.c.attempts + 1, updated_at=utcnow())
                 .returning(*_REMINDERS.c))
    with db.transaction() as conn:
        row = conn.execute(statement).first()
    return _record(row) if row is not None else None


def finish(db: Database, reminder_id: int, status: str, next_due: datetime | None = None,
           error: str | None = None) -> None:
    """Close a claimed reminder: `status`, or back to active at `next_due` (a repeat's next time, a retry)."""
    values = {"status": ACTIVE if next_due is not None else status, "updated_at": utcnow(), "last_error": error}
    if next_due is not None:
        values["due_at"] = next_due.astimezone(timezone.utc)  # SQLite keeps the wall time it is given
    if status == SENT:
        values["sent_at"] = utcnow()
    with db.transaction() as conn:
        conn.execute(update(_REMINDERS).where(_REMINDERS.c.id == reminder_id).values(**values))


def interrupted(db: Database, older_than: timedelta) -> list[ReminderRecord]:
    """Reminders left `sending` for longer than `older_than` (their process died mid-send)."""
    with db.session() as session:
        rows = session.scalars(select(Reminder).where(Reminder.status == SENDING,
                                                      Reminder.updated_at < utcnow() - older_than))
        return [_record(row) for row in rows]


def held_of(db: Database, owner: str) -> list[ReminderRecord]:
    """The owner's reminders waiting for their next message (no template outside the 24-hour window)."""
    with db.session() as session:
        rows = session.scalars(select(Reminder).where(Reminder.owner == owner, Reminder.status == HELD)
                               .order_by(Reminder.due_at, Reminder.id))
        return [_record(row) for row in rows]


def delivered_with_reply(db: Database, reminders: list[ReminderRecord], now: datetime) -> None:
    """Held reminders that went out inside a reply: sent, or a repeat's next time."""
    from common.ptdates import next_occurrence
    from zoneinfo import ZoneInfo

    for reminder in reminders:
        next_due = None
        if reminder.repeat:
            zone = ZoneInfo(reminder.time_zone)
            step = 7 if reminder.repeat == "weekly" else 1
            next_due = next_occurrence(reminder.local_time, zone, now, step, reminder.due_at.astimezone(zone).date())
        with db.transaction() as conn:
            conn.execute(update(_REMINDERS).where(_REMINDERS.c.id == reminder.id, _REMINDERS.c.status == HELD)
                         .values(status=ACTIVE if next_due else SENT,
                                 due_at=(next_due or reminder.due_at).astimezone(timezone.utc),
                                 sent_at=utcnow(), updated_at=utcnow()))


def hold_after_window_error(db: Database, reminder_id: int) -> None:
    """Twilio refused a sent reminder with 63016 (outside the window): hold it for the next message."""
    with db.transaction() as conn:
        conn.execute(update(_REMINDERS).where(_REMINDERS.c.id == reminder_id,
                                              _REMINDERS.c.status.in_((SENT, ACTIVE)))
                     .values(status=HELD, updated_at=utcnow()))


def item_done(db: Database, todo_item_id: int) -> bool:
    """Whether the to-do item a reminder is about is ticked (or gone)."""
    with db.session() as session:
        done = session.scalar(select(TodoItem.done).where(TodoItem.id == todo_item_id))
        return done is None or bool(done)


def last_inbound(db: Database, owner: str) -> datetime | None:
    """When the owner's latest message arrived (WhatsApp's 24-hour window counts from it)."""
    with db.session() as session:
        latest = session.scalar(select(func.max(InboundMessage.received_at)).where(InboundMessage.sender == owner))
        return as_utc(latest) if latest is not None else None


def counts(db: Database) -> dict[str, int]:
    """Reminders by status (the dashboard)."""
    with db.session() as session:
        return dict(session.execute(select(Reminder.status, func.count()).group_by(Reminder.status)).all())


def delete_of(db: Database, owner: str) -> int:
    """LGPD erasure: every reminder of the owner; returns how many."""
    with db.session() as session:
        return session.execute(delete(Reminder).where(Reminder.owner == owner)).rowcount or 0
