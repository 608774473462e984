"""Per-sender ordered processing on a thread pool.

Messages of one sender run strictly one at a time in arrival (ledger id) order; different senders
run in parallel. A sender's queue is drained by one pool task at a time, so no locks are held
while a turn runs. Photos sent together arrive as separate webhooks a second or two apart, so a
turn that carries media waits for a quiet window and takes the sender's following media messages
with it; a lone text is never held back.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from common.errors import short_reason
from storage import ledger
from storage.db import Database
from storage.ledger import LedgerEntry

from .after_send import AfterSendJournal
from .gate import CpuGate

log = logging.getLogger(__name__)

# WhatsApp delivers each photo of an album as its own webhook, typically 0.5-2 s apart. Three
# seconds of quiet after the latest photo covers that spread with margin while adding at most a few
# seconds to a photo turn (texts are not held at all). MAX_BURST_WAIT caps a never-ending stream.
MAX_BURST_WAIT = 12.0


class PoisonMessage(RuntimeError):
    """A message that keeps failing, even across restarts: it is failed for good."""


class DeliveredButUnrecorded(RuntimeError):
    """The reply reached the user, but the ledger could not be marked done: retrying would send it
    again, so the turn is not retried (and no apology follows the answer)."""


class Dispatcher:
    """Feeds ledger entries to `process(entries)` in per-sender order, retrying failures a bounded number of times."""

    def __init__(self, db: Database, process: Callable[[list[LedgerEntry]], None],
                 give_up: Callable[[list[LedgerEntry], str], None], threads: int = 8,
                 burst_window: float = 3.0, max_attempts: int = 3, retry_delay: float = 1.0,
                 gate: CpuGate | None = None, journal: AfterSendJournal | None = None) -> None:
        self.db, self.process, self.give_up, self.journal = db, process, give_up, journal
        self.gate = gate or CpuGate(threads)
        self.burst_window, self.max_attempts, self.retry_delay = burst_window, max_attempts, retry_delay
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="turn")
        self._lock = threading.Condition()
        self._queues: dict[str, deque[tuple[int, bool]]] = {}
        self._active: set[str] = set()
        self._in_flight: set[int] = set()
        self._last_media_at: dict[str, float] = {}
        self._stopped = False

    def recover(self, fail_with: str | None = None) -> int:
        """Queue every ledger row left queued or processing (by a crash); returns how many. Rows
        whose reply already went out (the after-send journal) are recorded, never answered again.
        With `fail_with` (a deployment that has no way left to reach the user) they are marked
        failed with that reason instead, where the dashboard shows them."""
        owed: set[int] = set()
        if self.journal is not None and self.journal.pending:
            self.journal.settle()
            owed = self.journal.owed_ids()
        rows = [row for row in ledger.list_waiting(self.db, with_processing=True) if row.id not in owed]
        if rows and fail_with is not None:
            ledger.mark_failed(self.db, [row.id for row in rows], fail_with)
            log.error("marked %d unfinished message(s) failed: %s", len(rows), fail_with)
            return len(rows)
        for row in rows:
            self.enqueue(row.id, row.sender, row.has_media)
        if rows:
            log.info("recovered %d unfinished message(s) from the ledger", len(rows))
        return len(rows)

    def enqueue(self, entry_id: int, sender: str, has_media: bool = False) -> bool:
        """Schedule a ledger row; its sender's earlier rows always run first. A row already queued
        or running here is ignored (the ledger feed may find it twice); returns whether it was taken."""
        with self._lock:
            if self._stopped or entry_id in self._in_flight:
                return False
            self._in_flight.add(entry_id)
            queue = self._queues.setdefault(sender, deque())
            queue.append((entry_id, has_media))
            if has_media:
                self._last_media_at[sender] = time.monotonic()
            if sender not in self._active:
                self._active.add(sender)
                self._pool.submit(self._drain, sender)
            self._lock.notify_all()
            return True

    def in_flight(self) -> int:
        """How many ledger rows are queued or running here."""
        with self._lock:
            return len(self._in_flight)

    def _next_batch(self, sender: str) -> list[int] | None:
        """The next turn's ledger ids: one text, or a media message plus the media that follow it."""
        with self._lock:
            queue = self._queues.get(sender)
            if not queue:
                self._queues.pop(sender, None)
                self._active.discard(sender)
                self._lock.notify_all()
                return None
            first_id, has_media = queue.popleft()
            if not has_media:
                return [first_id]
            started = time.monotonic()
            while not self._stopped:
                quiet_until = self._last_media_at.get(sender, 0) + self.burst_window
                remaining = min(quiet_until, started + MAX_BURST_WAIT) - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            batch = [first_id]
            while queue and queue[0][1]:
                batch.append(queue.popleft()[0])
            return batch

    def _drain(self, sender: str) -> None:
        while True:
            batch = self._next_batch(sender)
            if batch is None:
                return
            try:
                self._run_batch(batch)
            finally:
                with self._lock:
                    self._in_flight.difference_update(batch)

    def _run_batch(self, batch: list[int]) -> None:
        """Claim and process one turn; retry on failure, then give up visibly. Never raises."""
        with self.gate.held():
            self._attempt_batch(batch)

    def _attempt_batch(self, batch: list[int]) -> None:
        for attempt in range(1, self.max_attempts + 1):
            entries: list[LedgerEntry] = []
            try:
                entries = ledger.claim(self.db, batch)
                if not entries:
                    return
                if max(e.attempts for e in entries) > self.max_attempts * 2:
                    raise PoisonMessage(f"gave up after {entries[0].attempts} attempts across restarts")
                self.process(entries)
            except DeliveredButUnrecorded as exc:
                log.error("%s: they stay 'processing' until the database answers; they are not answered again",
                          exc)
                return
            except PoisonMessage as exc:
                self._safely(ledger.mark_failed, self.db, batch, str(exc))
                self._safely(self.give_up, entries, str(exc))
                return
            except Exception as exc:
                reason = short_reason(exc, 500)
                log.exception("turn failed (attempt %d of %d)", attempt, self.max_attempts)
                if attempt < self.max_attempts and not self._stopped:
                    self._safely(ledger.requeue, self.db, batch, reason)
                    self.gate.sleep(self.retry_delay * attempt)
                    continue
                self._safely(ledger.mark_failed, self.db, batch, reason)
                self._safely(self.give_up, entries, reason)
            else:
                if self.journal is not None and self.journal.pending:
                    self.journal.settle()  # the stores answered this turn: pay what earlier ones owe
            return

    @staticmethod
    def _safely(func: Callable, *args) -> None:
        try:
            func(*args)
        except Exception:
            log.exception("could not record a failed turn (%s)", getattr(func, "__name__", func))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no sender has queued or running work (tests, console chat); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def stop(self, wait: bool = True) -> None:
        """Stop taking work; unfinished rows stay in the ledger for the next start."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._pool.shutdown(wait=wait, cancel_futures=True)
