"""Firing due reminders: the chore that makes the assistant write first, within WhatsApp's rules.

`fire_due(services, now)` takes due reminders one at a time (storage/reminders.claim_next: a row
lock, SKIP LOCKED on PostgreSQL) and sends each at most TWILIO_SEND_RATE per second. It runs as
the engine's periodic `fire_reminders` job on PostgreSQL (one at a time cluster-wide: the job's
lock) and from the runtime's chores on SQLite. `now` is the schedule's clock (tests pass their
own); the pacing uses the real one.

Per reminder: the phone opted out or blocked us -> skipped; its to-do item is done -> dropped;
overdue by more than REMINDER_GRACE_MINUTES -> sent marked "atrasado", or dropped
(REMINDER_LATE=drop); within 24 h of the user's last message -> free text; outside it -> the
REMINDER_TEMPLATE_SID template through the Content API, or, with none, held for the user's next
message. A repeat is then moved to its next time.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable
from zoneinfo import ZoneInfo

from channels.twilio_outbound import SendFailed
from common.clock import utcnow
from common.errors import short_reason
from common.ptdates import next_occurrence
from storage import deliveries, reminders
from storage.deliveries import SentPart
from storage.reminders import ReminderRecord
from tools.reminders import reminder_text

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger(__name__)
WINDOW = reminders.WINDOW
INTERRUPTED_AFTER = timedelta(seconds=60)  # a row `sending` this long belongs to a process that died
MAX_TRIES = 5  # sends Twilio refused for a passing reason before the reminder is failed
RETRY_AFTER = timedelta(minutes=1)


@dataclass
class Fired:
    """What one run did, by outcome."""

    sent: int = 0
    templated: int = 0
    held: int = 0
    skipped: int = 0
    dropped: int = 0
    failed: int = 0
    retried: int = 0
    sids: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.sent + self.templated + self.held + self.skipped + self.dropped + self.failed + self.retried


def next_due(reminder: ReminderRecord, now: datetime) -> datetime | None:
    """A repeat's next time after `now` (None for a one-off)."""
    if not reminder.repeat:
        return None
    zone = ZoneInfo(reminder.time_zone)
    step = 7 if reminder.repeat == "weekly" else 1
    return next_occurrence(reminder.local_time, zone, now, step, reminder.due_at.astimezone(zone).date())


class Pacer:
    """At most `rate` sends per second (Twilio's per-number limit), on the real clock."""

    def __init__(self, rate: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval, self.sleep, self.next_at = 1.0 / rate, sleep, time.monotonic()

    def wait(self) -> None:
        """Block until the next send is allowed."""
        pause = self.next_at - time.monotonic()
        if pause > 0:
            self.sleep(pause)
        self.next_at = max(self.next_at, time.monotonic()) + self.interval


def fail_interrupted(services: "Services", now: datetime) -> int:
    """Rows a dead process left `sending`: failed, never sent again (a repeat keeps its next times)."""
    stale = reminders.interrupted(services.db, INTERRUPTED_AFTER)
    for reminder in stale:
        log.error("reminder %d of %s was interrupted while sending: not sent again", reminder.id, reminder.owner[-4:])
        reminders.finish(services.db, reminder.id, reminders.FAILED, next_due(reminder, now), reminders.INTERRUPTED)
    return len(stale)


def fire_due(services: "Services", now: datetime | None = None, budget: int | None = None,
             pacer: Pacer | None = None) -> Fired:
    """Send the reminders due by `now` (default: the clock), at most `budget` of them (default: one
    second's worth per call on SQLite's chores, the chore's period on PostgreSQL). Never raises
    for one reminder's trouble: the next ones go on."""
    config = services.config
    now = now or utcnow()
    budget = budget if budget is not None else max(1, int(config.twilio_send_rate))
    pacer = pacer or Pacer(config.twilio_send_rate)
    fired = Fired()
    fail_interrupted(services, now)
    for _ in range(budget):
        reminder = reminders.claim_next(services.db, now)
        if reminder is None:
            break
        try:
            _fire_one(services, reminder, now, pacer, fired)
        except Exception as exc:  # the database or a bug: back to active, tried again next run
            log.exception("reminder %d could not be fired", reminder.id)
            reminders.finish(services.db, reminder.id, reminders.ACTIVE, reminder.due_at, short_reason(exc))
            fired.retried += 1
    if fired.total:
        log.info("reminders: %d sent, %d as template, %d held, %d skipped, %d dropped, %d failed, %d to retry",
                 fired.sent, fired.templated, fired.held, fired.skipped, fired.dropped, fired.failed, fired.retried)
    return fired


def _fire_one(services: "Services", reminder: ReminderRecord, now: datetime, pacer: Pacer, fired: Fired) -> None:
    config, db = services.config, services.db
    following = next_due(reminder, now)
    if not deliveries.prefs_of(db, reminder.owner).proactive_allowed:
        fired.skipped += 1
        return reminders.finish(db, reminder.id, reminders.SKIPPED, following, "opted out or blocked")
    if reminder.todo_item_id is not None and reminders.item_done(db, reminder.todo_item_id):
        fired.dropped += 1
        return reminders.finish(db, reminder.id, reminders.DROPPED, None, "its to-do item is done")
    late = now - reminder.due_at > timedelta(minutes=config.reminder_grace_minutes)
    if late and config.reminder_late == "drop":
        fired.dropped += 1
        return reminders.finish(db, reminder.id, reminders.DROPPED, following, "overdue past the grace")
    text = reminder_text(reminder, late)
    last = reminders.last_inbound(db, reminder.owner)
    in_window = last is not None and now - last < WINDOW
    template = config.reminder_template_sid
    if not in_window and not template:
        fired.held += 1
        return reminders.finish(db, reminder.id, reminders.HELD, None, "outside the 24-hour window, no template")
    pacer.wait()
    try:
        if in_window:
            sids = services.sender.send_text(reminder.owner, text)
        else:
            when = reminder.due_at.astimezone(ZoneInfo(reminder.time_zone))
            sids = [services.sender.send_template(reminder.owner, template,
                                                  {"1": reminder.text, "2": f"{when:%d/%m %H:%M}"})]
    except SendFailed as exc:
        return _refused(services, reminder, exc, now, following, fired)
    if services.sender.can_deliver:
        deliveries.record_sent(db, [SentPart(sid, reminder.owner, "reminder", reminder.id) for sid in sids])
    services.chatlog.append(reminder.owner, text, "out", sids[0] if sids else None)
    reminders.finish(db, reminder.id, reminders.SENT, following)
    fired.sids.extend(sids)
    if in_window:
        fired.sent += 1
    else:
        fired.templated += 1


def _refused(services: "Services", reminder: ReminderRecord, exc: SendFailed, now: datetime,
             following: datetime | None, fired: Fired) -> None:
    """Twilio refused a reminder: blocked (21610), outside the window (63016: held), or try again later."""
    db = services.db
    if exc.code == deliveries.BLOCKED:
        deliveries.set_blocked(db, reminder.owner)
        fired.skipped += 1
        return reminders.finish(db, reminder.id, reminders.SKIPPED, following, "21610: the user blocked us")
    if exc.code == deliveries.OUTSIDE_WINDOW:
        fired.held += 1
        return reminders.finish(db, reminder.id, reminders.HELD, None, "63016: outside the 24-hour window")
    if reminder.attempts >= MAX_TRIES:
        fired.failed += 1
        return reminders.finish(db, reminder.id, reminders.FAILED, following, str(exc))
    fired.retried += 1
    reminders.finish(db, reminder.id, reminders.ACTIVE, now + RETRY_AFTER, str(exc))
