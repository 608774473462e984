"""The engine's job for one sender: answer their waiting ledger rows, oldest first, then stop.

procrastinate runs at most one job per sender at a time (`lock=<sender>`, storage/turn_jobs.py),
on whichever worker machine fetches it; everything the job needs is in the database. So rows of
this sender that are `processing` when it starts were left by a worker that died mid-turn: they
are answered again. Rows left `sending` are not (their reply may have gone out): they are failed
with ledger.INTERRUPTED_WHILE_SENDING, unless this machine's after-send journal owes them their
mark. Photos sent together become one turn, as in the in-process dispatcher: a photo waits for a
quiet window (no new photo of the sender for `burst_window` seconds, at most MAX_BURST_WAIT) and
takes the photos that follow it.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from storage import ledger, turn_jobs
from storage.db import Database
from storage.ledger import SenderRow

from .after_send import AfterSendJournal
from .attempts import RUNNING_JOB, TurnRunner
from .dispatcher import MAX_BURST_WAIT
from .gate import CpuGate

log = logging.getLogger(__name__)
BURST_POLL = 0.5  # how often a photo's quiet window looks for the sender's next photo
# A sender with a backlog holds one of a worker's slots for at most this many turns in a row; the
# engine's chores never wait behind it (they are fetched first, CHORE_PRIORITY in worker/engine.py).
MAX_TURNS_PER_JOB = 10


class SenderTurns:
    """Runs one sender's waiting turns through the shared TurnRunner."""

    def __init__(self, db: Database, runner: TurnRunner, gate: CpuGate, burst_window: float,
                 journal: AfterSendJournal | None = None, stopping: Callable[[], bool] = lambda: False) -> None:
        self.db, self.runner, self.gate, self.journal = db, runner, gate, journal
        self.burst_window, self.stopping = burst_window, stopping

    def answer(self, sender: str, job_id: int | None = None) -> int:
        """Answer the sender's waiting turns in order, the ones that arrive meanwhile included, up to
        MAX_TURNS_PER_JOB; returns how many ran. Taking the next turn here, rather than in a job of its
        own, matters: procrastinate wakes workers when a job is deferred, not when a sender's lock is
        released, so a next job deferred while this one holds the lock would wait for the engine's
        poll. Past the cap, or stopping (SIGTERM), the rest go to the sender's next job, on any worker.
        With the engine's `job_id`, each next turn is read only while that job still runs: a worker that
        was silent (paused, cut off) until its job was taken over stops here instead of answering the
        sender beside the worker that took it, and a turn of it under way sends nothing (RUNNING_JOB)."""
        running = RUNNING_JOB.set(job_id)
        try:
            return self._answer(sender, job_id)
        finally:
            RUNNING_JOB.reset(running)

    def _answer(self, sender: str, job_id: int | None) -> int:
        turns, tried = 0, set()
        while True:
            rows = self._waiting(sender, job_id)
            if not rows:
                return turns
            if turns >= MAX_TURNS_PER_JOB or self.stopping():
                turn_jobs.defer_turn(self.db, sender)
                return turns
            batch = self._batch(sender, rows)
            if batch[0] in tried:  # its attempts could not even record it (the database refused the marks)
                log.warning("a turn of %s could not be recorded; the sweep will try it again", sender[-4:])
                return turns
            tried.update(batch)
            self.runner.run(batch)
            turns += 1

    def _waiting(self, sender: str, job_id: int | None = None) -> list[SenderRow]:
        """The sender's rows to answer, after failing those a dead worker left mid-send."""
        rows = ledger.sender_waiting(self.db, sender, job_id)
        if any(row.status == ledger.SENDING for row in rows):
            owed = self.journal.owed_ids() if self.journal is not None and self.journal.pending else set()
            failed = ledger.fail_interrupted_sends(self.db, sender, keep=owed)
            if failed:
                log.error("%d message(s) of %s were left mid-send by a worker that stopped: failed, not sent again",
                          failed, sender[-4:])
        return [row for row in rows if row.status != ledger.SENDING]

    def _batch(self, sender: str, rows: list[SenderRow]) -> list[int]:
        """The next turn's ledger ids: one text, or a photo and the photos that follow it once the
        sender has been quiet for the burst window."""
        if not rows[0].has_media:
            return [rows[0].id]
        started = last_change = time.monotonic()
        photos = _leading_media(rows)
        while not self.stopping():
            remaining = min(last_change + self.burst_window, started + MAX_BURST_WAIT) - time.monotonic()
            if remaining <= 0:
                break
            self.gate.sleep(min(remaining, BURST_POLL))
            now_photos = _leading_media([row for row in ledger.sender_waiting(self.db, sender)
                                         if row.status != ledger.SENDING])
            if now_photos != photos:
                photos, last_change = now_photos, time.monotonic()
        return photos or [rows[0].id]


def _leading_media(rows: list[SenderRow]) -> list[int]:
    """The ids of the media rows at the head of `rows`, up to the first text."""
    ids = []
    for row in rows:
        if not row.has_media:
            break
        ids.append(row.id)
    return ids
