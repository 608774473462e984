"""The rows that ask the turn engine (procrastinate, on PostgreSQL) to answer a sender.

A ledger row and its sender's job are written by one statement: a row never exists without a job
to answer it, and a job never exists for a row that rolled back (a duplicate MessageSid). The job
is procrastinate's own row in its own table (its schema comes with migration 0004), inserted as
its `procrastinate_defer_jobs_v1` does, so its triggers wake the workers (LISTEN/NOTIFY) and log
the event. Every job of a sender carries `lock=<sender>`: procrastinate runs no two at once, in
deferral order. `queueing_lock=<sender>` keeps at most one waiting: a new message while one waits
adds nothing, because the job takes all of the sender's queued rows when it runs. While a job runs,
a new message adds a waiting job, which runs next and finds the row (or nothing, if the running job
took it in a burst). This module holds the SQL; worker/engine.py registers the task itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, text

from common.clock import utcnow

from .db import Database
from .models import InboundMessage

TURN_QUEUE = "turns"
TURN_TASK = "answer_sender"
CHORES_QUEUE = "chores"
_LEDGER = InboundMessage.__table__
_COLUMNS = ("message_sid", "sender", "body", "media", "profile_name", "status", "attempts", "error",
            "received_at", "updated_at")
_JOB_FOR_ROW = """
    INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args)
    SELECT :queue, :task, new_row.sender, new_row.sender, jsonb_build_object('sender', new_row.sender)
    FROM new_row WHERE new_row.status = 'queued'
    ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING
"""
INSERT_ROW_WITH_JOB = text(
    f"WITH new_row AS (INSERT INTO inbound_messages ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(':' + name for name in _COLUMNS)}) RETURNING id, sender, status), "
    f"job AS ({_JOB_FOR_ROW}) SELECT id FROM new_row"
).bindparams(*(bindparam(name, type_=_LEDGER.c[name].type) for name in _COLUMNS),
             bindparam("queue", TURN_QUEUE), bindparam("task", TURN_TASK))
_DEFER = text("""
    INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args)
    VALUES (:queue, :task, :sender, :sender, jsonb_build_object('sender', CAST(:sender AS text)))
    ON CONFLICT (queueing_lock) WHERE status = 'todo' DO NOTHING
""").bindparams(bindparam("queue", TURN_QUEUE), bindparam("task", TURN_TASK))
_ORPHANS = text("""
    SELECT DISTINCT m.sender FROM inbound_messages AS m
    WHERE m.status IN ('queued', 'processing') AND m.updated_at < :before
      AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs AS j  -- each branch on one of procrastinate's partial indexes
                      WHERE j.task_name = :task AND ((j.status = 'todo' AND j.queueing_lock = m.sender)
                                                     OR (j.status = 'doing' AND j.lock = m.sender)))
    LIMIT 1000
""").bindparams(bindparam("task", TURN_TASK))
_HURRY = text("""
    UPDATE procrastinate_jobs SET priority = GREATEST(priority, :priority)
    WHERE status = 'todo' AND queueing_lock = :sender AND task_name = :task
""").bindparams(bindparam("task", TURN_TASK))
_JOB_COUNTS = text("SELECT queue_name, status::text, count(*) FROM procrastinate_jobs GROUP BY queue_name, status")


def insert_row_with_job(db: Database, row: dict[str, Any]) -> int:
    """Insert a ledger row (the columns of `_COLUMNS`) and, when it is queued, its sender's job, in one
    durable statement; returns the row's id. A duplicate MessageSid raises IntegrityError, and then
    neither was written."""
    now = utcnow()
    values = {"received_at": now, **row, "updated_at": now}
    with db.durable_statement() as conn:
        return conn.execute(INSERT_ROW_WITH_JOB, values).scalar_one()


def defer_turn(db: Database, sender: str) -> None:
    """Ask the engine to answer `sender` (nothing new when a job of theirs already waits)."""
    with db.statement() as conn:
        conn.execute(_DEFER, {"sender": sender})


def hurry_waiting_job(db: Database, sender: str, priority: int) -> int:
    """Raise the sender's waiting job to at least `priority`, so workers fetch it before the backlog
    (a failover whose sender already had a next job waiting); returns the jobs changed (0 or 1)."""
    with db.statement() as conn:
        return conn.execute(_HURRY, {"sender": sender, "priority": priority}).rowcount


def senders_without_job(db: Database, idle_for: timedelta) -> list[str]:
    """Senders with rows waiting, untouched for `idle_for`, and no job waiting or running for them:
    rows whose job failed for good or was cancelled, or left by a worker from before the engine."""
    with db.statement() as conn:
        return list(conn.execute(_ORPHANS, {"before": utcnow() - idle_for}).scalars())


@dataclass(frozen=True)
class JobCounts:
    """The engine's jobs by queue and status (todo, doing, failed, ...), for /readyz and the dashboard."""

    by_queue: dict[str, dict[str, int]]

    def total(self, status: str) -> int:
        """Jobs in `status` over every queue."""
        return sum(counts.get(status, 0) for counts in self.by_queue.values())


def job_counts(db: Database) -> JobCounts:
    """How many of the engine's jobs are in each status, per queue (finished jobs are deleted)."""
    counts: dict[str, dict[str, int]] = {}
    with db.statement() as conn:
        for queue, status, count in conn.execute(_JOB_COUNTS):
            counts.setdefault(queue, {})[status] = count
    return JobCounts(counts)

